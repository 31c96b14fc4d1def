"""What the records say about connections, checked against a real TLS + HTTP/2 server
on loopback whose own count of accepted connections must agree.

These runs use --ttfb-mode=live: nothing is mocked, the requests go to the local
server (TTFB_TEST_URL, trusting TTFB_TEST_CA).
"""

import pytest

from pytest_ttfb.modes.server import LocalServer

CLIENTS = """
import os, ssl
import anthropic, httpx, httpx2
import pytest

URL = os.environ["TTFB_TEST_URL"]
CONTEXT = ssl.create_default_context(cafile=os.environ["TTFB_TEST_CA"])
STACKS = {"httpx": httpx, "httpx2": httpx2}
# The stack the installed anthropic SDK runs on: httpx for 0.x, httpx2 from 1.0 on.
SDK_STACK = httpx if anthropic.__version__.startswith("0.") else httpx2
"""


def run_live(pytester: pytest.Pytester, source: str, *args: str) -> pytest.RunResult:
    pytester.makeconftest(CLIENTS)
    pytester.makepyfile(source)
    return pytester.runpytest("--ttfb-mode=live", *args)


@pytest.mark.parametrize("stack", ["httpx", "httpx2"])
def test_sync_client_reuses_one_connection(
    pytester: pytest.Pytester, local_server: LocalServer, stack: str
) -> None:
    result = run_live(
        pytester,
        f"""
        from conftest import *

        def test_three_calls(ttfb):
            client = ttfb.watch(STACKS["{stack}"].Client(verify=CONTEXT, http2=True))
            with client:
                for _ in range(3):
                    assert client.get(URL + "/ok").status_code == 200
            first, *rest = ttfb.requests
            assert not first.reused and first.new_connection
            assert all(r.reused for r in rest)
            assert {{r.connection_id for r in ttfb.requests}} == {{first.connection_id}}
            assert {{r.http_version for r in ttfb.requests}} == {{"HTTP/2"}}
            assert ttfb.new_connections == 1
    """,
    )
    result.assert_outcomes(passed=1)
    assert len(local_server.connections) == 1
    assert local_server.requests == 3


@pytest.mark.parametrize("stack", ["httpx", "httpx2"])
def test_async_client_multiplexes_concurrent_calls(
    pytester: pytest.Pytester, local_server: LocalServer, stack: str
) -> None:
    result = run_live(
        pytester,
        f"""
        import anyio
        from conftest import *

        @pytest.mark.anyio
        async def test_concurrent(ttfb):
            client = ttfb.watch(STACKS["{stack}"].AsyncClient(verify=CONTEXT, http2=True))
            async with client:
                await client.get(URL + "/ok")  # opens the connection
                async with anyio.create_task_group() as group:
                    for _ in range(5):
                        group.start_soon(client.get, URL + "/delay/50")
            assert len(ttfb.requests) == 6
            assert [r.new_connection for r in ttfb.requests].count(True) == 1
            assert len({{r.connection_id for r in ttfb.requests}}) == 1
    """,
    )
    result.assert_outcomes(passed=1)
    assert len(local_server.connections) == 1


def test_a_client_per_call_opens_a_connection_per_call(
    pytester: pytest.Pytester, local_server: LocalServer
) -> None:
    result = run_live(
        pytester,
        """
        from conftest import *

        @pytest.mark.max_new_connections(1)
        def test_new_client_each_time(ttfb):
            for _ in range(3):
                with ttfb.watch(httpx2.Client(verify=CONTEXT, http2=True)) as client:
                    client.get(URL + "/ok")
            assert ttfb.new_connections == 3
            assert len({r.connection_id for r in ttfb.requests}) == 3
    """,
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*max_new_connections(1): 3 new connection(s), budget 1*",
            "*#2 GET https://127.0.0.1:*/ok*new connection c*HTTP/2, 200]*",
            "*hint: a new connection to https://127.0.0.1:* although an earlier request had "
            "finished with one * s before: no reuse*",
        ]
    )
    assert len(local_server.connections) == 3


