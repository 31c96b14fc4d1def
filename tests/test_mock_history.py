"""respx's call history under ttfb_mock: the last N calls kept, every call counted."""

import pytest


def test_history_keeps_the_last_calls_and_counts_them_all(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nttfb_mock_history = 5\n")
    pytester.makepyfile("""
        def test_many(ttfb_mock, ttfb_httpx_client, ttfb):
            route = ttfb_mock.get("https://api.test/n").respond(200)
            for n in range(12):
                ttfb_httpx_client.get(f"https://api.test/n?i={n}")
            assert route.call_count == 12 and route.called
            assert len(route.calls) == 5
            assert [str(c.request.url)[-2:] for c in route.calls] == [
                "=7", "=8", "=9", "10", "11"]
            assert route.calls.last.request.url.params["i"] == "11"
            assert ttfb_mock.calls.call_count == 12 and len(ttfb_mock.calls) == 5
            assert len(ttfb.requests) == 12  # pytest-ttfb's own records are all kept
    """)
    pytester.runpytest().assert_outcomes(passed=1)


def test_default_history_is_a_thousand_and_zero_keeps_none(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        def test_default(ttfb_mock, ttfb_httpx_client):
            route = ttfb_mock.get("https://api.test/n").respond(200)
            for _ in range(1003):
                ttfb_httpx_client.get("https://api.test/n")
            assert (route.call_count, len(route.calls)) == (1003, 1000)
    """)
    pytester.runpytest().assert_outcomes(passed=1)
    pytester.makeini("[pytest]\nttfb_mock_history = 0\n")
    pytester.makepyfile("""
        def test_none(ttfb_mock, ttfb_httpx_client):
            route = ttfb_mock.get("https://api.test/n").respond(200)
            ttfb_httpx_client.get("https://api.test/n")
            assert (route.call_count, len(route.calls), route.called) == (1, 0, True)
    """)
    pytester.runpytest().assert_outcomes(passed=1)


def test_a_bad_history_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nttfb_mock_history = -1\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: ini key ttfb_mock_history: expected a whole number in*"])
