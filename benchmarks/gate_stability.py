"""Is a ``--ttfb-compare-fail`` gate stable on this machine, and does it still catch a
regression?

Each trial, in a fresh temporary folder: run a small emulate-mode suite with
``--ttfb-save=base`` (the baseline), then the very same suite again with
``--ttfb-compare`` and the gate under test (``--gate``, repeatable; default ``GATE``).
Two identical runs must pass: the script records pytest's exit code (1 on a regression)
and the gate lines printed under "pytest-ttfb reports". Every comparison run also keeps
its JSON (``--ttfb-json``), so the candidate gate sets in ``CANDIDATES`` are judged
offline on the same pairs of runs by the console script (``pytest-ttfb compare``, the
same code as the plugin's gate), and the worst before -> after of each gate's statistic
is reported.

Then the regression checks (``--regression-trials``, default 3 each): the comparison run
changes one thing, and the gate must fail every time:

- ``latency``: the route's latency goes from 20 ms to 70 ms;
- ``new-client``: a new ``httpx2.Client`` per request (``ttfb.watch(httpx2.Client())``)
  instead of the pooled ``ttfb_client``, so every request pays a new connection (the
  test's own ``max_new_connections(1)`` budget fails it too; the table says which gates
  flagged it).

The suite: ``test_pooled_route`` makes 30 requests on the pooled ``ttfb_client`` to a
``ttfb_mock`` route with ``latency=20``; ``test_streamed_messages`` makes 25 streamed
Anthropic calls (``anthropic_client.messages.stream``) against
``ttfb_mock.messages(first_token=30, token_interval=5)``. Both carry
``max_new_connections(1)``. Enough samples for p95 (20), not for p99 (100).

    python benchmarks/gate_stability.py --trials 20
    python benchmarks/gate_stability.py --trials 5 --gate ttfb:p50:10% --gate new_connections:+0

Needs pytest-ttfb installed with its ``[all]`` extras in the interpreter running it
(or the one named by ``--python``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_ttfb.baseline.gates import METRICS
from pytest_ttfb.stats import enough_samples

GATE = ("ttfb:p50:25%", "first_token:p50:25%", "new_connections:+0")
"""The gate the comparison runs use unless ``--gate`` is given: the set that passed 40
identical pairs out of 40 on a loaded 2-core machine (p50 rose by at most 15.5%, first
token p50 by 7.4%). A warm p95 gate did not: the p95 of 24 streamed calls rose by up to
113% (+36.5 ms) from scheduling noise alone, more than a +50 ms regression adds.
"""

CANDIDATES = {
    "tight": ("ttfb:p50:10%", "ttfb.warm:p95:20%", "first_token:p50:10%", "new_connections:+0"),
    "brief": ("ttfb:p50:25%", "ttfb.warm:p95:50%", "first_token:p50:25%", "new_connections:+0"),
    "p95-100%": ("ttfb:p50:25%", "ttfb.warm:p95:100%", "first_token:p50:25%", "new_connections:+0"),
    "chosen": GATE,
    "loose": ("ttfb:p50:50%", "ttfb.warm:p95:100%", "first_token:p50:50%", "new_connections:+0"),
    "ms": ("ttfb:p50:10ms", "ttfb.warm:p95:25ms", "first_token:p50:10ms", "new_connections:+0"),
}
"""Gate sets judged offline on every trial's pair of runs, tightest first."""

SUITE = """
import os

import httpx2
import pytest

LATENCY = int(os.environ.get("GATE_LATENCY", "20"))
NEW_CLIENT = os.environ.get("GATE_NEW_CLIENT") == "1"
URL = "https://inventory.example/items"


@pytest.mark.max_new_connections(1)
def test_pooled_route(ttfb_mock, ttfb_client, ttfb):
    ttfb_mock.get(URL, latency=LATENCY).respond(200, json=[])
    for _ in range(30):
        if NEW_CLIENT:
            with ttfb.watch(httpx2.Client()) as client:
                client.get(URL).raise_for_status()
        else:
            ttfb_client.get(URL).raise_for_status()


@pytest.mark.max_new_connections(1)
def test_streamed_messages(ttfb_mock, anthropic_client):
    ttfb_mock.messages(first_token=30, token_interval=5, text="one two three four five")
    for turn in range(25):
        with anthropic_client.messages.stream(
            model="claude-sonnet-4-5",
            max_tokens=64,
            messages=[{"role": "user", "content": f"step {turn}"}],
        ) as stream:
            for _ in stream.text_stream:
                pass
"""

PYTEST_INI = """[pytest]
filterwarnings =
    ignore::DeprecationWarning
"""

