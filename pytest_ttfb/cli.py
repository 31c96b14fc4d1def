"""cli: the ``pytest-ttfb`` console script, for CI jobs that keep reports as artefacts.

``pytest-ttfb compare BASELINE.json CURRENT.json [--fail=EXPR ...]`` prints the warnings
when the runs are not comparable, the table of deltas, and each gate's results. Exit
status: 1 when a gate finds a regression, 0 otherwise, 2 for a usage error (a bad gate
expression, a file that cannot be read or is not a format-2 report), never a traceback.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Sequence

from .baseline.gates import GateError, parse_gate
from .baseline.report import comparison
from .baseline.storage import BaselineError, load

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pytest-ttfb", description="Work with pytest-ttfb's JSON reports."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    compare = commands.add_parser(
        "compare",
        help="compare a run with a baseline, and gate on regressions",
        description="Compare CURRENT with BASELINE (format-2 reports, from --ttfb-json "
        "or --ttfb-save) and judge the --fail gates.",
    )
    compare.set_defaults(usage_error=compare.error)  # errors show the command's usage
    compare.add_argument("baseline", metavar="BASELINE.json")
    compare.add_argument("current", metavar="CURRENT.json")
    compare.add_argument(
        "--fail",
        action="append",
        default=[],
        metavar="EXPR",
        help="a gate, repeatable: METRIC[.warm|.cold]:STAT:THRESHOLD (ttfb:p95:20%%, "
        "first_token:p50:50ms, tokens_per_s:p50:10%%) or new_connections:+N",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the console script with ``argv`` (default: the command line); return the
    exit status (argparse's own usage errors exit with 2 through SystemExit)."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        gates = [parse_gate(expr) for expr in args.fail]
    except GateError as error:
        args.usage_error(str(error))
    try:
        baseline, current = load(args.baseline), load(args.current)
    except BaselineError as error:
        args.usage_error(str(error))
    lines, failed = comparison(baseline, current, gates, width=shutil.get_terminal_size().columns)
    for line in lines:
        print(line)
    if failed:
        print(f"pytest-ttfb: {len(failed)} regression(s) against {args.baseline}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
