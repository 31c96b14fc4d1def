"""Emulate mode tells the same truth as mock mode on the unhappy paths: a route that
raises, a connection carrying many requests, and a session that ends."""

from __future__ import annotations

import asyncio
import re
import socket
from typing import Any

import pytest

from pytest_ttfb.modes.server import LocalServer

RAISING_ROUTES = """
import anyio
import httpx
import pytest

ASK = dict(model="claude-test", max_tokens=5, messages=[{"role": "user", "content": "hi"}])


def test_uncaught(ttfb_mock, ttfb_client):
    ttfb_mock.get("https://api.example.test/x").mock(side_effect=ValueError("boom at the route"))
    ttfb_client.get("https://api.example.test/x")


def test_caught_then_retried(ttfb_mock, ttfb_client, ttfb):
    ttfb_mock.get("https://api.example.test/y").mock(
        side_effect=[httpx.ConnectError("down for a moment"), httpx.Response(204)]
    )
    with pytest.raises(httpx.ConnectError, match="down for a moment"):
        ttfb_client.get("https://api.example.test/y")
    assert ttfb_client.get("https://api.example.test/y").status_code == 204
    first, second = ttfb.requests
    assert first.error is not None and "ConnectError" in first.error
    assert second.status == 204


@pytest.mark.anyio
async def test_uncaught_async(ttfb_mock, ttfb_async_client):
    def explode(request):
        raise KeyError("no such user")

    ttfb_mock.get("https://api.example.test/z").mock(side_effect=explode)
    await ttfb_async_client.get("https://api.example.test/z")


def test_sdk_wraps_it(ttfb_mock, anthropic_client):
    import anthropic

    ttfb_mock.routes["messages"].mock(side_effect=RuntimeError("route broke"))
    with pytest.raises(anthropic.APIConnectionError) as raised:
        anthropic_client.with_options(max_retries=0).messages.create(**ASK)
    assert isinstance(raised.value.__cause__, RuntimeError)
    assert str(raised.value.__cause__) == "route broke"
"""


def _failure_lines(result: pytest.RunResult) -> list[str]:
    return sorted(line for line in result.outlines if line.startswith("FAILED "))


def test_a_raising_route_fails_or_passes_the_same_test_in_mock_and_emulate_mode(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # the summary lines whole, with their messages
    pytester.makepyfile(test_routes=RAISING_ROUTES)
    mock = pytester.runpytest("-p", "no:cacheprovider", "-rf")
    emulate = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-rf", "--ttfb-mode=emulate", "--ttfb-rtt=0"
    )
    for result in (mock, emulate):
        result.assert_outcomes(passed=2, failed=2)
    # The same exception, type and message, reaches the test in both modes.
    assert (
        _failure_lines(mock)
        == _failure_lines(emulate)
        == [
            "FAILED test_routes.py::test_uncaught - ValueError: boom at the route",
            "FAILED test_routes.py::test_uncaught_async[asyncio] - KeyError: 'no such user'",
        ]
    )
    # Emulate mode says nothing of the 500 the server used to carry it.
    assert "500" not in emulate.stdout.str().split("short test summary")[1]


# -- no cap on requests per connection ----------------------------------------------

MANY = 20_000


def _sync_requests(module: Any, server: LocalServer, count: int) -> list[int]:
    with module.Client(http2=True, verify=server.ssl_context()) as client:
        responses = [client.get(server.url + "/ok") for _ in range(count)]
        assert {r.http_version for r in responses} == {"HTTP/2"}
        return [r.status_code for r in responses]


def _async_requests(module: Any, server: LocalServer, count: int) -> list[int]:
    async def run() -> list[int]:
        statuses: list[int] = []
        async with module.AsyncClient(http2=True, verify=server.ssl_context()) as client:
            for start in range(0, count, 100):  # 100 streams at a time, hypercorn's limit
                batch = [client.get(server.url + "/ok") for _ in range(min(100, count - start))]
                responses = await asyncio.gather(*batch)
                assert {r.http_version for r in responses} == {"HTTP/2"}
                statuses += [r.status_code for r in responses]
        return statuses

    return asyncio.run(run())