def test_shared_client_passes_the_connection_budget(
    pytester: pytest.Pytester, local_server: LocalServer
) -> None:
    result = run_live(
        pytester,
        """
        from conftest import *

        @pytest.mark.max_new_connections(1)
        def test_shared(ttfb):
            with ttfb.watch(httpx2.Client(verify=CONTEXT, http2=True)) as client:
                for _ in range(3):
                    client.get(URL + "/ok")
    """,
    )
    result.assert_outcomes(passed=1)
    assert len(local_server.connections) == 1


@pytest.mark.parametrize("stack", ["httpx", "httpx2"])
def test_phases_are_ordered_and_reused_requests_skip_the_handshake(
    pytester: pytest.Pytester, local_server: LocalServer, stack: str
) -> None:
    result = run_live(
        pytester,
        f"""
        from conftest import *

        def test_phases(ttfb):
            with ttfb.watch(STACKS["{stack}"].Client(verify=CONTEXT)) as client:
                client.get(URL + "/ok")
                client.get(URL + "/ok")
            cold, warm = ttfb.requests
            marks = [cold.pool_wait_ms, cold.dns_ms, cold.connect_ms, cold.tls_ms,
                     cold.sent_ms, cold.ttfb_ms, cold.total_ms]
            assert None not in marks and marks == sorted(marks), marks
            assert warm.reused and (warm.dns_ms, warm.connect_ms, warm.tls_ms) == (None,) * 3
            assert 0 <= warm.pool_wait_ms <= warm.ttfb_ms <= warm.total_ms
            assert cold.http_version == warm.http_version == "HTTP/1.1"  # http2 not asked
    """,
    )
    result.assert_outcomes(passed=1)


