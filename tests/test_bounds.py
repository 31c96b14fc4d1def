"""Every number a user gives is finite and within its documented range, or a usage
error (exit 4) naming the option, the ini key or the test and marker: never an
INTERNALERROR, a hang, or ``Infinity`` in the JSON.

Each range is tried just inside (the run goes on), just outside, with inf, nan and an
int too large for a float.
"""

from __future__ import annotations

import json
import socket

import pytest

HUGE = "1" + "0" * 400  # 10**400 written out: float() of it is inf

# (the option or ini key, the value, whether it is accepted, what the error says)
OPTION_CASES = [
    ("--ttfb-rtt", "0", True, ""),
    ("--ttfb-rtt", "10000", True, ""),
    ("--ttfb-rtt", "-0.001", False, "milliseconds in [0, 10000]"),
    ("--ttfb-rtt", "10000.001", False, "milliseconds in [0, 10000]"),
    ("--ttfb-rtt", "1e12", False, "milliseconds in [0, 10000]"),
    ("--ttfb-rtt", "inf", False, "milliseconds in [0, 10000]"),
    ("--ttfb-rtt", "nan", False, "milliseconds in [0, 10000]"),
    ("--ttfb-rtt", HUGE, False, "milliseconds in [0, 10000]"),
    ("--ttfb-jitter", "10000", True, ""),
    ("--ttfb-jitter", "10001", False, "milliseconds in [0, 10000]"),
    ("--ttfb-jitter", "-inf", False, "milliseconds in [0, 10000]"),
    ("--ttfb-jitter", "nan", False, "milliseconds in [0, 10000]"),
    ("--ttfb-budget-scale", "0.000001", True, ""),
    ("--ttfb-budget-scale", "1000", True, ""),
    ("--ttfb-budget-scale", "0", False, "a factor in (0, 1000]"),
    ("--ttfb-budget-scale", "1000.5", False, "a factor in (0, 1000]"),
    ("--ttfb-budget-scale", "inf", False, "a factor in (0, 1000]"),
    ("--ttfb-budget-scale", "nan", False, "a factor in (0, 1000]"),
    ("--ttfb-budget-scale", HUGE, False, "a factor in (0, 1000]"),
]

INI_CASES = [
    ("ttfb_rtt", "10000", True, ""),
    ("ttfb_rtt", "inf", False, "milliseconds in [0, 10000]"),
    ("ttfb_budget_scale", "nan", False, "a factor in (0, 1000]"),
    ("ttfb_max_connections", "1", True, ""),
    ("ttfb_max_connections", "1000000", True, ""),
    ("ttfb_max_connections", "0", False, "a whole number in [1, 1000000]"),
    ("ttfb_max_connections", "1000001", False, "a whole number in [1, 1000000]"),
    ("ttfb_max_connections", "2.5", False, "a whole number in [1, 1000000]"),
    ("ttfb_max_connections", "1e400", False, "a whole number in [1, 1000000]"),
    ("ttfb_max_connections", "nan", False, "a whole number in [1, 1000000]"),
    ("ttfb_max_connections", HUGE, False, "a whole number in [1, 1000000]"),
    ("ttfb_max_keepalive_connections", "1000000", True, ""),
    ("ttfb_max_keepalive_connections", "inf", False, "a whole number in [1, 1000000]"),
    ("ttfb_keepalive_expiry", "0", True, ""),
    ("ttfb_keepalive_expiry", "86400", True, ""),
    ("ttfb_keepalive_expiry", "86400.5", False, "seconds in [0, 86400]"),
    ("ttfb_keepalive_expiry", "-1", False, "seconds in [0, 86400]"),
    ("ttfb_keepalive_expiry", "inf", False, "seconds in [0, 86400]"),
    ("ttfb_connect_timeout", "86400", True, ""),
    ("ttfb_connect_timeout", "nan", False, "seconds in [0, 86400]"),
    ("ttfb_read_timeout", "1e400", False, "seconds in [0, 86400]"),
    ("ttfb_write_timeout", "86401", False, "seconds in [0, 86400]"),
    ("ttfb_pool_timeout", "-0.5", False, "seconds in [0, 86400]"),
]

