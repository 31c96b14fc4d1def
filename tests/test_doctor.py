"""The config doctor: settings that defeat the recipe, named with their fixes."""

import json

import pytest


def test_defaults_that_defeat_the_recipe_are_named(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # one finding a line
    pytester.makepyfile("""
        from concurrent.futures import ThreadPoolExecutor
        import anthropic, httpx, httpx2

        ASK = dict(model="claude-test", max_tokens=5,
                   messages=[{"role": "user", "content": "hi"}])

        def test_sdk_defaults(ttfb):
            ttfb.watch(anthropic.Anthropic(api_key="placeholder")).messages.create(**ASK)

        def test_small_pool(ttfb, ttfb_mock):
            ttfb_mock.get("https://api.test/slow", latency=200).respond(200)
            limits = httpx.Limits(max_connections=2, keepalive_expiry=60)
            with ttfb.watch(httpx.Client(limits=limits, http2=True)) as client:
                with ThreadPoolExecutor(5) as threads:
                    list(threads.map(lambda _: client.get("https://api.test/slow"), range(5)))

        def test_the_recipe(ttfb_client, ttfb_mock):
            ttfb_mock.get("https://api.test/fast").respond(200)
            ttfb_client.get("https://api.test/fast")
    """)
    result = pytester.runpytest("--ttfb-json=report.json")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            "*- pytest-ttfb doctor: settings that defeat the recipe -*",
            # the SDK's default client: httpx2 (anthropic 1.x and later) or httpx (0.x)
            "httpx* client with http2=False, max_connections=1000, keepalive_expiry=5 s "
            "(1 request(s) in 1 test(s)):",
            "  - keep-alive expiry of 5 s (httpx's default, and the Anthropic SDK's)*",
            "    fix: Limits(keepalive_expiry=60)",
            "  - HTTP/2 off*",
            # the SDK's own stack's package; [[] and []] are fnmatch's literal brackets
            "    fix: httpx*.Client(http2=True), with the h2 package installed "
            "(pip install 'httpx*[[]http2[]]')",
            "httpx client with http2=True, max_connections=2, keepalive_expiry=60 s *:",
            "  - max_connections=2 is below the 5 concurrent HTTP/1.1 requests seen in "
            "*test_small_pool: the rest waited for the pool",
            "    fix: Limits(max_connections=5), or http2=True",
        ]
    )
    # The recipe (ttfb_client: 20 connections, keep-alive 60 s, HTTP/2) has nothing to fix.
    assert "max_connections=20" not in result.stdout.str()
    doctor = json.loads((pytester.path / "report.json").read_text())["doctor"]
    assert [entry["client"]["max_connections"] for entry in doctor] == [1000, 2]
    assert len(doctor[0]["findings"]) == 2


def test_nothing_to_say_when_the_recipe_is_used(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        def test_recipe(anthropic_client):
            anthropic_client.messages.create(
                model="claude-test", max_tokens=5,
                messages=[{"role": "user", "content": "hi"}])
    """)
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    assert "doctor" not in result.stdout.str()
