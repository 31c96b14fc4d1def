"""Hints and the doctor say what they saw, and hints come likeliest cause first.

The precedence rows are checked on records built by hand (a loopback server cannot
make a far server, and these records carry every cause at once); what the client and
server really did is checked through pytester against the local servers.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from pytest_ttfb import PoolSettings, RequestTiming
from pytest_ttfb.budgets.explain import PRECEDENCE, hints, ranked_hints
from pytest_ttfb.doctor import diagnose
from pytest_ttfb.modes.server import LocalServer
from pytest_ttfb.settings import Settings

URL = "https://api.test/v1/messages"


def _record(**changes: object) -> RequestTiming:
    base = RequestTiming(
        method="POST",
        url=URL,
        status=200,
        http_version="HTTP/2",
        reused=False,
        connection_id="c3",
        pool_wait_ms=50.0,
        dns_ms=51.0,
        connect_ms=200.0,  # TCP alone: 149 ms, a far server
        tls_ms=250.0,
        sent_ms=251.0,
        ttfb_ms=300.0,
        total_ms=310.0,
        started_at=10.0,
        pool=PoolSettings(http2=True, max_connections=2, keepalive_expiry=2.0, stack="httpx"),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def _scene(
    keepalive_expiry: float, beside: bool = True
) -> tuple[RequestTiming, list[RequestTiming]]:
    """A request with many causes at once: pool wait, a far connect, HTTP/1.1 (beside
    another request in flight, when ``beside``), and an earlier request 4.9 s before
    (past a 2 s keep-alive; within a 60 s one, when no reuse is the cause)."""
    pool = PoolSettings(
        http2=True, max_connections=2, keepalive_expiry=keepalive_expiry, stack="httpx"
    )
    record = _record(http_version="HTTP/1.1", pool=pool)
    earlier = _record(started_at=5.0, total_ms=100.0, connection_id="c1", pool=pool)
    other = _record(started_at=10.01, http_version="HTTP/1.1", connection_id="c4", pool=pool)
    return record, [earlier, record, other] if beside else [earlier, record]


# The README's precedence table, written out again: a change to PRECEDENCE must be made
# here too, on purpose.
TIME_ROW = [
    "pool_wait",
    "keepalive_expiry",
    "no_reuse",
    "http1_concurrency",
    "http1",
    "far_server",
]
ROWS = {
    "max_new_connections": [
        "http1_concurrency",
        "keepalive_expiry",
        "no_reuse",
        "pool_wait",
        "http1",
        "far_server",
    ],
    "max_ttfb": TIME_ROW,
    "max_first_token": TIME_ROW,
    "max_total": TIME_ROW,
    "max_itl": TIME_ROW,
    "max_tpot": TIME_ROW,
    "min_tokens_per_s": TIME_ROW,
    "max_retries": TIME_ROW,
    "max_call": TIME_ROW,
    "max_connect": [
        "far_server",
        "pool_wait",
        "keepalive_expiry",
        "no_reuse",
        "http1_concurrency",
        "http1",
    ],
}


def test_every_budget_kind_has_a_precedence_row() -> None:
    from pytest_ttfb.budgets.kinds import KINDS

    assert set(PRECEDENCE) == set(KINDS) == set(ROWS)
    assert {marker: list(row) for marker, row in PRECEDENCE.items()} == ROWS


@pytest.mark.parametrize("marker", sorted(ROWS))
@pytest.mark.parametrize(
    ("expiry", "beside", "present"),
    [
        (2.0, True, {"pool_wait", "keepalive_expiry", "http1_concurrency", "far_server"}),
        (60.0, False, {"pool_wait", "no_reuse", "http1", "far_server"}),
    ],
)
def test_hints_are_ranked_by_what_explains_the_breach(
    marker: str, expiry: float, beside: bool, present: set[str]
) -> None:
    record, requests = _scene(expiry, beside)
    causes = [cause for cause, _ in ranked_hints(record, requests, marker)]
    assert causes == [cause for cause in ROWS[marker] if cause in present]


def test_concurrency_is_not_mistaken_for_a_client_made_per_call() -> None:
    record, requests = _scene(60.0)
    causes = [cause for cause, _ in ranked_hints(record, requests, "max_new_connections")]
    assert causes == ["http1_concurrency", "pool_wait", "far_server"]


def test_far_server_does_not_come_first_when_a_better_cause_explains_the_breach() -> None:
    record, requests = _scene(60.0)
    first = hints(record, requests, "max_new_connections")[0]
    assert first.startswith("2 requests to https://api.test were in flight at once over HTTP/1.1")
    assert hints(record, requests, "max_connect")[0].startswith("TCP connect took 149 ms")


def test_keepalive_is_called_the_default_only_when_it_is() -> None:
    record, requests = _scene(2.0)
    (text,) = [t for c, t in ranked_hints(record, requests) if c == "keepalive_expiry"]
    assert text.startswith("keep-alive expiry (2 s) is shorter than the 4.9 s gap")
    assert "default" not in text
    pool = PoolSettings(http2=True, max_connections=2, keepalive_expiry=5.0)
    record = dataclasses.replace(record, started_at=20.0, pool=pool)
    (text,) = [t for c, t in ranked_hints(record, requests) if c == "keepalive_expiry"]
    assert text.startswith(
        "keep-alive expiry (5 s, httpx's default and the Anthropic SDK's) is shorter"
    )


@pytest.mark.parametrize("stack", ["httpx", "httpx2"])
def test_http2_fix_names_the_clients_own_package(stack: str) -> None:
    pool = PoolSettings(http2=True, max_connections=2, keepalive_expiry=60.0, stack=stack)
    record = _record(http_version="HTTP/1.1", pool=pool, pool_wait_ms=None, connect_ms=20.0)
    (text,) = hints(record, [record])
    assert f"pip install '{stack}[http2]'" in text
    other = {"httpx": "httpx2", "httpx2": "httpx"}[stack]
    assert f"'{other}[http2]'" not in text


def test_pool_wait_with_an_unlimited_pool_says_unlimited() -> None:
    pool = PoolSettings(http2=True, max_connections=None, keepalive_expiry=60.0)
    record = _record(pool=pool, connect_ms=60.0)
    (text,) = hints(record, [record])
    assert "max_connections unlimited" in text
    assert "None" not in text


def test_a_mocking_librarys_http11_is_no_evidence_of_a_server_refusing_h2() -> None:
    # pytest-httpx's responses say HTTP/1.1 and have no network stream: no connection id.
    pool = PoolSettings(http2=True, max_connections=20, keepalive_expiry=60.0)
    mocked = _record(
        http_version="HTTP/1.1",
        connection_id=None,
        pool=pool,
        pool_wait_ms=None,
        dns_ms=None,
        connect_ms=None,
        tls_ms=None,
    )
    assert hints(mocked, [mocked]) == []
    assert diagnose([("test_mocked", [mocked, dataclasses.replace(mocked)])]) == []
    real = _record(http_version="HTTP/1.1", pool=pool, pool_wait_ms=None, connect_ms=20.0)
    (report,) = diagnose([("test_real", [real])])
    assert [f.problem for f in report.findings] == [
        "HTTP/2 asked for, but every response came over HTTP/1.1: the server did not offer h2"
    ]


def test_emulated_rtt_is_named_as_such() -> None:
    record = _record(url="https://far-1.api.test/v1/messages", pool_wait_ms=None, dns_ms=None)
    emulate = Settings(mode="emulate", rtt_ms=50.0, regions=(("far-1", 300.0),))
    (text,) = hints(record, [record], "max_ttfb", settings=emulate)
    assert text == (
        "TCP connect took 200 ms (over 80 ms): the server is far, by the emulated RTT of "
        "region far-1 (ttfb_regions far-1:300): what a caller that far would pay"
    )
    near = dataclasses.replace(record, url=URL)
    (text,) = hints(near, [near], "max_ttfb", settings=emulate)
    assert "by the emulated RTT (--ttfb-rtt=50)" in text
    (text,) = hints(near, [near], "max_ttfb", settings=Settings(mode="live"))
    assert "emulated" not in text


# -- through pytest, against what the clients and servers really did ------------------


def test_doctor_says_what_it_saw(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import httpx, httpx2

        def test_short_keepalive(ttfb, ttfb_mock):
            ttfb_mock.get("https://api.test/a").respond(200)
            limits = httpx.Limits(keepalive_expiry=2, max_connections=None)
            with ttfb.watch(httpx.Client(limits=limits, http2=False)) as client:
                client.get("https://api.test/a")

        def test_httpx2(ttfb, ttfb_mock):
            ttfb_mock.get("https://api.test/b").respond(200)
            limits = httpx2.Limits(keepalive_expiry=5, max_connections=7)
            with ttfb.watch(httpx2.Client(limits=limits, http2=False)) as client:
                client.get("https://api.test/b")
    """)
    result = pytester.runpytest("--ttfb-json=report.json")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "httpx client with http2=False, max_connections=unlimited, keepalive_expiry=2 s "
            "(1 request(s) in 1 test(s)):",
            "  - keep-alive expiry of 2 s: a pause longer than that between calls pays TCP "
            "+ TLS again",
            "    fix: Limits(keepalive_expiry=60)",
            "  - HTTP/2 off*",
            "    fix: httpx.Client(http2=True), with the h2 package installed "
            "(pip install 'httpx[http2]')",
            "httpx2 client with http2=False, max_connections=7, keepalive_expiry=5 s *:",
            "  - keep-alive expiry of 5 s (httpx's default, and the Anthropic SDK's)*",
            "    fix: Limits(keepalive_expiry=60)",
            "  - HTTP/2 off*",
            "    fix: httpx2.Client(http2=True), with the h2 package installed "
            "(pip install 'httpx2[http2]')",
        ]
    )
    output = result.stdout.str()
    assert "9223372036854775807" not in output
    doctor = json.loads((pytester.path / "report.json").read_text())["doctor"]
    assert [(d["client"]["stack"], d["client"]["max_connections"]) for d in doctor] == [
        ("httpx", None),
        ("httpx2", 7),
    ]