REGION_CASES = [
    ("a:0", True, ""),
    ("a:10000", True, ""),
    ("a:10000.5", False, "ini key ttfb_regions (a): expected milliseconds in [0, 10000], got"),
    ("a:-1", False, "ini key ttfb_regions (a): expected milliseconds in [0, 10000], got"),
    ("a:inf", False, "ini key ttfb_regions (a): expected milliseconds in [0, 10000], got 'inf'"),
    ("a:nan", False, "ini key ttfb_regions (a): expected milliseconds in [0, 10000], got 'nan'"),
    (f"a:{HUGE}", False, "ini key ttfb_regions (a): expected milliseconds in [0, 10000], got"),
]

ROUTED = """
import pytest

@pytest.fixture
def fast(ttfb_mock):
    ttfb_mock.get("https://api.test/fast").respond(200, json={"ok": True})
"""

SIMPLE_TEST = """
def test_call(fast, ttfb_client):
    assert ttfb_client.get("https://api.test/fast").status_code == 200
"""


def _assert_usage_error(result: pytest.RunResult, message: str) -> None:
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = result.stderr.str()
    assert f"ERROR: {message}" in errors, errors
    assert "INTERNALERROR" not in errors + result.stdout.str()


def _assert_accepted(result: pytest.RunResult) -> None:
    output = result.stderr.str() + result.stdout.str()
    assert "INTERNALERROR" not in output
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize(("flag", "value", "ok", "what"), OPTION_CASES)
def test_option_ranges(
    pytester: pytest.Pytester, flag: str, value: str, ok: bool, what: str
) -> None:
    pytester.makeconftest(ROUTED)
    pytester.makepyfile(SIMPLE_TEST)
    result = pytester.runpytest(f"{flag}={value}")
    if ok:
        _assert_accepted(result)
    else:
        _assert_usage_error(result, f"{flag}: expected {what}, got {value!r}")


@pytest.mark.parametrize(("key", "value", "ok", "what"), INI_CASES)
def test_ini_ranges(pytester: pytest.Pytester, key: str, value: str, ok: bool, what: str) -> None:
    pytester.makeini(f"[pytest]\n{key} = {value}\n")
    pytester.makeconftest(ROUTED)
    pytester.makepyfile(SIMPLE_TEST)
    result = pytester.runpytest()
    if ok:
        _assert_accepted(result)
    else:
        _assert_usage_error(result, f"ini key {key}: expected {what}, got {value!r}")


@pytest.mark.parametrize(("regions", "ok", "message"), REGION_CASES)
def test_region_ranges(pytester: pytest.Pytester, regions: str, ok: bool, message: str) -> None:
    pytester.makeini(f"[pytest]\nttfb_regions = {regions}\n")
    pytester.makeconftest(ROUTED)
    pytester.makepyfile(SIMPLE_TEST)
    result = pytester.runpytest()
    if ok:
        _assert_accepted(result)
    else:
        _assert_usage_error(result, message)


@pytest.mark.parametrize(
    ("value", "ok"),
    [("sure", False), ("perhaps", False), ("true", True), ("false", True), ("0", True)],
)
def test_ini_ttfb_live_names_its_key(pytester: pytest.Pytester, value: str, ok: bool) -> None:
    pytester.makeini(f"[pytest]\nttfb_live = {value}\n")
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest()
    if ok:
        _assert_accepted(result)
    else:
        _assert_usage_error(result, f"ini key ttfb_live: expected true or false, got {value!r}")


