"""A test's records through its life: reruns (pytest-rerunfailures), teardown requests,
requests that outlive their test, budget markers added at run time, and a verdict
column that follows the test's outcome; with and without pytest-xdist."""

import json
import xml.etree.ElementTree as ET

import pytest

ROUTES = """
import threading
import time

import pytest

@pytest.fixture
def routes(ttfb_mock):
    ttfb_mock.get("https://api.test/slow", latency=150).respond(200)
    ttfb_mock.get("https://api.test/fast").respond(200)
    ttfb_mock.get("https://api.test/hang", latency=20000).respond(200)
    return ttfb_mock
"""

FLAKY = """
ATTEMPTS = []

@pytest.mark.max_ttfb(100)
def test_flaky(routes, ttfb_client, ttfb):
    # The first attempt breaches the budget, the second is fast.
    ATTEMPTS.append(1)
    ttfb_client.get("https://api.test/slow" if len(ATTEMPTS) == 1 else "https://api.test/fast")
    assert len(ttfb.requests) == 1  # this attempt's own records only
"""


def entries_by_name(path: str) -> dict[str, list[dict]]:
    with open(path) as handle:
        document = json.load(handle)
    tests: dict[str, list[dict]] = {}
    for entry in document["tests"]:
        tests.setdefault(entry["nodeid"].split("::")[1], []).append(entry)
    return tests


def warnings_of(result: pytest.RunResult) -> dict[str, int]:
    outcomes = result.parseoutcomes()
    return {key: outcomes[key] for key in ("warnings",) if key in outcomes}


@pytest.mark.parametrize("xdist", [(), ("-n", "2")], ids=["alone", "xdist"])
def test_a_rerun_attempt_is_judged_on_its_own_requests(
    pytester: pytest.Pytester, xdist: tuple[str, ...]
) -> None:
    pytester.makepyfile(ROUTES + FLAKY)
    result = pytester.runpytest(
        "--reruns", "1", "--ttfb-json=r.json", "--junitxml=j.xml", "-p", "no:randomly", *xdist
    )
    assert result.parseoutcomes() == {"passed": 1, "rerun": 1, **warnings_of(result)}
    (first, second) = sorted(entries_by_name("r.json")["test_flaky"], key=lambda t: t["attempt"])
    assert (first["attempt"], first["final"], first["outcome"]) == (1, False, "failed")
    assert first["verdict"] == "FAIL (budget)"
    assert [r["url"] for r in first["requests"]] == ["https://api.test/slow"]
    assert (second["attempt"], second["final"], second["outcome"]) == (2, True, "passed")
    assert second["verdict"] == "pass"
    assert [r["url"] for r in second["requests"]] == ["https://api.test/fast"]
    # The table shows the final attempt, once.
    summary = result.stdout.str().split("- pytest-ttfb -")[1]
    assert summary.count("::test_flaky") == 1
    result.stdout.fnmatch_lines(["*::test_flaky (attempt 2 of 2) * 1 * max_ttfb(100 ms) * pass"])
    # JUnit: the final attempt's properties, once.
    junit = ET.parse(pytester.path / "j.xml").getroot()
    values = {p.get("name"): p.get("value") for p in junit.iter("property")}
    assert [p.get("name") for p in junit.iter("property")].count("ttfb_requests") == 1
    assert values["ttfb_verdict"] == "pass"


