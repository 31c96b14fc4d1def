"""cli: ``pytest-ttfb compare`` in a subprocess, and the comparison it prints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_ttfb.baseline.compare import compare_lines, mismatch_warnings
from pytest_ttfb.report.document import write_document

from .report_data import document, entry, record, ttfb_doc

STEADY = [float(v) for v in range(100, 120)]  # 20 samples: enough for a p95


def run_cli(*args: str, command: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [*(command or [sys.executable, "-m", "pytest_ttfb.cli"]), *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
    )


def write(path: Path, doc: dict[str, Any]) -> str:
    write_document(path, doc)
    return str(path)


@pytest.fixture
def baseline(tmp_path: Path) -> str:
    return write(tmp_path / "a.json", ttfb_doc({"t.py::agent": STEADY, "t.py::quick": [5.0]}))


def test_same_latencies_pass(tmp_path: Path, baseline: str) -> None:
    current = write(tmp_path / "b.json", ttfb_doc({"t.py::agent": STEADY, "t.py::quick": [5.0]}))
    result = run_cli("compare", baseline, current, "--fail=ttfb:p95:20%", "--fail", "ttfb:p50:10ms")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "gate ttfb:p95:20%: 1 insufficient, 1 ok" in result.stdout
    assert "t.py::quick: ttfb p95 5.0 ms -> 5.0 ms (+0.0%), threshold +20%: insufficient (n=1)" in (
        result.stdout
    )
    assert "gate ttfb:p50:10ms: 2 ok" in result.stdout
    assert "regression" not in result.stdout
    assert "WARNING" not in result.stdout


def test_raised_latencies_fail_naming_test_metric_before_after_and_threshold(
    tmp_path: Path, baseline: str
) -> None:
    slower = [v * 1.5 for v in STEADY]
    current = write(tmp_path / "b.json", ttfb_doc({"t.py::agent": slower, "t.py::quick": [5.0]}))
    result = run_cli("compare", baseline, current, "--fail=ttfb:p95:20%")
    assert result.returncode == 1, result.stdout + result.stderr
    line = next(
        line for line in result.stdout.splitlines() if "regression" in line and "::" in line
    )
    assert "t.py::agent" in line
    assert "ttfb p95" in line
    assert "118.0 ms -> 177.0 ms" in line  # before, after
    assert "threshold +20%" in line
    assert "limit 141.6 ms" in line
    assert "1 regression(s)" in result.stdout
    row = next(line for line in result.stdout.splitlines() if line.startswith("t.py::agent"))
    assert row.endswith("worse")  # the table marks it too
    assert row.count(")+") == 2  # ttfb p50 and p95 rose


def test_without_gates_a_comparison_never_fails(tmp_path: Path, baseline: str) -> None:
    slower = [v * 10 for v in STEADY]
    current = write(tmp_path / "b.json", ttfb_doc({"t.py::agent": slower}))
    result = run_cli("compare", baseline, current)
    assert result.returncode == 0
    assert "missing" in result.stdout  # t.py::quick did not run


@pytest.mark.parametrize(
    ("expr", "problem"),
    [
        ("ttfb:p95", "expected METRIC:STAT:THRESHOLD"),
        ("speed:p50:1ms", "unknown metric 'speed'"),
        ("ttfb:p50:nan%", "not a finite number"),
    ],
)
def test_a_bad_expression_is_a_usage_error(
    tmp_path: Path, baseline: str, expr: str, problem: str
) -> None:
    result = run_cli("compare", baseline, baseline, f"--fail={expr}")
    assert result.returncode == 2
    assert repr(expr) in result.stderr
    assert problem in result.stderr
    assert "usage: pytest-ttfb compare" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "cannot be read"),
        ("{broken", "not a JSON report"),
        ('{"format": 1, "mode": "mock", "tests": []}', "a format-1 report"),
    ],
)
def test_an_unreadable_file_is_a_usage_error(
    tmp_path: Path, baseline: str, content: str | None, problem: str
) -> None:
    path = tmp_path / "bad.json"
    if content is not None:
        path.write_text(content)
    result = run_cli("compare", baseline, str(path))
    assert result.returncode == 2
    assert str(path) in result.stderr
    assert problem in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_missing_arguments_are_a_usage_error() -> None:
    result = run_cli("compare", "only-one.json")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_mismatched_runs_warn_loudly(tmp_path: Path, baseline: str) -> None:
    current = write(
        tmp_path / "b.json",
        ttfb_doc({"t.py::agent": STEADY}, mode="mock", rtt_ms=None, plugin_version="0.2.0"),
    )
    result = run_cli("compare", baseline, current)
    assert result.returncode == 0
    warnings = [line for line in result.stdout.splitlines() if line.startswith("WARNING")]
    assert len(warnings) == 3
    assert "mode ('emulate') differs from this run's ('mock')" in warnings[0]


def test_the_console_script_is_installed(tmp_path: Path, baseline: str) -> None:
    script = Path(sys.executable).with_name("pytest-ttfb")
    if not script.exists():
        pytest.skip(f"no console script beside {sys.executable} (not installed with pip?)")
    slower = [v * 2 for v in STEADY]
    current = write(tmp_path / "b.json", ttfb_doc({"t.py::agent": slower, "t.py::quick": [5.0]}))
    result = run_cli("compare", baseline, current, "--fail=ttfb:p50:5%", command=[str(script)])
    assert result.returncode == 1
    assert "t.py::agent: ttfb p50" in result.stdout


def test_mismatch_warnings_name_every_differing_setting() -> None:
    before = ttfb_doc({})
    after = ttfb_doc(
        {},
        mode="live",
        rtt_ms=80.0,
        regions={"eu": 95.0},
        first_token_rule="first byte",
        machine_id="Darwin-CPython-3.12-64bit",
        plugin_version="9.9",
    )
    warnings = mismatch_warnings(before, after)
    labels = ["mode", "RTT (ms)", "regions", "first-token rule", "machine id", "plugin version"]
    assert len(warnings) == len(labels)
    for label, warning in zip(labels, warnings, strict=True):
        assert f"baseline's {label} (" in warning
    assert mismatch_warnings(before, json.loads(json.dumps(before))) == []


def test_compare_lines_mark_what_got_worse_and_new_tests() -> None:
    before = document(
        [
            entry("t.py::same", [record(10.0)]),
            entry("t.py::slower", [record(10.0, first_token_ms=50.0)]),
            entry("t.py::gone", [record(10.0)]),
        ]
    )
    after = document(
        [
            entry("t.py::same", [record(10.0)]),
            entry("t.py::slower", [record(15.0, first_token_ms=40.0)]),
            entry("t.py::added", [record(10.0)]),
        ]
    )
    lines = compare_lines(before, after)
    header, rows = lines[1], {line.split()[0]: line for line in lines[2:]}
    for heading in ("test", "ttfb p50", "ttfb p95", "1st token p50", "new conn", "change"):
        assert heading in header
    assert rows["t.py::same"].endswith("0 (+0)")  # nothing worse, nothing marked
    assert "+" not in rows["t.py::same"].replace("(+", "")
    assert "15.0 (+5.0)+" in rows["t.py::slower"]
    assert "40.0 (-10.0)" in rows["t.py::slower"]
    assert rows["t.py::slower"].endswith("worse")
    assert rows["t.py::slower"].count(")+") == 1  # p95 over 1 sample: not called
    assert "15.0 (+5.0)~" in rows["t.py::slower"]
    assert rows["t.py::added"].endswith("new")
    assert rows["t.py::gone"].endswith("missing")


def test_compare_lines_shorten_test_ids_from_the_left_to_fit() -> None:
    nodeid = "tests/integration/deeply/nested/test_agent_loop.py::test_many_turns[claude]"
    doc = ttfb_doc({nodeid: [10.0]})
    wide = compare_lines(doc, doc)
    narrow = compare_lines(doc, doc, width=80)
    assert nodeid in wide[2]
    assert all(len(line) <= 80 for line in narrow[1:])
    assert narrow[2].startswith("...")
    shown = narrow[2].split()[0]
    assert nodeid.endswith(shown[3:])
    assert len(shown) < len(nodeid)
