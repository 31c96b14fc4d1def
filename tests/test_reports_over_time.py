"""Latency over time: the summary at every terminal width, --ttfb-report, HAR and HTML
from a run, saved runs, comparisons and regression gates, end to end through pytester."""

import json
import re

import pytest
from jsonschema import validate

from pytest_ttfb.report.document import load_schema

ROUTES = """
import os
import pytest

LATENCY = float(os.environ.get("ROUTE_LATENCY_MS", "5"))

@pytest.fixture
def routes(ttfb_mock):
    ttfb_mock.get("https://api.test/items/123", latency=LATENCY).respond(200, json={})
    return ttfb_mock
"""
TEST = """
@pytest.mark.max_ttfb(60000)
def test_a_rather_long_name_for_a_test_of_the_items_endpoint_{i}(routes, ttfb_client):
    for _ in range(25):
        ttfb_client.get("https://api.test/items/123")
"""


def make_suite(pytester: pytest.Pytester, tests: int = 2) -> None:
    """Two tests of 25 requests each to one route, its latency from the environment."""
    pytester.makepyfile(
        test_items=ROUTES + "".join(TEST.replace("{i}", str(i)) for i in range(tests))
    )


@pytest.mark.parametrize("columns", [60, 80, 120, 200])
def test_the_summary_fits_the_terminal(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, columns: int
) -> None:
    monkeypatch.setenv("COLUMNS", str(columns))
    make_suite(pytester)
    result = pytester.runpytest()
    result.assert_outcomes(passed=2)
    summary = result.stdout.str().split("- pytest-ttfb -")[1].split("\n=")[0]
    lines = summary.splitlines()[1:]
    assert lines
    assert all(len(line) <= columns for line in lines), lines
    header = next(line for line in lines if line.startswith("test "))
    assert header.split()[-1] == "verdict"
    rows = [line for line in lines if "_endpoint_" in line]
    assert len(rows) == 2
    assert all(row.endswith("pass") for row in rows)
    if columns >= 200:  # nothing dropped, nothing shortened
        assert "budget" in header
        assert "1st token" in header
        assert "test_items.py::test_a_rather_long_name" in rows[0]
    if columns <= 80:  # the ids lose their start, never their end
        assert all("..." in row and "_endpoint_" in row for row in rows)


@pytest.mark.parametrize(
    ("style", "table", "one_line"),
    [("full", True, False), ("short", False, True), ("none", False, False)],
)
def test_report_styles(pytester: pytest.Pytester, style: str, table: bool, one_line: bool) -> None:
    make_suite(pytester)
    pytester.makepyfile(
        test_breach="""
        import pytest

        @pytest.mark.max_ttfb(1)
        def test_over(ttfb_mock, ttfb_client):
            ttfb_mock.get("https://api.test/slow", latency=50).respond(200)
            ttfb_client.get("https://api.test/slow")
        """
    )
    result = pytester.runpytest(f"--ttfb-report={style}", "--ttfb-no-budgets")
    result.assert_outcomes(passed=3)
    out = result.stdout.str()
    assert ("_endpoint_0 " in out) is table  # passing tests' rows: full only
    assert ("3 test(s), 51 request(s), 1 over budget" in out) is one_line
    assert ("test_over" in out.split("short test summary")[0]) is (style != "none")


def test_bad_report_style_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--ttfb-report=loud")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --ttfb-report: expected one of full, short, none*"])


def test_har_and_html_from_a_run(pytester: pytest.Pytester) -> None:
    make_suite(pytester)
    result = pytester.runpytest("--ttfb-har=out/run.har", "--ttfb-html=out/run.html")
    result.assert_outcomes(passed=2)
    har = json.loads((pytester.path / "out" / "run.har").read_text())
    assert har["log"]["version"] == "1.2"
    assert len(har["log"]["pages"]) == 2
    assert len(har["log"]["entries"]) == 50
    assert all(entry["request"]["headers"] == [] for entry in har["log"]["entries"])
    html = (pytester.path / "out" / "run.html").read_text()
    assert html.count('data-nodeid="test_items.py::') == 2
    result.stdout.fnmatch_lines(["HAR file: out/run.har", "HTML report: out/run.html"])