def test_warm_budget_judges_only_reused_connections(
    pytester: pytest.Pytester, local_server: LocalServer
) -> None:
    result = run_live(
        pytester,
        """
        from conftest import *

        def calls(ttfb):
            with ttfb.watch(httpx2.Client(verify=CONTEXT, http2=True)) as client:
                client.get(URL + "/delay/400")  # the cold request is also the slow one
                for _ in range(3):
                    client.get(URL + "/ok")

        @pytest.mark.max_ttfb(40, warm=True)
        def test_warm_only(ttfb):
            calls(ttfb)

        @pytest.mark.max_ttfb(40)
        def test_every_request(ttfb):
            calls(ttfb)
    """,
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*max_ttfb(40 ms): max of 4: * ms > 40 ms*"])


def test_connect_budget(pytester: pytest.Pytester, local_server: LocalServer) -> None:
    # No TCP connect, even on loopback, takes under a microsecond; none takes 10 s.
    result = run_live(
        pytester,
        """
        from conftest import *

        def call(ttfb):
            with ttfb.watch(httpx2.Client(verify=CONTEXT)) as client:
                client.get(URL + "/ok")
                client.get(URL + "/ok")

        @pytest.mark.max_connect(10_000)
        def test_generous(ttfb):
            call(ttfb)

        @pytest.mark.max_connect(0.001)
        def test_impossible(ttfb):
            call(ttfb)
    """,
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*max_connect(0.001 ms): max of 1: * ms > 0.001 ms*"])


def test_http11_negotiated_although_http2_asked_is_hinted(
    pytester: pytest.Pytester, http1_server: LocalServer
) -> None:
    result = run_live(
        pytester,
        """
        from conftest import *

        @pytest.mark.max_ttfb(20)
        def test_call(ttfb):
            with ttfb.watch(httpx2.Client(verify=CONTEXT, http2=True)) as client:
                client.get(URL + "/delay/200")
            assert ttfb.requests[0].http_version == "HTTP/1.1"
    """,
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*hint: HTTP/1.1 was negotiated although the client asked for HTTP/2*"]
    )


@pytest.mark.parametrize("sdk", ["Anthropic", "AsyncAnthropic"])
def test_watch_an_anthropic_client(
    pytester: pytest.Pytester, local_server: LocalServer, sdk: str
) -> None:
    call = "await client.messages.create" if sdk.startswith("Async") else "client.messages.create"
    result = run_live(
        pytester,
        f"""
        from conftest import *

        @pytest.mark.anyio
        async def test_sdk(ttfb):
            client = anthropic.{sdk}(
                api_key="sk-ant-test-not-a-secret", base_url=URL, max_retries=0,
                http_client=SDK_STACK.{"AsyncClient" if sdk.startswith("Async") else "Client"}(
                    verify=CONTEXT, http2=True))
            assert ttfb.watch(client) is client
            for _ in range(2):
                message = {call}(model="claude-test", max_tokens=5,
                                 messages=[{{"role": "user", "content": "hi"}}])
                assert message.content[0].text == "Hello from pytest-ttfb."
            first, second = ttfb.requests
            assert (first.method, first.url) == ("POST", URL + "/v1/messages")
            assert first.new_connection and second.reused
            assert first.connection_id == second.connection_id
            assert first.status == second.status == 200
    """,
    )
    result.assert_outcomes(passed=1)
    assert len(local_server.connections) == 1


def test_url_is_recorded_without_credentials(
    pytester: pytest.Pytester, local_server: LocalServer
) -> None:
    result = run_live(
        pytester,
        """
        from conftest import *

        def test_call(ttfb):
            with ttfb.watch(httpx2.Client(verify=CONTEXT)) as client:
                secret_url = URL.replace("https://", "https://user:hunter2@")
                client.get(secret_url + "/ok?api_key=hunter3&page=2")
            (record,) = ttfb.requests
            assert record.url == URL + "/ok?api_key=***&page=2"
    """,
    )
    result.assert_outcomes(passed=1)


def test_failed_request_is_recorded_and_still_raised(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import socket
        import httpx2
        import pytest

        def test_refused(ttfb):
            with socket.socket() as s:  # a port nobody listens on
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            with ttfb.watch(httpx2.Client()) as client:
                with pytest.raises(httpx2.ConnectError):
                    client.get(f"http://127.0.0.1:{port}/")
            (record,) = ttfb.requests
            assert record.status is None
            assert record.error.startswith("ConnectError")
    """)
    pytester.runpytest("--ttfb-mode=live").assert_outcomes(passed=1)


def test_watch_rejects_what_it_cannot_instrument(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest

        def test_not_a_client(ttfb):
            with pytest.raises(TypeError, match="takes an httpx or httpx2 Client.*got dict"):
                ttfb.watch({})
    """)
    pytester.runpytest().assert_outcomes(passed=1)


def test_keepalive_expiry_shorter_than_the_gap_is_hinted(
    pytester: pytest.Pytester, local_server: LocalServer
) -> None:
    result = run_live(
        pytester,
        """
        import time
        from conftest import *

        @pytest.mark.max_new_connections(1)
        def test_idle_between_calls(ttfb):
            limits = httpx2.Limits(keepalive_expiry=0.1)
            with ttfb.watch(httpx2.Client(verify=CONTEXT, limits=limits)) as client:
                client.get(URL + "/ok")
                time.sleep(0.5)  # five times the expiry: the pool drops the connection
                client.get(URL + "/ok")
            assert [r.reused for r in ttfb.requests] == [False, False]
    """,
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*hint: keep-alive expiry (0.1 s) is shorter than the 0.? s gap since the last "
            "request to https://127.0.0.1:* ended, so its connection was dropped*",
        ]
    )
    assert len(local_server.connections) == 2


def test_waiting_for_the_pool_is_hinted(
    pytester: pytest.Pytester, local_server: LocalServer
) -> None:
    result = run_live(
        pytester,
        """
        from concurrent.futures import ThreadPoolExecutor
        from conftest import *

        @pytest.mark.max_ttfb(30)
        def test_three_threads_one_connection(ttfb):
            limits = httpx2.Limits(max_connections=1)
            with ttfb.watch(httpx2.Client(verify=CONTEXT, limits=limits)) as client:
                with ThreadPoolExecutor(3) as threads:
                    list(threads.map(lambda _: client.get(URL + "/delay/300"), range(3)))
            waits = sorted(r.pool_wait_ms for r in ttfb.requests)
            assert waits[-1] >= 300  # the last one waited for two others to finish
    """,
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*hint: * ms waiting for a connection from the pool: max_connections=1 is below "
            "the concurrency*",
        ]
    )
