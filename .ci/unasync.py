"""Generate pytest_ttfb/measure/_sync.py from _async.py, as httpcore does its twins.

    python .ci/unasync.py           # write _sync.py
    python .ci/unasync.py --check   # exit 1 when _sync.py is not what _async.py makes

Whole-word substitutions only, so the generated file reads like hand-written code
and the hot path stays free of helper calls that a shared implementation would need.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

MEASURE = Path(__file__).resolve().parent.parent / "pytest_ttfb" / "measure"
SUBSTITUTIONS = [
    (r"\basync def\b", "def"),
    (r"\basync for\b", "for"),
    (r"\basync with\b", "with"),
    (r"\bawait ", ""),
    (r"\b__aiter__\b", "__iter__"),
    (r"\b__aenter__\b", "__enter__"),
    (r"\b__aexit__\b", "__exit__"),
    (r"\baclose\b", "close"),
    (r"\bhandle_async_request\b", "handle_request"),
    (r"\bresolve_async\b", "resolve"),
    (r"\bAsync(\w)", r"\1"),  # AsyncTimingTransport -> TimingTransport, AsyncIterator...
]
HEADER = (
    "# Generated from _async.py by .ci/unasync.py: do not edit; edit _async.py and run\n"
    "# python .ci/unasync.py (CI checks the two match).\n"
)


def generate(source: str) -> str:
    lines = []
    for line in source.splitlines(keepends=True):
        for pattern, replacement in SUBSTITUTIONS:
            line = re.sub(pattern, replacement, line)
        lines.append(line)
    return HEADER + "".join(lines)


def main(argv: list[str]) -> int:
    expected = generate((MEASURE / "_async.py").read_text(encoding="utf-8"))
    target = MEASURE / "_sync.py"
    if "--check" in argv:
        actual = target.read_text(encoding="utf-8") if target.exists() else ""
        if actual != expected:
            print(f"{target} is out of date: run python .ci/unasync.py", file=sys.stderr)
            return 1
        return 0
    target.write_text(expected, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
