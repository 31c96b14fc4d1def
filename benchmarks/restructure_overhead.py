"""Overhead of one revision against another, ``benchmarks/overhead.py`` interleaved.

    python benchmarks/restructure_overhead.py [--before 1994fa2] [--after HEAD]
        [--pairs 8] [--blocks 20] [--requests 100] [--workdir DIR]

Each revision is exported with ``git archive`` into a folder of its own and installed
non-editable with its ``[test]`` extras into a venv of its own (reused when present),
as users install it. Then each revision's own ``benchmarks/overhead.py`` (it imports the
recorder slot from where that revision keeps it) runs in its own venv, alternately
before, after, before, after..., so drift and the load of a shared machine hit both
alike. Printed: per pair and per stack, the watched client's µs/request and its ratio
to the bare client, then the median of after/before for both, with the min-max spread.
The issue's target is after/before <= x1.01.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import statistics
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
STACKS = ("httpx", "httpx2")
# Versions that must match in both venvs, or the comparison measures them instead.
SAME_VERSIONS = ("httpx", "httpcore", "httpx2", "httpcore2", "h11", "h2", "anyio", "pytest")
ROW = re.compile(r"^(\S+)\s+(bare|watched|trace hook)\s+([\d.]+)\s+([\d.]+)\s*$")


def _run(*args: str | Path, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], check=True, text=True, **kwargs)


def _prepare(name: str, rev: str, workdir: Path) -> Path:
    """Export ``rev`` to ``workdir/name/src``, install it into ``workdir/name/venv``."""
    root = workdir / name
    src, venv = root / "src", root / "venv"
    python = venv / "bin" / "python"
    sha = _run("git", "-C", REPO, "rev-parse", f"{rev}^{{commit}}", capture_output=True)
    sha_text = sha.stdout.strip()
    stamp = root / "commit"
    if python.exists() and stamp.exists() and stamp.read_text() == sha_text:
        return python
    if root.exists():
        raise SystemExit(f"{root} holds another revision: remove it or pick another --workdir")
    print(f"{name}: exporting {rev} ({sha_text[:10]}) and installing it", flush=True)
    src.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(_archive_bytes(sha_text))) as tar:
        tar.extractall(src, filter="data")
    _run(sys.executable, "-m", "venv", venv)
    _run(python, "-m", "pip", "install", "-q", f"{src}[test]")
    stamp.write_text(sha_text)
    return python


def _archive_bytes(rev: str) -> bytes:
    return subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", rev], check=True, capture_output=True
    ).stdout


def _versions(python: Path, cwd: Path) -> dict[str, str]:
    code = (
        "import importlib.metadata as m, json, sys\n"
        "out = {}\n"
        "for n in sys.argv[1:]:\n"
        "    try: out[n] = m.version(n)\n"
        "    except m.PackageNotFoundError: out[n] = '-'\n"
        "import pytest_ttfb; out['pytest_ttfb.__file__'] = pytest_ttfb.__file__\n"
        "print(json.dumps(out))\n"
    )
    # -P and a neutral cwd: the installed package, never a checkout that happens to be here.
    found = _run(python, "-P", "-c", code, *SAME_VERSIONS, capture_output=True, cwd=cwd)
    return json.loads(found.stdout)


def _overhead(python: Path, script: Path, blocks: int, requests: int) -> dict[str, Any]:
    """One run of ``overhead.py``: {stack: {client: (us/request, ratio)}}."""
    started = time.perf_counter()
    done = _run(
        python,
        "-P",  # nothing but site-packages: the package as installed
        script,
        "--blocks",
        str(blocks),
        "--requests",
        str(requests),
        capture_output=True,
        cwd=script.parent.parent.parent,
    )
    rows: dict[str, dict[str, tuple[float, float]]] = {}
    for line in done.stdout.splitlines():
        match = ROW.match(line)
        if match:
            stack, client, us, ratio = match.groups()
            rows.setdefault(stack, {})[client] = (float(us), float(ratio))
    if not all(stack in rows and "watched" in rows[stack] for stack in STACKS):
        raise SystemExit(f"unexpected output of {script}:\n{done.stdout}{done.stderr}")
    return {"rows": rows, "seconds": time.perf_counter() - started}


def _spread(values: list[float]) -> str:
    return f"x{statistics.median(values):.3f} ({min(values):.3f}-{max(values):.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="1994fa2", help="revision before (old layout)")
    parser.add_argument("--after", default="HEAD", help="revision after")
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--blocks", type=int, default=20)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument(
        "--workdir",
        type=Path,
        default=Path(os.environ.get("TMPDIR", "/tmp")) / "pytest-ttfb-restructure-overhead",
        help="where the exports and venvs go (reused when they hold the same commits)",
    )
    parser.add_argument("--json", type=Path, help="also write every run's figures here")
    args = parser.parse_args()

    sides = {}
    for name, rev in (("before", args.before), ("after", args.after)):
        python = _prepare(name, rev, args.workdir)
        sides[name] = (python, args.workdir / name / "src" / "benchmarks" / "overhead.py")
    versions = {name: _versions(python, args.workdir) for name, (python, _) in sides.items()}
    for name, found in versions.items():
        print(f"{name}: {(args.workdir / name / 'commit').read_text()[:10]} {found}")
    differ = [n for n in SAME_VERSIONS if versions["before"][n] != versions["after"][n]]
    if differ:
        print(f"warning: versions differ between the venvs: {', '.join(differ)}")
    for name, found in versions.items():
        if "site-packages" not in found["pytest_ttfb.__file__"]:
            raise SystemExit(f"{name}: pytest_ttfb is not the installed one")

    runs: list[dict[str, Any]] = []
    for pair in range(1, args.pairs + 1):
        figures = {}
        for name in ("before", "after"):
            python, script = sides[name]
            figures[name] = _overhead(python, script, args.blocks, args.requests)
        runs.append(figures)
        line = [f"pair {pair:>2}"]
        for stack in STACKS:
            b = figures["before"]["rows"][stack]["watched"]
            a = figures["after"]["rows"][stack]["watched"]
            line.append(
                f"{stack}: watched {b[0]:.1f}->{a[0]:.1f} us (x{a[0] / b[0]:.3f}), "
                f"watched/bare {b[1]:.3f}->{a[1]:.3f} (x{a[1] / b[1]:.3f})"
            )
        seconds = figures["before"]["seconds"], figures["after"]["seconds"]
        print("  ".join(line) + f"  [{seconds[0]:.0f}s/{seconds[1]:.0f}s]", flush=True)

    print(
        f"\n{args.pairs} pairs of overhead.py --blocks {args.blocks} --requests {args.requests},"
        " run before/after alternately; median of after/before (min-max):"
    )
    print(f"{'stack':<8}{'watched us/request':>26}{'watched/bare ratio':>26}")
    for stack in STACKS:
        us = [
            r["after"]["rows"][stack]["watched"][0] / r["before"]["rows"][stack]["watched"][0]
            for r in runs
        ]
        ratio = [
            r["after"]["rows"][stack]["watched"][1] / r["before"]["rows"][stack]["watched"][1]
            for r in runs
        ]
        print(f"{stack:<8}{_spread(us):>26}{_spread(ratio):>26}")
    if args.json:
        args.json.write_text(json.dumps({"versions": versions, "runs": runs}, indent=1))


if __name__ == "__main__":
    main()