def test_without_reruns_a_breach_still_fails(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(ROUTES + FLAKY)
    result = pytester.runpytest("--ttfb-json=r.json")
    result.assert_outcomes(failed=1)
    (only,) = entries_by_name("r.json")["test_flaky"]
    assert (only["attempt"], only["final"], only["outcome"]) == (1, True, "failed")


@pytest.mark.parametrize("xdist", [(), ("-n", "2")], ids=["alone", "xdist"])
def test_teardown_requests_are_reported_not_judged(
    pytester: pytest.Pytester, xdist: tuple[str, ...]
) -> None:
    pytester.makepyfile(
        ROUTES
        + """
@pytest.fixture
def session_log(routes, ttfb_client):
    yield
    ttfb_client.get("https://api.test/slow")  # a finalizer's request: over budget

@pytest.mark.max_ttfb(100)
def test_with_a_finalizer(session_log, ttfb_client):
    ttfb_client.get("https://api.test/fast")

def test_only_teardown(session_log):
    pass
"""
    )
    result = pytester.runpytest("--ttfb-json=r.json", "--junitxml=j.xml", *xdist)
    result.assert_outcomes(passed=2)  # the slow teardown request is not judged
    tests = entries_by_name("r.json")
    (judged,) = tests["test_with_a_finalizer"]
    assert [(r["url"], r["when"]) for r in judged["requests"]] == [
        ("https://api.test/fast", "call"),
        ("https://api.test/slow", "teardown"),
    ]
    assert judged["verdict"] == "pass"
    (listed,) = tests["test_only_teardown"]
    assert [r["when"] for r in listed["requests"]] == ["teardown"]
    result.stdout.fnmatch_lines(["*::test_only_teardown * 1 * 0 *"])
    junit = ET.parse(pytester.path / "j.xml").getroot()
    cases = {case.get("name"): case for case in junit.iter("testcase")}
    for name, count in [("test_with_a_finalizer", "2"), ("test_only_teardown", "1")]:
        properties = {p.get("name"): p.get("value") for p in cases[name].iter("property")}
        assert properties["ttfb_requests"] == count


# One worker runs the file (loadfile): the next test keeps it busy while the request ends.
@pytest.mark.parametrize("xdist", [(), ("-n", "2", "--dist", "loadfile")], ids=["alone", "xdist"])
def test_late_requests_belong_to_the_test_that_started_them(
    pytester: pytest.Pytester, xdist: tuple[str, ...]
) -> None:
    pytester.makepyfile(
        ROUTES
        + """
@pytest.mark.max_ttfb(100)
def test_starts_in_background(routes, ttfb_client):
    ttfb_client.get("https://api.test/fast")
    # Finishes after this test: late, listed here, never judged.
    threading.Thread(target=ttfb_client.get, args=("https://api.test/slow",)).start()

def test_next(routes, ttfb_client, ttfb):
    time.sleep(0.5)  # the background request ends meanwhile
    assert ttfb.requests == []

def test_never_finishes(routes, ttfb_client):
    threading.Thread(
        target=ttfb_client.get, args=("https://api.test/hang",), daemon=True
    ).start()
    time.sleep(0.05)
"""
    )
    result = pytester.runpytest("--ttfb-json=r.json", "-p", "no:randomly", *xdist)
    result.assert_outcomes(passed=3)
    tests = entries_by_name("r.json")
    (started,) = tests["test_starts_in_background"]
    by_url = {r["url"]: r for r in started["requests"]}
    assert by_url["https://api.test/fast"]["late"] is False
    late = by_url["https://api.test/slow"]
    assert late["late"] is True
    assert late["error"] is None
    assert late["ttfb_ms"] >= 150
    assert started["verdict"] == "pass"
    assert "test_next" not in tests  # nothing of the other test's is counted here
    (hung,) = tests["test_never_finishes"]
    (unfinished,) = hung["requests"]
    assert unfinished["late"] is True
    assert unfinished["error"] == "unfinished"
    assert unfinished["total_ms"] is None


def test_runtime_budget_markers_are_judged(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        ROUTES
        + """
def test_added_at_run_time(request, routes, ttfb_client):
    request.applymarker(pytest.mark.max_ttfb(100))
    ttfb_client.get("https://api.test/slow")

def test_added_and_met(request, routes, ttfb_client):
    request.applymarker(pytest.mark.max_ttfb(1000))
    ttfb_client.get("https://api.test/fast")

def test_bad_runtime_marker(request, routes, ttfb_client):
    request.applymarker(pytest.mark.max_ttfb("fast"))
    ttfb_client.get("https://api.test/fast")

def test_unaffected(routes, ttfb_client):
    ttfb_client.get("https://api.test/fast")
"""
    )
    result = pytester.runpytest("--ttfb-json=r.json")
    # A bad runtime marker fails its own test only: no usage error for the session.
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*_ test_added_at_run_time _*",
            "pytest-ttfb: max_ttfb(100 ms) breached",
            "*_ test_bad_runtime_marker _*",
            "pytest-ttfb: invalid budget marker added at run time: @pytest.mark.max_ttfb: "
            "ms must be a number of milliseconds in (0, 86400000], got 'fast'",
        ]
    )
    tests = entries_by_name("r.json")
    assert tests["test_added_at_run_time"][0]["verdict"] == "FAIL (budget)"
    assert tests["test_added_and_met"][0]["budgets"][0]["status"] == "pass"
    assert tests["test_bad_runtime_marker"][0]["verdict"] == "FAIL (marker)"