CLIENTS = """
import os, ssl
import httpx, httpx2
import pytest

URL = os.environ["TTFB_TEST_URL"]
CONTEXT = ssl.create_default_context(cafile=os.environ["TTFB_TEST_CA"])
"""


@pytest.mark.parametrize("stack", ["httpx", "httpx2"])
def test_http11_with_concurrency_comes_first_for_a_connection_budget(
    pytester: pytest.Pytester, http1_server: LocalServer, stack: str
) -> None:
    pytester.makeconftest(CLIENTS)
    pytester.makepyfile(f"""
        import threading
        from conftest import *

        @pytest.mark.max_new_connections(1)
        def test_three_at_once(ttfb):
            with ttfb.watch({stack}.Client(verify=CONTEXT, http2=True)) as client:
                client.get(URL + "/ok")  # one connection, idle in the pool afterwards
                start = threading.Barrier(3)
                def call():
                    start.wait()
                    client.get(URL + "/delay/300")
                threads = [threading.Thread(target=call) for _ in range(3)]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
            assert {{r.http_version for r in ttfb.requests}} == {{"HTTP/1.1"}}
    """)
    result = pytester.runpytest("--ttfb-mode=live")
    result.assert_outcomes(failed=1)
    # The server's own count: the first connection was reused once, two more opened.
    assert len(http1_server.connections) == 3
    result.stdout.fnmatch_lines(
        [
            "*max_new_connections(1): 3 new connection(s), budget 1*",
            "*#1 GET https://127.0.0.1:*/ok*new connection*",
            "*#? GET https://127.0.0.1:*/delay/300*new connection*",
            "*hint: ? requests to https://127.0.0.1:* were in flight at once over HTTP/1.1, "
            "which carries one at a time per connection, so each opened its own; HTTP/1.1 "
            "was negotiated although the client asked for HTTP/2: is the h2 package "
            f"installed (pip install '{stack}[[]http2]')?*",
        ]
    )
    other = {"httpx": "httpx2", "httpx2": "httpx"}[stack]
    assert f"'{other}[http2]'" not in result.stdout.str()


def test_emulate_mode_breach_names_the_emulated_rtt(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nttfb_regions = far-1:300\n")
    pytester.makepyfile("""
        import pytest

        @pytest.mark.max_connect(100)
        def test_far(ttfb_mock, ttfb_client):
            ttfb_mock.get("https://far-1.api.test/x").respond(200)
            ttfb_client.get("https://far-1.api.test/x")
    """)
    result = pytester.runpytest_subprocess("--ttfb-mode=emulate")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*hint: TCP connect took * ms (over 80 ms): the server is far, by the emulated "
            "RTT of region far-1 (ttfb_regions far-1:300): what a caller that far would pay"
        ]
    )
    assert "from this machine" not in result.stdout.str()