@pytest.mark.slow
@pytest.mark.parametrize(
    ("stack", "flavour", "count"),
    # 20,000 on each stack and each flavour once; the other two pairings past the cap
    # only (about 2.5 ms a request here: four times 20,000 would take minutes).
    [
        ("httpx2", "sync", MANY),
        ("httpx", "async", MANY),
        ("httpx2", "async", 2_500),
        ("httpx", "sync", 2_500),
    ],
)
def test_one_http2_connection_carries_twenty_thousand_requests(
    stack: str, flavour: str, count: int
) -> None:
    """hypercorn's default closes a connection after 1,000 requests; the local server
    (the emulated one, and the one this suite tests against) has no such cap."""
    module = pytest.importorskip(stack)
    with LocalServer() as server:
        run = _sync_requests if flavour == "sync" else _async_requests
        statuses = run(module, server, count)
        assert statuses == [200] * count
        assert server.requests == count
        assert len(server.connections) == 1


def test_emulated_connection_outlives_hypercorns_default_cap(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
def test_many(ttfb_mock, ttfb_client, ttfb_emulator, ttfb):
    ttfb_mock.get("https://api.example.test/n").respond(200)
    for _ in range(1500):  # past hypercorn's default cap of 1,000 per connection
        assert ttfb_client.get("https://api.example.test/n").status_code == 200
    assert ttfb_emulator.connections == 1
    assert ttfb.new_connections == 1
    assert all(r.error is None for r in ttfb.requests)
"""
    )
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--ttfb-mode=emulate", "--ttfb-rtt=0"
    )
    result.assert_outcomes(passed=1)


# -- a clean stop ---------------------------------------------------------------------

OPEN_CONNECTIONS = """
import pathlib

import pytest

ASK = dict(model="claude-test", max_tokens=5, messages=[{"role": "user", "content": "hi"}])


def test_sync_client(ttfb_mock, ttfb_client, ttfb_emulator):
    ttfb_mock.get("https://api.example.test/a").respond(200, json={})
    ttfb_client.get("https://api.example.test/a")
    ports = [ttfb_emulator.server.tls_port, ttfb_emulator.server.plain_port]
    ports += [ttfb_emulator.address_for(host)[1] for host in ("any.test", "eu.example.test")]
    pathlib.Path("ports.txt").write_text(" ".join(map(str, ports)))


@pytest.mark.anyio
async def test_async_client(ttfb_mock, ttfb_async_client):
    ttfb_mock.get("https://api.example.test/b").respond(200, json={})
    await ttfb_async_client.get("https://api.example.test/b")


def test_sdk(anthropic_client):
    anthropic_client.messages.create(**ASK)


def test_plain_http(ttfb_mock, ttfb_client):
    ttfb_mock.get("http://plain.example.test/c").respond(200)
    ttfb_client.get("http://plain.example.test/c")


def test_streaming_left_open(ttfb_mock, ttfb_client):
    # A stream whose body is still being sent when the session ends.
    ttfb_mock.messages(first_token=50, token_interval=2000, text="a b c d e f")
    with ttfb_client.stream(
        "POST", "https://api.anthropic.com/v1/messages", json={**ASK, "stream": True}
    ) as response:
        next(response.iter_bytes())
"""


def test_an_emulate_session_ends_without_tracebacks_or_listeners(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(OPEN_CONNECTIONS)
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--ttfb-mode=emulate",
        "--ttfb-rtt=5",
        "-o",
        "ttfb_regions=eu:20",
        "-o",
        "log_cli=true",
        "--log-cli-level=DEBUG",
        "-W",
        "error::ResourceWarning",
    )
    result.assert_outcomes(passed=5)
    output = result.stdout.str() + result.stderr.str()
    for noise in ("Traceback", "CancelledError", "ResourceWarning", "Task was destroyed"):
        assert noise not in output, _around(output, noise)
    ports = [int(p) for p in (pytester.path / "ports.txt").read_text().split()]
    assert len(set(ports)) == 4  # TLS and plain server, a relay per RTT
    for port in ports:
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still listens"


def _around(text: str, needle: str) -> str:
    at = text.index(needle)
    return re.sub(r"\n{3,}", "\n\n", text[max(0, at - 1500) : at + 500])