REGRESSIONS = {
    "latency": {"GATE_LATENCY": "70"},
    "new-client": {"GATE_NEW_CLIENT": "1"},
}


@dataclass
class Trial:
    """One baseline + comparison pair."""

    kind: str  # "same", or a key of REGRESSIONS
    number: int
    exit_code: int
    gate_lines: list[str]
    seconds: float
    # gate expression -> [(nodeid, before, after)] for the statistics that were judged
    values: dict[str, list[tuple[str, float, float]]] = field(default_factory=dict)
    # candidate name -> exit code of ``pytest-ttfb compare`` on this pair
    offline: dict[str, int] = field(default_factory=dict)
    flagged: list[str] = field(default_factory=list)  # gates that found a regression


def run_pytest(
    python: str, suite: Path, args: list[str], env_extra: dict[str, str]
) -> tuple[int, str]:
    env = {**os.environ, **env_extra, "COLUMNS": "200"}
    env.pop("PYTEST_ADDOPTS", None)
    command = [python, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(suite), *args]
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=suite)
    return done.returncode, done.stdout + done.stderr


def reports_section(output: str) -> list[str]:
    """The lines under the "pytest-ttfb reports" rule, up to pytest's last line."""
    lines = output.splitlines()
    for index, line in enumerate(lines):
        if "pytest-ttfb reports" in line:
            return [x for x in lines[index + 1 :] if x and not x.startswith("=")][:-1]
    return []


def is_gate_line(line: str) -> bool:
    """A gate's summary, a test's verdict that is not ok, the regression count or a
    warning that the runs are not comparable."""
    return line.startswith(("gate ", "pytest-ttfb:", "WARNING")) or (
        "threshold" in line and line.rsplit(": ", 1)[-1] != "ok"
    )


def judged_values(gate: str, before: dict[str, Any], after: dict[str, Any]) -> list[tuple]:
    """(nodeid, before, after) of the gate's statistic for each test both runs have and
    with enough samples (the gate's own rule), read from the two format-2 documents."""
    old = {t["nodeid"]: t for t in before["tests"]}
    out = []
    for test in after["tests"]:
        base = old.get(test["nodeid"])
        if base is None:
            continue
        if gate.startswith("new_connections"):
            out.append((test["nodeid"], float(base["new_connections"]), test["new_connections"]))
            continue
        metric, stat, _ = gate.split(":")
        name, _, subset = metric.partition(".")
        block = "stats_" + subset if subset else "stats"
        key = METRICS[name]
        a, b = base[block].get(key) or {}, test[block].get(key) or {}
        n = min(a.get("count", 0), b.get("count", 0))
        if enough_samples(stat, n) and a.get(stat) is not None and b.get(stat) is not None:
            out.append((test["nodeid"], a[stat], b[stat]))
    return out


def trial(
    python: str, gates: list[str], rtt: int, kind: str, number: int, candidates: dict
) -> Trial:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ttfb-gate-") as tmp:
        suite, storage = Path(tmp) / "suite", Path(tmp) / "storage"
        suite.mkdir()
        (suite / "test_gate_suite.py").write_text(SUITE)
        (suite / "pytest.ini").write_text(PYTEST_INI)
        common = ["--ttfb-mode=emulate", f"--ttfb-rtt={rtt}", f"--ttfb-storage={storage}"]
        code, output = run_pytest(python, suite, [*common, "--ttfb-save=base"], {})
        if code != 0:
            raise SystemExit(f"the baseline run failed (exit {code}):\n{output}")
        saved = sorted(storage.rglob("*_base.json"))
        current = Path(tmp) / "current.json"
        args = [*common, "--ttfb-compare", f"--ttfb-json={current}"]
        args += [f"--ttfb-compare-fail={gate}" for gate in gates]
        code, output = run_pytest(python, suite, args, REGRESSIONS.get(kind, {}))
        lines = [x.strip() for x in reports_section(output) if is_gate_line(x.strip())]
        result = Trial(kind, number, code, lines, time.perf_counter() - started)
        if not saved or not current.exists():
            raise SystemExit(f"no JSON to compare (exit {code}):\n{output}")
        before, after = json.loads(saved[-1].read_text()), json.loads(current.read_text())
        for gate in {g for s in [gates, *candidates.values()] for g in s}:
            result.values[gate] = judged_values(gate, before, after)
        for name, gate_set in candidates.items():
            command = [python, "-m", "pytest_ttfb.cli", "compare", str(saved[-1]), str(current)]
            command += [f"--fail={gate}" for gate in gate_set]
            done = subprocess.run(command, capture_output=True, text=True)
            result.offline[name] = done.returncode
        result.flagged = [
            line[len("gate ") :].rsplit(":", 1)[0]
            for line in result.gate_lines
            if line.startswith("gate ") and "regression" in line.rsplit(":", 1)[-1]
        ]
    return result


