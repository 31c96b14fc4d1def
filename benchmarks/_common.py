"""Helpers for ``benchmarks/run.py``: statistics, the machine, generated pytest runs.

Everything here drives pytest-ttfb through its public surface only (the ``pytest11``
entry point, its fixtures and command-line options, ``pytest_ttfb.watch``), so that
moving modules inside the package does not break the benchmarks.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

PYTEST_INI = """[pytest]
asyncio_default_fixture_loop_scope = function
{extra}
"""

# A snippet generated tests import to read the process's memory.
RSS_HELPER = '''
import gc
import resource


def rss_kib():
    """Resident set size now, KiB (Linux /proc; else the peak from getrusage)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def peak_kib():
    """Peak resident set size of this process so far, KiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
'''


def spread(samples: list[float]) -> dict[str, float]:
    """min, max and, from 10 samples on, the 5th and 95th percentiles."""
    values = sorted(samples)
    out: dict[str, float] = {"n": len(values)}
    if not values:
        return out
    out["min"], out["max"] = values[0], values[-1]
    if len(values) >= 10:
        cuts = statistics.quantiles(values, n=20, method="inclusive")
        out["p5"], out["p95"] = cuts[0], cuts[-1]
    return out


@dataclass
class Row:
    """One line of the table (and one entry of the JSON)."""

    name: str
    what: str
    unit: str  # "x" for a ratio, "ms", "MiB"
    samples: list[float]
    target: float | None
    target_text: str
    # Lower is better for every figure here; ``met`` is None when there is no target.
    met: bool | None = None
    median: float | None = None
    spread: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.samples:
            self.median = statistics.median(self.samples)
            self.spread = spread(self.samples)
        if self.met is None and self.target is not None and self.median is not None:
            self.met = self.median <= self.target

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "x":
        return f"x{value:.3f}"
    if abs(value) >= 100:
        return f"{value:.0f} {unit}"
    return f"{value:.1f} {unit}"


def spread_text(row: Row) -> str:
    s = row.spread
    if "min" not in s:
        return "-"

    def f(v: float) -> str:
        return f"{v:.3f}" if row.unit == "x" else f"{v:.1f}"

    text = f"{f(s['min'])}-{f(s['max'])}"
    if "p5" in s:
        text += f" (p5-p95 {f(s['p5'])}-{f(s['p95'])})"
    return text + f" n={int(s['n'])}"


def table(rows: list[Row]) -> str:
    header = ("row", "what", "median", "spread (min-max, p5-p95)", "target", "verdict")
    lines = []
    cells = []
    for row in rows:
        verdict = {True: "met", False: "MISSED", None: "-"}[row.met]
        cells.append(
            (
                row.name,
                row.what,
                fmt(row.median, row.unit),
                spread_text(row),
                row.target_text,
                verdict,
            )
        )
    widths = [max(len(str(c[i])) for c in [header, *cells]) for i in range(len(header))]
    for cell in [header, *cells]:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(cell, widths, strict=True)))
        if cell is header:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for name in (
        "pytest-ttfb",
        "pytest",
        "httpx",
        "httpx2",
        "httpcore",
        "httpcore2",
        "respx",
        "h2",
        "hypercorn",
        "anthropic",
        "pytest-asyncio",
    ):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "nproc": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu": cpu,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "loadavg_at_start": load,
        "packages": versions,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
    }


class Workdir:
    """A temporary pytest rootdir of its own (the repository's conftest and pytest
    settings stay out of the measurement)."""

    def __init__(self, ini_extra: str = "") -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="ttfb-bench-")
        self.path = Path(self._tmp.name)
        (self.path / "pytest.ini").write_text(PYTEST_INI.format(extra=ini_extra))
        (self.path / "_bench_rss.py").write_text(RSS_HELPER)

    def write(self, name: str, text: str) -> Path:
        path = self.path / name
        path.write_text(text)
        return path

    def cleanup(self) -> None:
        self._tmp.cleanup()


@dataclass
class PytestRun:
    wall_s: float
    output: str
    data: Any = None
    cpu_s: float = 0.0  # the child's user + system CPU time (steadier than wall on a busy box)


def run_pytest(
    workdir: Workdir,
    target: str,
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = 1200,
    pycache: Path | None = None,
) -> PytestRun:
    """Run pytest on ``target`` in a fresh interpreter; wall time from spawn to exit.
    A test can hand data back by writing JSON to ``$BENCH_OUT``.

    Bytecode writing is off (``PYTHONDONTWRITEBYTECODE=1``), unless ``pycache`` names a
    directory: then bytecode is written and read there (``PYTHONPYCACHEPREFIX``), as a
    default Python does beside the sources, without touching the source tree or the
    environment's packages; pytest keeps its assertion-rewritten modules there too."""
    out = workdir.path / f"out-{time.monotonic_ns()}.json"
    full_env = dict(os.environ)
    full_env.pop("PYTEST_ADDOPTS", None)
    full_env["BENCH_OUT"] = str(out)
    if pycache is None:
        full_env["PYTHONDONTWRITEBYTECODE"] = "1"
    else:
        full_env.pop("PYTHONDONTWRITEBYTECODE", None)
        full_env["PYTHONPYCACHEPREFIX"] = str(pycache)
    full_env.update(env or {})
    command = [sys.executable, "-m", "pytest", target, "-q", "-p", "no:cacheprovider", *args]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(
        command, cwd=workdir.path, env=full_env, capture_output=True, text=True, timeout=timeout
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise RuntimeError(
            f"pytest failed ({proc.returncode}): {' '.join(command)}\n"
            f"{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}"
        )
    data = json.loads(out.read_text()) if out.exists() else None
    if out.exists():
        out.unlink()
    return PytestRun(wall, proc.stdout, data, cpu)
