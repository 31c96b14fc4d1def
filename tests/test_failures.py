"""Requests that fail still say which connection they used, and every connection
they opened is counted: the records must agree with the servers' own accept counts.

The servers here are plain sockets on loopback that misbehave on purpose, each in a
thread of this process, stopping by themselves; the requests go to them in live mode
through httpx and httpx2, sync and async. HTTP/2 over TLS uses the repo's
``local_server``.
"""

from __future__ import annotations

import json
import socket
import struct
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest

from pytest_ttfb.measure.record import RequestTiming
from pytest_ttfb.modes.server import LocalServer

OK = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"


def _read_request(conn: socket.socket) -> bool:
    """Read one request's head (GET: no body); False when the client went away."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return False
        data += chunk
    return True


def _close(conn: socket.socket, stop: threading.Event) -> None:
    pass  # accept, then close at once


def _read_close(conn: socket.socket, stop: threading.Event) -> None:
    _read_request(conn)  # then close without answering


def _reset(conn: socket.socket, stop: threading.Event) -> None:
    if _read_request(conn):  # then a TCP reset, not a close
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def _answer_once(conn: socket.socket, stop: threading.Event) -> None:
    if _read_request(conn):  # answer, then close the connection while it is idle
        conn.sendall(OK)


def _drop_next(conn: socket.socket, stop: threading.Event) -> None:
    # Answer, keep the connection open (so it is pooled), then take the next request
    # and close without answering: that request fails on a pooled connection.
    if _read_request(conn):
        conn.sendall(OK)
        _read_request(conn)


def _silent(conn: socket.socket, stop: threading.Event) -> None:
    _read_request(conn)
    stop.wait(10)  # never answer: the client's read times out


BEHAVIOURS: dict[str, Callable[[socket.socket, threading.Event], None]] = {
    "close": _close,
    "read_close": _read_close,
    "reset": _reset,
    "answer_once": _answer_once,
    "drop_next": _drop_next,
    "silent": _silent,
}


class MisbehavingServer:
    """Plain HTTP on 127.0.0.1: counts the connections it accepts, treats each one
    as ``behaviour`` says; stops when asked, or after a minute on its own."""

    def __init__(self, behaviour: str) -> None:
        self._behaviour = BEHAVIOURS[behaviour]
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}/"
        self.accepted = 0
        self._stop = threading.Event()
        self._deadline = time.monotonic() + 60
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        with self._listener:
            while not self._stop.is_set() and time.monotonic() < self._deadline:
                try:
                    conn, _ = self._listener.accept()
                except TimeoutError:
                    continue
                self.accepted += 1
                threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(15)
        with conn, suppress(OSError):
            self._behaviour(conn, self._stop)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


def _refused_url() -> str:
    """A loopback port with nothing listening (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/"


@contextmanager
def misbehaving_servers(
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[dict[str, MisbehavingServer]]:
    with ExitStack() as stack:
        servers = {}
        for name in BEHAVIOURS:
            server = MisbehavingServer(name)
            stack.callback(server.stop)
            servers[name] = server
            monkeypatch.setenv(f"TTFB_FAIL_{name.upper()}", server.url)
        monkeypatch.setenv("TTFB_FAIL_REFUSED", _refused_url())
        yield servers


# The inner test module: one test per pattern; each dumps what the recorder says.
HELPERS = """
import json, os, time
import anyio, httpx, httpx2, pytest

STACK = {stack}
OUT = os.environ["TTFB_FAIL_OUT"]

def dump(ttfb, pattern, errors):
    records = [
        {{"reused": r.reused, "connection_id": r.connection_id, "error": r.error,
          "status": r.status, "new": r.new_connection}}
        for r in ttfb.requests
    ]
    with open(OUT, "a") as out:
        out.write(json.dumps({{"pattern": pattern, "records": records, "errors": errors,
                              "new_connections": ttfb.new_connections}}) + "\\n")
"""

SYNC_RUN = """
def run(ttfb, pattern, n, timeout=5.0, pause=0.0):
    url = os.environ["TTFB_FAIL_" + pattern.upper()]
    errors = []
    with ttfb.watch(STACK.Client(timeout=timeout)) as client:
        for i in range(n):
            if i and pause:
                time.sleep(pause)
            try:
                client.get(url).read()
                errors.append(None)
            except Exception as exc:
                errors.append(type(exc).__name__)
    dump(ttfb, pattern, errors)
"""

ASYNC_RUN = """
async def run(ttfb, pattern, n, timeout=5.0, pause=0.0):
    url = os.environ["TTFB_FAIL_" + pattern.upper()]
    errors = []
    async with ttfb.watch(STACK.AsyncClient(timeout=timeout)) as client:
        for i in range(n):
            if i and pause:
                await anyio.sleep(pause)
            try:
                await (await client.get(url)).aread()
                errors.append(None)
            except Exception as exc:
                errors.append(type(exc).__name__)
    dump(ttfb, pattern, errors)
"""

TESTS = """
@pytest.mark.max_new_connections(1)
{mark}{define} test_close(ttfb):
    {wait}run(ttfb, "close", 3)

{mark}{define} test_read_close(ttfb):
    {wait}run(ttfb, "read_close", 2)

{mark}{define} test_reset(ttfb):
    {wait}run(ttfb, "reset", 2)

{mark}{define} test_answer_once(ttfb):
    {wait}run(ttfb, "answer_once", 2, pause=0.3)

{mark}{define} test_drop_next(ttfb):
    {wait}run(ttfb, "drop_next", 2)

{mark}{define} test_silent(ttfb):
    {wait}run(ttfb, "silent", 2, timeout=0.3)

@pytest.mark.max_new_connections(0)
@pytest.mark.max_connect(1000)
{mark}{define} test_refused(ttfb):
    {wait}run(ttfb, "refused", 2)
"""


def _inner_module(stack: str, flavour: str) -> str:
    if flavour == "sync":
        tests = TESTS.format(mark="", define="def", wait="")
        return HELPERS.format(stack=stack) + SYNC_RUN + tests
    tests = TESTS.format(mark="@pytest.mark.anyio\n", define="async def", wait="await ")
    return HELPERS.format(stack=stack) + ASYNC_RUN + tests


# What each pattern must record, request by request: (reused, errored).
EXPECTED: dict[str, list[tuple[bool | None, bool]]] = {
    "close": [(False, True)] * 3,  # opened, then the server closed it: counted
    "read_close": [(False, True)] * 2,
    "reset": [(False, True)] * 2,
    # The pool finds the first connection closed while idle and opens another.
    "answer_once": [(False, False), (False, False)],
    "drop_next": [(False, False), (True, True)],  # failed on the pooled connection
    "silent": [(False, True)] * 2,  # read timeout: the connection is dropped
    "refused": [(None, True)] * 2,  # never got a connection: not counted
}


@pytest.mark.parametrize("flavour", ["sync", "async"])
@pytest.mark.parametrize("stack", ["httpx", "httpx2"])
def test_failed_requests_count_the_connections_they_opened(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    stack: str,
    flavour: str,
) -> None:
    out = tmp_path / "records.jsonl"
    monkeypatch.setenv("TTFB_FAIL_OUT", str(out))
    report = tmp_path / "report.json"
    pytester.makepyfile(_inner_module(stack, flavour))
    with misbehaving_servers(monkeypatch) as servers:
        result = pytester.runpytest("--ttfb-mode=live", f"--ttfb-json={report}")
    # Only the budget fails a test here: three connections opened against a budget of 1.
    result.assert_outcomes(passed=6, failed=1)
    result.stdout.fnmatch_lines(["*max_new_connections(1): 3 new connection(s), budget 1*"])
    text = result.stdout.str() + result.stderr.str()
    assert "mock mode" not in text
    assert "mocked" not in text

    seen = {}
    for line in out.read_text().splitlines():
        entry = json.loads(line)
        seen[entry["pattern"]] = entry
    assert set(seen) == set(EXPECTED)
    for pattern, expected in EXPECTED.items():
        entry = seen[pattern]
        records = entry["records"]
        accepted = servers[pattern].accepted if pattern in servers else 0
        shape = [(r["reused"], r["error"] is not None) for r in records]
        assert shape == expected, (pattern, records)
        # The records' count agrees with the server's own, failures included.
        assert entry["new_connections"] == accepted, (pattern, records)
        ids = {r["connection_id"] for r in records if r["connection_id"] is not None}
        assert len(ids) == accepted, (pattern, records)
        assert [e is not None for e in entry["errors"]] == [e for _, e in expected]
        for r in records:
            assert (r["connection_id"] is None) == (r["reused"] is None), (pattern, r)
    # The request that failed on the pooled connection names that connection.
    first, second = seen["drop_next"]["records"]
    assert first["connection_id"] == second["connection_id"]
    # Refused: the connection budgets cannot judge, and say why in the report.
    verdicts = {
        v["marker"]: v
        for t in json.loads(report.read_text())["tests"]
        if "::test_refused" in t["nodeid"]
        for v in t["budgets"]
    }
    for marker in ("max_new_connections", "max_connect"):
        assert verdicts[marker]["status"] == "n/a"
        assert verdicts[marker]["reason"] == (
            "no request reached a connection the plugin saw opened "
            "(2 failed before getting a connection)"
        )


H2_CLIENTS = """
import json, os, ssl
import anyio, httpx, httpx2, pytest

URL = os.environ["TTFB_TEST_URL"]
CONTEXT = ssl.create_default_context(cafile=os.environ["TTFB_TEST_CA"])

def check(ttfb):
    timed_out, ok = ttfb.requests
    assert timed_out.error.startswith("ReadTimeout") and timed_out.reused is False
    assert timed_out.connection_id is not None and timed_out.http_version is None
    assert ok.error is None and ok.http_version == "HTTP/2"
    ids = {r.connection_id for r in ttfb.requests}
    assert ttfb.new_connections == len(ids)
    with open(os.environ["TTFB_FAIL_OUT"], "w") as out:
        json.dump({"new_connections": ttfb.new_connections, "reused": ok.reused}, out)
"""


@pytest.mark.parametrize("flavour", ["sync", "async"])
@pytest.mark.parametrize("stack", ["httpx", "httpx2"])
def test_http2_read_timeout_counts_its_connection(
    pytester: pytest.Pytester,
    local_server: LocalServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    stack: str,
    flavour: str,
) -> None:
    """Over TLS + HTTP/2: a request that opened the connection and timed out reading
    is counted; the count agrees with the server's, whether the stack kept the
    connection for the next request or dropped it."""
    out = tmp_path / "seen.json"
    monkeypatch.setenv("TTFB_FAIL_OUT", str(out))
    if flavour == "sync":
        body = f"""
        def test_timeout_then_ok(ttfb):
            with ttfb.watch({stack}.Client(verify=CONTEXT, http2=True, timeout=0.3)) as client:
                with pytest.raises({stack}.ReadTimeout):
                    client.get(URL + "/delay/2000")
                assert client.get(URL + "/ok", timeout=30).status_code == 200
            check(ttfb)
        """
    else:
        body = f"""
        @pytest.mark.anyio
        async def test_timeout_then_ok(ttfb):
            client = {stack}.AsyncClient(verify=CONTEXT, http2=True, timeout=0.3)
            async with ttfb.watch(client):
                with pytest.raises({stack}.ReadTimeout):
                    await client.get(URL + "/delay/2000")
                assert (await client.get(URL + "/ok", timeout=30)).status_code == 200
            check(ttfb)
        """
    pytester.makepyfile(H2_CLIENTS + textwrap.dedent(body))
    result = pytester.runpytest("--ttfb-mode=live")
    result.assert_outcomes(passed=1)
    seen = json.loads(out.read_text())
    assert seen["new_connections"] == len(local_server.connections)
    # httpcore and httpcore2 drop an HTTP/2 connection after a read timeout.
    assert seen == {"new_connections": 2, "reused": False}


def test_the_old_connection_budget_text_is_gone() -> None:
    """No verdict text names a mode: it says what the requests showed."""
    from pytest_ttfb.budgets.judge import judge
    from pytest_ttfb.budgets.kinds import Budget
    from pytest_ttfb.measure.record import RequestTiming

    mocked = RequestTiming("GET", "https://x.example/", status=200, reused=None)
    watched_late = RequestTiming("GET", "https://x.example/", status=200, reused=True)
    budget = Budget("max_new_connections", 1.0)
    (all_mocked,) = judge([budget], [mocked, mocked])
    assert (all_mocked.status, all_mocked.reason) == (
        "n/a",
        "no request reached a connection (all mocked)",
    )
    (mixed,) = judge([budget], [mocked, watched_late])
    assert mixed.reason == (
        "no request reached a connection the plugin saw opened "
        "(1 mocked, 1 on a connection opened before the client was watched)"
    )


def test_a_request_that_timed_out_before_its_first_byte_breaches_max_ttfb(
    pytester: pytest.Pytester, local_server: LocalServer
) -> None:
    """A request whose read timed out after 500 ms without a byte waited longer than a
    100 ms first-byte budget, even if the code caught the timeout and the next request
    was fast (an SDK's retry does exactly that): the budget must fail, naming it."""
    pytester.makepyfile(
        H2_CLIENTS
        + textwrap.dedent(
            """
            @pytest.mark.max_ttfb(100)
            def test_timeout_then_ok(ttfb):
                with ttfb.watch(httpx2.Client(verify=CONTEXT, http2=True, timeout=0.5)) as c:
                    with pytest.raises(httpx2.ReadTimeout):
                        c.get(URL + "/delay/3000")
                    assert c.get(URL + "/ok", timeout=30).status_code == 200
            """
        )
    )
    result = pytester.runpytest("--ttfb-mode=live", "--ttfb-json=r.json")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*max_ttfb(100 ms): max of 2: * ms > 100 ms (1 of 2 request(s) over budget)",
            "*#1 GET https://127.0.0.1:*/delay/3000*ReadTimeout*",
            # The waterfall names the phase it failed in: no byte was downloaded.
            "*send *|*",
            "*wait for first byte *|*",
            "*no first byte after * ms (ReadTimeout*) > budget 100 ms",
        ]
    )
    (entry,) = json.loads((pytester.path / "r.json").read_text())["tests"]
    (verdict,) = entry["budgets"]
    assert verdict["status"] == "fail"