def test_ini_ttfb_live_true_means_live_mode(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nttfb_live = yes\n")
    pytester.makepyfile("""
        def test_mode(request):
            assert request.config.stash  # the run happened
    """)
    pytester.makeconftest("""
        def pytest_terminal_summary(config):
            from pytest_ttfb._wire import _SESSION
            print("MODE", config.stash[_SESSION].settings.mode)
    """)
    result = pytester.runpytest("-s")
    result.stdout.fnmatch_lines(["MODE live"])


TOO_BIG = "10**400"

MARKER_CASES = [
    ("max_ttfb(86400000)", True, ""),
    ("max_ttfb(0.001)", True, ""),
    ("max_ttfb(0)", False, "ms must be a number of milliseconds in (0, 86400000], got 0"),
    (
        "max_ttfb(86400000.5)",
        False,
        "ms must be a number of milliseconds in (0, 86400000], got 86400000.5",
    ),
    (
        "max_total(float('inf'))",
        False,
        "ms must be a number of milliseconds in (0, 86400000], got inf",
    ),
    (
        "max_connect(float('nan'))",
        False,
        "ms must be a number of milliseconds in (0, 86400000], got nan",
    ),
    (
        f"max_ttfb({TOO_BIG})",
        False,
        "ms must be a number of milliseconds in (0, 86400000], got 10000000000000000000... "
        "(401 characters)",
    ),
    ("max_new_connections(0)", True, ""),
    ("max_new_connections(1000000)", True, ""),
    ("max_new_connections(-1)", False, "n must be a whole number in [0, 1000000], got -1"),
    (
        "max_new_connections(1000001)",
        False,
        "n must be a whole number in [0, 1000000], got 1000001",
    ),
    (
        f"max_new_connections({TOO_BIG})",
        False,
        "n must be a whole number in [0, 1000000], got 10000000000000000000... (401 characters)",
    ),
    (
        "max_new_connections(float('inf'))",
        False,
        "n must be a whole number in [0, 1000000], got inf",
    ),
    ("max_ttfb(1000, percentile=100)", True, ""),
    ("max_ttfb(1000, percentile=0.001)", True, ""),
    (
        "max_ttfb(1000, percentile=0)",
        False,
        "percentile must be a number in (0, 100], got 0",
    ),
    (
        "max_ttfb(1000, percentile=100.01)",
        False,
        "percentile must be a number in (0, 100], got 100.01",
    ),
    (
        "max_ttfb(1000, percentile=float('nan'))",
        False,
        "percentile must be a number in (0, 100], got nan",
    ),
    (
        f"max_ttfb(1000, percentile={TOO_BIG})",
        False,
        "percentile must be a number in (0, 100], got 10000000000000000000... (401 characters)",
    ),
    # A rule that is not a string, unhashable included (it was an INTERNALERROR).
    (
        "max_first_token(1000, rule=['delta'])",
        False,
        "rule must be one of auto, delta, visible, openai, data, got ['delta']",
    ),
    (
        "max_first_token(1000, rule={'delta': 1})",
        False,
        "rule must be one of auto, delta, visible, openai, data, got {'delta': 1}",
    ),
]


@pytest.mark.parametrize(("marker", "ok", "complaint"), MARKER_CASES)
def test_marker_ranges(pytester: pytest.Pytester, marker: str, ok: bool, complaint: str) -> None:
    pytester.makeconftest(ROUTED)
    pytester.makepyfile(f"""
        import pytest

        @pytest.mark.{marker}
        def test_call(fast, ttfb_client):
            assert ttfb_client.get("https://api.test/fast").status_code == 200
    """)
    result = pytester.runpytest()
    if ok:
        # Accepted: the test ran and was judged (max_ttfb(0.001) is breached, rightly).
        assert "INTERNALERROR" not in result.stderr.str() + result.stdout.str()
        outcomes = result.parseoutcomes()
        assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == 1
        if outcomes.get("failed"):
            result.stdout.fnmatch_lines(["*pytest-ttfb: max_ttfb(0.001 ms) breached*"])
    else:
        name = marker.split("(")[0]
        _assert_usage_error(result, "pytest-ttfb: invalid budget marker")
        assert (
            f"test_marker_ranges.py::test_call: @pytest.mark.{name}: {complaint}"
            in result.stderr.str()
        )


def test_probe_samples_range(pytester: pytest.Pytester) -> None:
    with socket.socket() as s:  # a port nobody listens on: the probe fails fast
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    inside = pytester.runpytest("--ttfb-probe-samples=1000", "--ttfb-probe", dead)
    assert inside.ret == 1  # ran, and the URL did not answer
    inside.stdout.fnmatch_lines([f"{dead}  error: ConnectError*"])
    for value in ("0", "1001"):
        result = pytester.runpytest(f"--ttfb-probe-samples={value}", "--ttfb-probe", dead)
        _assert_usage_error(
            result, f"--ttfb-probe-samples: expected a whole number in [1, 1000], got {value}"
        )


def test_json_report_is_strict_json_at_the_largest_scale(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(ROUTED)
    pytester.makepyfile("""
        import pytest

        @pytest.mark.max_ttfb(86400000, percentile=100)
        def test_call(fast, ttfb_client):
            assert ttfb_client.get("https://api.test/fast").status_code == 200
    """)
    result = pytester.runpytest("--ttfb-budget-scale=1000", "--ttfb-json=out.json")
    result.assert_outcomes(passed=1)
    text = (pytester.path / "out.json").read_text()

    def refuse(constant: str) -> float:
        raise AssertionError(f"{constant} in the JSON")

    document = json.loads(text, parse_constant=refuse)
    assert document["run"]["budget_scale"] == 1000
    assert document["tests"][0]["budgets"][0]["limit"] == 86_400_000_000