def worst(trials: list[Trial], gate: str) -> str:
    """The largest relative rise of the gate's statistic over the trials and tests."""
    best: tuple[float, str] | None = None
    for t in trials:
        for nodeid, before, after in t.values.get(gate, []):
            absolute = gate.startswith("new_") or not gate.endswith("%")
            rise = after - before if absolute else (after / before - 1) * 100
            name = nodeid.rsplit("::", 1)[-1]
            if gate.startswith("new_"):
                text = f"{before:g} -> {after:g} ({rise:+g}) {name}"
            else:
                text = f"{before:.1f} -> {after:.1f} ms ({rise:+.1f}%) {name}, trial {t.number}"
            if best is None or rise > best[0]:
                best = (rise, text)
    return best[1] if best else "not judged"


def print_trials(trials: list[Trial], gates: list[str], candidates: dict) -> None:
    names = list(candidates)
    header = f"{'trial':>5}  {'exit':>4}  {'gate':<6}  {'s':>5}  " + "  ".join(
        f"{n:>7}" for n in names
    )
    print(header)
    print("-" * len(header))
    for t in trials:
        verdict = "pass" if t.exit_code == 0 else "FAIL"
        offline = "  ".join(f"{'pass' if t.offline[n] == 0 else 'FAIL':>7}" for n in names)
        print(f"{t.number:>5}  {t.exit_code:>4}  {verdict:<6}  {t.seconds:>5.1f}  {offline}")
        for line in t.gate_lines:
            if "regression" in line or "WARNING" in line or t.exit_code != 0:
                print(f"{'':>13}{line}")
    if trials:
        print(f"\ngate lines of trial {trials[0].number}, as printed under pytest-ttfb reports:")
        for line in trials[0].gate_lines:
            print(f"  {line}")
    passed = sum(t.exit_code == 0 for t in trials)
    print(f"\nlive gate {' '.join(gates)}: {passed}/{len(trials)} passed")
    for name in names:
        ok = sum(t.offline[name] == 0 for t in trials)
        print(f"  offline {name:<6} {' '.join(candidates[name])}: {ok}/{len(trials)} passed")
    print("\nworst before -> after per gate (over trials and tests):")
    for gate in dict.fromkeys([*gates, *(g for s in candidates.values() for g in s)]):
        print(f"  {gate:<22} {worst(trials, gate)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=20, help="identical pairs (default 20)")
    parser.add_argument(
        "--regression-trials", type=int, default=3, help="pairs per regression (default 3)"
    )
    parser.add_argument("--gate", action="append", help="a gate expression, repeatable")
    parser.add_argument("--rtt", type=int, default=20, help="--ttfb-rtt in ms (default 20)")
    parser.add_argument("--python", default=sys.executable, help="interpreter with pytest-ttfb")
    parser.add_argument("--json", type=Path, help="also write every trial here")
    args = parser.parse_args(argv)
    gates = args.gate or list(GATE)
    candidates = dict(CANDIDATES)
    print(f"gate: {' '.join(gates)}; RTT {args.rtt} ms; {os.cpu_count()} CPU(s)", flush=True)

    same = []
    for number in range(1, args.trials + 1):
        same.append(trial(args.python, gates, args.rtt, "same", number, candidates))
        t = same[-1]
        print(f"  trial {number}: exit {t.exit_code} ({t.seconds:.1f} s)", flush=True)
    print("\n== two identical runs ==")
    print_trials(same, gates, candidates)

    regressed = []
    for kind in REGRESSIONS:
        print(f"\n== regression: {kind} ==")
        for number in range(1, args.regression_trials + 1):
            t = trial(args.python, gates, args.rtt, kind, number, candidates)
            regressed.append(t)
            offline = " ".join(
                f"{n}={'FAIL' if code == 1 else 'pass'}" for n, code in t.offline.items()
            )
            print(
                f"  trial {number}: exit {t.exit_code}; gates flagged: "
                f"{', '.join(t.flagged) or 'none'}; offline {offline}"
            )
            for line in t.gate_lines:
                if "regression" in line and not line.startswith("gate "):
                    print(f"      {line}")

    if args.json:
        args.json.write_text(json.dumps([t.__dict__ for t in same + regressed], indent=1))
    stable = all(t.exit_code == 0 for t in same)
    caught = all(t.exit_code == 1 and t.flagged for t in regressed)
    print(f"\nstable: {stable}; regressions caught: {caught}")
    return 0 if stable and caught else 1


if __name__ == "__main__":
    sys.exit(main())