@pytest.mark.parametrize(
    ("marks", "phase"),
    [
        ({"pool_wait_ms": 0.1, "total_ms": 1.0}, "connect"),  # refused
        ({"pool_wait_ms": 0.1, "dns_ms": 0.2, "connect_ms": 0.5, "total_ms": 9.0}, "tls"),
        ({"pool_wait_ms": 0.1, "reused": True, "total_ms": 2.0}, "send"),
        (
            {"pool_wait_ms": 0.1, "reused": True, "sent_ms": 0.2, "total_ms": 500.0},
            "wait for first byte",
        ),
    ],
)
def test_the_waterfall_of_a_request_that_failed_before_its_first_byte_downloads_nothing(
    marks: dict[str, Any], phase: str
) -> None:
    """The failure text's waterfall gives the time up to the error to the phase under
    way then, as the HAR does; "download" is for bodies."""
    record = RequestTiming("GET", "https://x.example/", error="ReadTimeout: timed out", **marks)
    (*_, (name, _, end)) = record.phases()
    assert (name, end) == (phase, marks["total_ms"])


def test_a_failed_request_counts_against_first_token_budgets_only_if_a_token_was_due() -> None:
    """A stream (or a request that failed before its headers) that failed after waiting
    past a first-token budget breached it; a JSON answer whose body then failed was
    never going to stream a token, and is left out."""
    from pytest_ttfb.budgets.judge import judge
    from pytest_ttfb.budgets.kinds import Budget

    budget = Budget("max_first_token", 100.0)
    ok = RequestTiming(
        "POST",
        "https://x.example/",
        status=200,
        ttfb_ms=5.0,
        stream="anthropic",
        first_token_ms=20.0,
        total_ms=30.0,
    )
    error = "ReadTimeout: timed out"
    stalled = RequestTiming(
        "POST",
        "https://x.example/",
        status=200,
        ttfb_ms=5.0,
        stream="anthropic",
        total_ms=400.0,
        error=error,
    )
    no_headers = RequestTiming("POST", "https://x.example/", total_ms=400.0, error=error)
    json_reset = RequestTiming(
        "POST",
        "https://x.example/",
        status=200,
        ttfb_ms=5.0,
        total_ms=400.0,
        error="ReadError: reset",
    )
    for failed, status in [(stalled, "fail"), (no_headers, "fail"), (json_reset, "pass")]:
        (verdict,) = judge([budget], [ok, failed])
        assert verdict.status == status, (failed, verdict.reason)


def test_a_request_that_never_got_a_connection_is_not_warm() -> None:
    """A connect that timed out after 5 s is no request on a reused connection: a
    warm=True budget does not judge it (mocked answers, with no connection, still
    count as warm)."""
    from pytest_ttfb.budgets.judge import judge
    from pytest_ttfb.budgets.kinds import Budget

    budget = Budget("max_ttfb", 100.0, warm=True)
    warm = RequestTiming(
        "GET",
        "https://x.example/",
        status=200,
        reused=True,
        connection_id="c1",
        ttfb_ms=5.0,
        total_ms=6.0,
    )
    mocked = RequestTiming("GET", "https://x.example/", status=200, ttfb_ms=50.0, total_ms=50.0)
    timed_out = RequestTiming(
        "GET", "https://y.example/", total_ms=5000.0, error="ConnectTimeout: timed out"
    )
    (verdict,) = judge([budget], [warm, timed_out])
    assert (verdict.status, verdict.observed) == ("pass", 5.0)
    (verdict,) = judge([budget], [mocked, timed_out])
    assert (verdict.status, verdict.observed) == ("pass", 50.0)
