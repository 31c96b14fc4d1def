"""Modes: mock (default, no socket), live (the network; a key or a skip), and the
options that choose them."""

import pytest

from pytest_ttfb.modes.server import LocalServer

NO_SOCKETS = """
import socket
import pytest

@pytest.fixture(scope="session")
def anyio_backend():
    return "asyncio"

@pytest.fixture(scope="session", autouse=True)
async def session_loop(anyio_backend):  # one event loop for the session-scoped clients
    yield

@pytest.fixture(autouse=True)
def forbid_sockets(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("mock mode opened a socket")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
"""

ASK = 'model="claude-test", max_tokens=5, messages=[{"role": "user", "content": "hi"}]'


def test_mock_mode_answers_every_client_without_a_socket(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    pytester.makeconftest(NO_SOCKETS)
    pytester.makepyfile(f"""
        import pytest

        def test_sdk(anthropic_client, ttfb):
            assert anthropic_client.messages.create({ASK}).content[0].text
            with anthropic_client.messages.stream({ASK}) as stream:
                assert "".join(stream.text_stream) == "Hello from pytest-ttfb."
            assert [r.status for r in ttfb.requests] == [200, 200]
            assert all(r.connection_id is None for r in ttfb.requests)

        @pytest.mark.anyio
        async def test_async_sdk(async_anthropic_client, ttfb):
            message = await async_anthropic_client.messages.create({ASK})
            assert message.content[0].text == "Hello from pytest-ttfb."
            assert len(ttfb.requests) == 1

        def test_httpx_client(ttfb_httpx_client, ttfb_mock, ttfb):
            ttfb_mock.get("https://api.test/").respond(204)
            assert ttfb_httpx_client.get("https://api.test/").status_code == 204
            assert ttfb.requests[0].status == 204

        @pytest.mark.anyio
        async def test_async_client(ttfb_async_client, ttfb_mock, ttfb):
            ttfb_mock.get("https://api.test/").respond(200, json={{"a": 1}})
            assert (await ttfb_async_client.get("https://api.test/")).json() == {{"a": 1}}
            assert ttfb.requests[0].ttfb_ms is not None
    """)
    pytester.runpytest().assert_outcomes(passed=4)


def test_mock_mode_leaves_tests_that_do_not_use_the_plugin_alone(
    pytester: pytest.Pytester, local_server: LocalServer
) -> None:
    pytester.makepyfile("""
        import os, ssl, httpx2

        def test_plain_integration_test():
            context = ssl.create_default_context(cafile=os.environ["TTFB_TEST_CA"])
            with httpx2.Client(verify=context) as client:
                assert client.get(os.environ["TTFB_TEST_URL"] + "/ok").json() == {"ok": True}
    """)
    pytester.runpytest().assert_outcomes(passed=1)
    assert local_server.requests == 1


def test_unmatched_request_fails_the_test_naming_the_url(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import httpx2
        import pytest

        SECRET = "s3" + "cr3t"  # so the secret itself is in no source line pytest prints

        def test_unknown_host(ttfb_client):
            ttfb_client.get(f"https://user:{SECRET}@unknown.test/v2/thing?token={SECRET}")

        @pytest.mark.anyio
        async def test_async_client(ttfb_async_client):
            await ttfb_async_client.post("https://unknown.test/async")

        def test_swallowed_by_the_code_under_test(ttfb_client):
            try:
                ttfb_client.get("https://unknown.test/other")
            except Exception:
                pass  # the code under test hides the error; the plugin does not
    """)
    result = pytester.runpytest()
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(
        [
            "pytest-ttfb: no ttfb_mock route matches GET "
            "https://unknown.test/v2/thing?token=***. Declare one on the ttfb_mock fixture*",
            "pytest-ttfb: no ttfb_mock route matches POST https://unknown.test/async.*",
            "*pytest-ttfb: 1 request(s) matched no ttfb_mock route:",
            "*GET https://unknown.test/other",
        ]
    )
    assert "s3cr3t" not in result.stdout.str()


def test_live_mode_skips_sdk_tests_without_a_key(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    pytester.makepyfile(f"""
        def test_one(anthropic_client):
            anthropic_client.messages.create({ASK})

        def test_two(async_anthropic_client):
            pass
    """)
    result = pytester.runpytest("--ttfb-live", "-rs")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(["SKIPPED *ANTHROPIC_API_KEY is not set: live mode*"])


@pytest.mark.parametrize("how", ["--ttfb-base-url", "ANTHROPIC_BASE_URL", "ini"])
def test_live_mode_against_a_local_server_through_the_base_url(
    pytester: pytest.Pytester, local_server: LocalServer, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-api03-SECRETSECRET")
    monkeypatch.setenv("SSL_CERT_FILE", local_server.ca_file)  # the pooled client trusts it
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    args = ["--ttfb-mode=live"]
    if how == "--ttfb-base-url":
        args.append(f"--ttfb-base-url={local_server.url}")
    elif how == "ANTHROPIC_BASE_URL":
        monkeypatch.setenv("ANTHROPIC_BASE_URL", local_server.url)
    else:
        pytester.makeini(f"[pytest]\nttfb_base_url = {local_server.url}\n")
    pytester.makepyfile(f"""
        import pytest

        @pytest.mark.max_new_connections(1)
        def test_two_calls_one_connection(anthropic_client, ttfb):
            for _ in range(2):
                assert anthropic_client.messages.create({ASK}).content[0].text
            assert [r.url for r in ttfb.requests] == ["{local_server.url}/v1/messages"] * 2
            assert [r.http_version for r in ttfb.requests] == ["HTTP/2"] * 2
            assert [r.reused for r in ttfb.requests] == [False, True]
    """)
    result = pytester.runpytest(*args)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [f"base URL {local_server.url}: connect p50 * ms, max * ms over 1 new connection(s)"]
    )
    assert len(local_server.connections) == 1
    assert "SECRETSECRET" not in result.stdout.str() + result.stderr.str()


def test_pooled_clients_follow_the_ini_settings(pytester: pytest.Pytester) -> None:
    pytester.makeini("""
        [pytest]
        ttfb_max_connections = 7
        ttfb_keepalive_expiry = 12.5
        ttfb_http2 = false
        ttfb_read_timeout = 33
    """)
    pytester.makepyfile("""
        def test_settings(ttfb_client, ttfb_httpx_client, ttfb_async_client, anthropic_client):
            for client in (ttfb_client, ttfb_httpx_client, ttfb_async_client):
                pool = client._transport.inner._pool
                assert pool._max_connections == 7
                assert pool._max_keepalive_connections == 7  # capped by the pool
                assert pool._keepalive_expiry == 12.5
                assert pool._http2 is False
                assert client.timeout.read == 33 and client.timeout.connect == 5
            import anthropic  # 0.x runs on httpx, 1.0 and later on httpx2
            on_httpx = anthropic.__version__.startswith("0.")
            assert anthropic_client._client is (ttfb_httpx_client if on_httpx else ttfb_client)
    """)
    pytester.runpytest().assert_outcomes(passed=1)


def test_pooled_clients_default_to_the_recipe(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        def test_recipe(ttfb_client):
            pool = ttfb_client._transport.inner._pool
            assert (pool._max_connections, pool._max_keepalive_connections,
                    pool._keepalive_expiry, pool._http2) == (20, 20, 60, True)
            t = ttfb_client.timeout
            assert (t.connect, t.read, t.write, t.pool) == (5, 120, 10, 10)
    """)
    pytester.runpytest().assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("args", "ini", "message"),
    [
        (["--ttfb-mode=fast"], "", "--ttfb-mode: expected one of mock, emulate, live, got 'fast'"),
        (["--ttfb-rtt=soon"], "", "--ttfb-rtt: expected milliseconds in [0, 10000], got 'soon'"),
        (
            ["--ttfb-budget-scale=0"],
            "",
            "--ttfb-budget-scale: expected a factor in (0, 1000], got '0'",
        ),
        (
            ["--ttfb-live", "--ttfb-mode=mock"],
            "",
            "--ttfb-live asks for live mode but --ttfb-mode asks for mock: choose one",
        ),
        (
            [],
            "ttfb_max_connections = many",
            "ini key ttfb_max_connections: expected a whole number in [1, 1000000], got 'many'",
        ),
        ([], "ttfb_http2 = perhaps", "ini key ttfb_http2: expected true or false, got 'perhaps'"),
        (
            ["--ttfb-first-token=first"],
            "",
            "--ttfb-first-token: expected one of auto, delta, visible, openai, data, got 'first'",
        ),
        (["--ttfb-jitter=-1"], "", "--ttfb-jitter: expected milliseconds in [0, 10000], got '-1'"),
        (
            [],
            "ttfb_regions = eu-west-1",
            "ini key ttfb_regions: expected NAME:RTT_MS, got 'eu-west-1'",
        ),
        (
            [],
            "ttfb_regions = eu-west-1:far",
            "ini key ttfb_regions (eu-west-1): expected milliseconds in [0, 10000], got 'far'",
        ),
    ],
)
def test_bad_options_are_usage_errors(
    pytester: pytest.Pytester, args: list[str], ini: str, message: str
) -> None:
    if ini:
        pytester.makeini(f"[pytest]\n{ini}\n")
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])
    assert "INTERNALERROR" not in result.stderr.str()


def test_live_mode_routes_intercept_nothing(
    pytester: pytest.Pytester, local_server: LocalServer
) -> None:
    pytester.makepyfile("""
        import os, ssl, httpx2

        def test_live(ttfb_mock, ttfb):
            url = os.environ["TTFB_TEST_URL"] + "/ok"
            ttfb_mock.get(url).respond(500)  # declared, but live mode sends to the network
            context = ssl.create_default_context(cafile=os.environ["TTFB_TEST_CA"])
            with ttfb.watch(httpx2.Client(verify=context)) as client:
                assert client.get(url).status_code == 200
            assert ttfb.requests[0].new_connection
    """)
    pytester.runpytest("--ttfb-live").assert_outcomes(passed=1)
    assert local_server.requests == 1
