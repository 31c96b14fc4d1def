"""Tests that use no plugin fixture and declare no budget run *quiet*: the plugin keeps
nothing for them (issue 9, row 1), yet whatever they do record is never lost. A client
they instrument themselves (``pytest_ttfb.watch``), a budget marker they add at run
time, a request still in flight when they end: each makes them a reported test, as if
they had used the plugin from the start. Checked against a real TLS + HTTP/2 server on
loopback, whose own count of accepted connections the records must agree with."""

import pytest

from pytest_ttfb.modes.server import LocalServer

from .test_lifecycle import entries_by_name as entries_in

CLIENT = """
import os, ssl, threading, time
import httpx, httpx2
import pytest
import pytest_ttfb

URL = os.environ["TTFB_TEST_URL"]
CONTEXT = ssl.create_default_context(cafile=os.environ["TTFB_TEST_CA"])
STACKS = {"httpx": httpx, "httpx2": httpx2}
"""

# A first test instruments a client; the quiet tests after it only use it.
INSTRUMENTED_FIRST = (
    CLIENT
    + """
CLIENTS = []

def test_instruments(ttfb):
    CLIENTS.append(ttfb.watch(httpx2.Client(verify=CONTEXT, timeout=60)))
    CLIENTS[0].get(URL + "/ok")
"""
)


def run_in_order(
    pytester: pytest.Pytester, xdist: tuple[str, ...], *, passed: int
) -> dict[str, list[dict]]:
    """Run the file in live mode, tests in file order; its JSON entries by test name."""
    result = pytester.runpytest(
        "--ttfb-mode=live", "--ttfb-json=r.json", "-p", "no:randomly", *xdist
    )
    result.assert_outcomes(passed=passed)
    return entries_in("r.json")


@pytest.mark.parametrize("stack", ["httpx", "httpx2"])
@pytest.mark.parametrize("xdist", [(), ("-n", "2", "--dist", "loadfile")], ids=["alone", "xdist"])
def test_a_quiet_test_that_watches_a_client_is_reported(
    pytester: pytest.Pytester, local_server: LocalServer, stack: str, xdist: tuple[str, ...]
) -> None:
    pytester.makepyfile(
        CLIENT
        + f"""
def test_before():
    assert True

def test_watches_its_own_client():
    client = pytest_ttfb.watch(STACKS["{stack}"].Client(verify=CONTEXT, http2=True))
    with client:
        for _ in range(3):
            assert client.get(URL + "/ok").status_code == 200

def test_after():  # quiet again: nothing of the previous test's is counted here
    assert True
"""
    )
    result = pytester.runpytest("--ttfb-mode=live", "--ttfb-json=r.json", *xdist)
    result.assert_outcomes(passed=3)
    tests = entries_in("r.json")
    assert set(tests) == {"test_watches_its_own_client"}
    (entry,) = tests["test_watches_its_own_client"]
    assert (entry["attempt"], entry["final"], entry["outcome"]) == (1, True, "passed")
    assert len(entry["requests"]) == 3
    assert sum(r["new_connection"] for r in entry["requests"]) == len(local_server.connections) == 1
    assert {r["when"] for r in entry["requests"]} == {"call"}


def test_a_quiet_test_with_a_runtime_budget_is_judged(
    pytester: pytest.Pytester, local_server: LocalServer
) -> None:
    pytester.makepyfile(
        CLIENT
        + """
def test_breaches_a_budget_it_added(request):
    request.applymarker(pytest.mark.max_ttfb(50))
    with pytest_ttfb.watch(httpx2.Client(verify=CONTEXT)) as client:
        client.get(URL + "/delay/200")

def test_meets_a_budget_it_added(request):
    request.applymarker(pytest.mark.max_new_connections(1))
    with pytest_ttfb.watch(httpx.Client(verify=CONTEXT)) as client:
        client.get(URL + "/ok")
"""
    )
    result = pytester.runpytest("--ttfb-mode=live", "--ttfb-json=r.json")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["pytest-ttfb: max_ttfb(50 ms) breached*"])
    tests = entries_in("r.json")
    assert tests["test_breaches_a_budget_it_added"][0]["verdict"] == "FAIL (budget)"
    assert tests["test_meets_a_budget_it_added"][0]["verdict"] == "pass"
    assert len(local_server.connections) == 2


def test_a_quiet_rerun_keeps_its_attempt_number(
    pytester: pytest.Pytester, local_server: LocalServer
) -> None:
    pytester.makepyfile(
        CLIENT
        + """
RUNS = []

def test_records_on_its_second_attempt():
    RUNS.append(1)
    if len(RUNS) == 1:
        raise AssertionError("first attempt: fails before any request")
    with pytest_ttfb.watch(httpx2.Client(verify=CONTEXT)) as client:
        client.get(URL + "/ok")
"""
    )
    result = pytester.runpytest(
        "--ttfb-mode=live", "--ttfb-json=r.json", "--reruns", "1", "-p", "no:randomly"
    )
    assert result.parseoutcomes()["passed"] == 1
    assert result.parseoutcomes()["rerun"] == 1
    (entry,) = entries_in("r.json")["test_records_on_its_second_attempt"]
    assert (entry["attempt"], entry["final"], entry["outcome"]) == (2, True, "passed")
    assert len(entry["requests"]) == 1