def test_every_option_has_an_ini_key_except_save_compare_and_probe(
    pytester: pytest.Pytester,
) -> None:
    help_text = pytester.runpytest("--help").stdout.str()
    flags = set(re.findall(r"--ttfb-[a-z-]+", help_text))
    without_ini = {"--ttfb-save", "--ttfb-compare", "--ttfb-probe", "--ttfb-probe-samples"}
    for flag in sorted(flags - without_ini):
        ini = flag.removeprefix("--").replace("-", "_")
        assert re.search(rf"^  {ini} \(", help_text, re.MULTILINE), flag


def run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, latency: float, *args: str):
    monkeypatch.setenv("ROUTE_LATENCY_MS", str(latency))
    return pytester.runpytest("--ttfb-storage=baselines", *args)


def test_save_then_compare_fail_triggers_on_a_slower_route_and_not_on_the_same(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_suite(pytester)
    first = run(pytester, monkeypatch, 5, "--ttfb-save=base")
    first.assert_outcomes(passed=2)
    (saved,) = (pytester.path / "baselines").glob("*/0001_base.json")
    document = json.loads(saved.read_text())
    validate(document, load_schema())

    # The same latency: within 100 % at p95 (25 samples a test), no regression.
    same = run(pytester, monkeypatch, 5, "--ttfb-compare", "--ttfb-compare-fail=ttfb:p95:100%")
    same.assert_outcomes(passed=2)
    assert same.ret == pytest.ExitCode.OK
    same.stdout.fnmatch_lines(["compared with *0001_base.json", "gate ttfb:p95:100%: 2 ok"])

    # Forty times the latency: a regression, the session fails, each test is named.
    slow = run(pytester, monkeypatch, 200, "--ttfb-compare-fail=ttfb:p95:100%")
    slow.assert_outcomes(passed=2)
    assert slow.ret == pytest.ExitCode.TESTS_FAILED
    out = slow.stdout.str()
    assert out.count("regression") >= 2
    assert "test_a_rather_long_name_for_a_test_of_the_items_endpoint_0" in out
    assert "2 regression(s) against" in out

    # --ttfb-no-budgets reports the breach without failing.
    lenient = run(
        pytester, monkeypatch, 200, "--ttfb-compare-fail=ttfb:p95:100%", "--ttfb-no-budgets"
    )
    assert lenient.ret == pytest.ExitCode.OK
    assert "2 regression(s) against" in lenient.stdout.str()
    assert "(not enforced: --ttfb-no-budgets)" in " ".join(lenient.stdout.str().split())


def test_gates_from_the_ini_file_and_p99_needs_a_hundred_samples(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_suite(pytester)
    run(pytester, monkeypatch, 5, "--ttfb-save=base").assert_outcomes(passed=2)
    pytester.makeini("[pytest]\nttfb_compare_fail =\n    ttfb:p99:1%\n    new_connections:+0\n")
    result = run(pytester, monkeypatch, 200)
    assert result.ret == pytest.ExitCode.OK  # p99 over 25 samples is not judged
    result.stdout.fnmatch_lines(
        [
            "gate ttfb:p99:1%: 2 insufficient",
            "*insufficient (n=25)",
            "gate new_connections:+0: 2 ok",
        ]
    )


def test_no_baseline_is_a_warning_and_exit_zero(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_suite(pytester)
    result = run(pytester, monkeypatch, 5, "--ttfb-compare-fail=ttfb:p95:10%")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["WARNING: no saved run to compare with under baselines*"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ttfb-compare-fail=ttfb:p42:10%"], "ERROR: --ttfb-compare-fail: *ttfb:p42:10%*"),
        (["--ttfb-compare=nothing-saved"], "ERROR: --ttfb-compare: *'nothing-saved'*no saved run*"),
    ],
)
def test_bad_gates_and_baselines_are_usage_errors(
    pytester: pytest.Pytester, args: list[str], message: str
) -> None:
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest("--ttfb-storage=baselines", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