def test_verdict_column_never_contradicts_the_outcome(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        ROUTES
        + """
@pytest.mark.max_ttfb(1000)
def test_body_fails(routes, ttfb_client):
    ttfb_client.get("https://api.test/fast")
    assert False, "the body's own check"

@pytest.mark.max_ttfb(100)
def test_both_fail(routes, ttfb_client):
    ttfb_client.get("https://api.test/slow")
    assert False

def test_unmatched(routes, ttfb_client):
    try:
        ttfb_client.get("https://elsewhere.test/")
    except Exception:
        pass  # swallowed by the code under test

@pytest.fixture
def broken_setup(routes, ttfb_client):
    ttfb_client.get("https://api.test/fast")
    raise RuntimeError("setup broke")

@pytest.mark.max_ttfb(1000)
def test_setup_error(broken_setup):
    pass

@pytest.mark.max_ttfb(1000)
@pytest.mark.xfail(reason="known")
def test_xfail(routes, ttfb_client):
    ttfb_client.get("https://api.test/fast")
    assert False

@pytest.mark.max_ttfb(1000)
def test_passes(routes, ttfb_client):
    ttfb_client.get("https://api.test/fast")
"""
    )
    result = pytester.runpytest("--ttfb-json=r.json")
    result.assert_outcomes(passed=1, failed=3, errors=1, xfailed=1)
    result.stdout.fnmatch_lines(
        [
            "*::test_body_fails * max_ttfb(1000 ms) * FAIL (test)",
            "*::test_both_fail * max_ttfb(100 ms) * FAIL (budget, test)",
            "*::test_unmatched * FAIL (unmatched)",
            "*::test_setup_error * ERROR",
            "*::test_xfail * xfailed",
            "*::test_passes * pass",
        ]
    )
    tests = entries_by_name("r.json")
    assert {name: entries[0]["outcome"] for name, entries in tests.items()} == {
        "test_body_fails": "failed",
        "test_both_fail": "failed",
        "test_unmatched": "failed",
        "test_setup_error": "error",
        "test_xfail": "xfailed",
        "test_passes": "passed",
    }


def test_a_final_attempt_that_recorded_nothing_leaves_no_earlier_one_final(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        ROUTES
        + """
RUNS = []

def test_fails_twice_then_passes_without_a_request(routes, ttfb_client):
    RUNS.append(1)
    if len(RUNS) < 3:
        ttfb_client.get("https://api.test/fast")
        raise AssertionError(f"attempt {len(RUNS)} fails")
"""
    )
    result = pytester.runpytest("--reruns", "2", "--ttfb-json=r.json", "-p", "no:randomly")
    assert result.parseoutcomes()["passed"] == 1
    entries = entries_by_name("r.json")["test_fails_twice_then_passes_without_a_request"]
    listed = sorted((e["attempt"], e["final"], e["outcome"]) for e in entries)
    assert listed == [(1, False, "failed"), (2, False, "failed")]