@pytest.mark.parametrize("xdist", [(), ("-n", "2", "--dist", "loadfile")], ids=["alone", "xdist"])
def test_a_quiet_tests_unfinished_request_is_adopted_at_the_end(
    pytester: pytest.Pytester, local_server: LocalServer, xdist: tuple[str, ...]
) -> None:
    # The client is instrumented by an earlier test; the quiet test only uses it, from a
    # thread whose request outlives the session: found in flight, given to that test.
    pytester.makepyfile(
        INSTRUMENTED_FIRST
        + """
def test_quiet_before():
    assert True

def test_quiet_starts_a_hanging_request():
    threading.Thread(target=CLIENTS[0].get, args=(URL + "/delay/20000",), daemon=True).start()
    time.sleep(0.3)

def test_quiet_after():
    assert True
"""
    )
    tests = run_in_order(pytester, xdist, passed=4)
    assert set(tests) == {"test_instruments", "test_quiet_starts_a_hanging_request"}
    (entry,) = tests["test_quiet_starts_a_hanging_request"]
    (request,) = entry["requests"]
    assert (request["late"], request["error"], request["total_ms"]) == (True, "unfinished", None)
    assert (entry["attempt"], entry["final"], entry["outcome"]) == (1, True, "passed")


@pytest.mark.parametrize("xdist", [(), ("-n", "2", "--dist", "loadfile")], ids=["alone", "xdist"])
def test_a_quiet_tests_late_request_stays_its_own(
    pytester: pytest.Pytester, local_server: LocalServer, xdist: tuple[str, ...]
) -> None:
    # A quiet test's request that gets its headers after the test ended lands in the
    # recorder the test ran with: it must be that test's (late), never the next quiet
    # test's, although quiet tests share a recorder while they record nothing.
    pytester.makepyfile(
        INSTRUMENTED_FIRST
        + """
def test_quiet_starts_a_slow_request():
    threading.Thread(target=CLIENTS[0].get, args=(URL + "/delay/300",)).start()
    time.sleep(0.05)

def test_quiet_while_it_ends():
    time.sleep(0.8)  # the slow request's headers arrive meanwhile

def test_quiet_after():
    assert True
"""
    )
    tests = run_in_order(pytester, xdist, passed=4)
    assert set(tests) == {"test_instruments", "test_quiet_starts_a_slow_request"}
    (entry,) = tests["test_quiet_starts_a_slow_request"]
    (request,) = entry["requests"]
    assert (request["late"], request["error"]) == (True, None)
    assert request["ttfb_ms"] >= 300
    assert len(local_server.connections) == 1


def test_a_quiet_test_may_ask_for_the_recorder_at_run_time(
    pytester: pytest.Pytester, local_server: LocalServer
) -> None:
    pytester.makepyfile(
        CLIENT
        + """
def test_asks_for_it(request):
    with pytest_ttfb.watch(httpx2.Client(verify=CONTEXT)) as client:
        client.get(URL + "/ok")  # recorded while still quiet
    ttfb = request.getfixturevalue("ttfb")
    assert len(ttfb.requests) == 1
"""
    )
    tests = run_in_order(pytester, (), passed=1)
    (entry,) = tests["test_asks_for_it"]
    assert len(entry["requests"]) == 1


def test_an_interrupted_quiet_test_keeps_its_records(
    pytester: pytest.Pytester, local_server: LocalServer
) -> None:
    pytester.makepyfile(
        CLIENT
        + """
def test_interrupted():
    with pytest_ttfb.watch(httpx2.Client(verify=CONTEXT)) as client:
        client.get(URL + "/ok")
    raise KeyboardInterrupt  # as Ctrl-C here would
"""
    )
    pytester.runpytest("--ttfb-mode=live", "--ttfb-json=r.json", no_reraise_ctrlc=True)
    (entry,) = entries_in("r.json")["test_interrupted"]
    assert len(entry["requests"]) == 1


PHASES = """
@pytest.fixture
def phases():
    client = pytest_ttfb.watch(httpx2.Client(verify=CONTEXT, timeout=60))
    client.get(URL + "/ok")
    yield client
    client.get(URL + "/ok")
    client.close()

@pytest.fixture
def broken(phases):
    raise RuntimeError("its setup fails after a request")

def test_phases(phases{extra}):
    phases.get(URL + "/ok")

def test_setup_fails(broken{extra}):
    pass
"""


@pytest.mark.parametrize("setup_only", [(), ("--setup-only",)], ids=["run", "setup-only"])
@pytest.mark.parametrize("extra", ["", ", ttfb"], ids=["quiet", "plugin"])
def test_each_record_names_the_phase_it_was_made_in(
    pytester: pytest.Pytester, local_server: LocalServer, extra: str, setup_only: tuple[str, ...]
) -> None:
    # The teardown phase is marked from the report of the phase before it (the call,
    # or a setup that did not pass; under --setup-only, any setup): quiet or not.
    pytester.makepyfile(CLIENT + PHASES.format(extra=extra))
    result = pytester.runpytest(
        "--ttfb-mode=live", "--ttfb-json=r.json", "-p", "no:randomly", *setup_only
    )
    result.assert_outcomes(passed=0 if setup_only else 1, errors=1)
    tests = entries_in("r.json")
    (phases,) = tests["test_phases"]
    expected = ["setup", "teardown"] if setup_only else ["setup", "call", "teardown"]
    assert [r["when"] for r in phases["requests"]] == expected
    (broken,) = tests["test_setup_fails"]
    assert [r["when"] for r in broken["requests"]] == ["setup", "teardown"]
    assert broken["outcome"] == "error"
