"""storage: saved runs, laid out like pytest-benchmark's.

``STORAGE/<machine id>/NNNN_NAME.json``: one folder per machine id
(``Linux-CPython-3.11-64bit``, no host name, so every CI runner of one kind shares it),
files numbered from 0001 in the order they were saved. A baseline is found by number,
by name, by path, or as the latest saved.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

from ..report.document import FORMAT, machine_id, write_document

__all__ = ["BaselineError", "autosave_name", "find", "load", "sanitise_name", "save", "saved"]

_SAVED = re.compile(r"(?P<num>\d{4,})_(?P<name>.*)\.json")


class BaselineError(ValueError):
    """A baseline that cannot be found or read; the message names the spec or file."""


def sanitise_name(name: str) -> str:
    """``name`` with every character outside ``[A-Za-z0-9_.-]`` as ``_``."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def saved(folder: Path) -> list[tuple[int, str, Path]]:
    """``(number, name, path)`` of the runs saved in ``folder``, by number (none when the
    folder does not exist). Other files are ignored."""
    if not folder.is_dir():
        return []
    runs = []
    for path in folder.iterdir():
        match = _SAVED.fullmatch(path.name)
        if match and path.is_file():
            runs.append((int(match["num"]), match["name"], path))
    return sorted(runs)


def save(document: dict[str, Any], storage_dir: str | os.PathLike[str], name: str) -> Path:
    """Store ``document`` as ``storage_dir/<machine id>/NNNN_NAME.json`` and return its path.

    The machine id is the document's ``run.machine_id`` (this machine's when it has
    none); NNNN is one more than the highest number saved there; NAME is ``name``
    sanitised (``sanitise_name``). The number is claimed by creating the file
    exclusively, so two runs saving at once do not overwrite each other; the content is
    then written atomically. Raises BaselineError for an empty name.
    """
    clean = sanitise_name(name.strip())
    if not clean:
        raise BaselineError("a saved run needs a name; got an empty one")
    folder = Path(storage_dir) / str(document.get("run", {}).get("machine_id") or machine_id())
    folder.mkdir(parents=True, exist_ok=True)
    while True:
        number = max((num for num, _, _ in saved(folder)), default=0) + 1
        path = folder / f"{number:04d}_{clean}.json"
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            continue  # another run took this number first: take the next
        break
    try:
        write_document(path, document)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def autosave_name(cwd: str | os.PathLike[str] | None = None) -> str:
    """A name for ``--ttfb-autosave``: the UTC time (``20250314T091500Z``), then the git
    commit's short id when ``git rev-parse`` works in ``cwd`` (``..._1a2b3c4``).

    The time keeps names unique and sortable when the commit is unknown or the same
    commit runs twice; the commit says what code a baseline measured.
    """
    name = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    try:
        completed = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return name
    commit = completed.stdout.strip()
    return f"{name}_{sanitise_name(commit)}" if commit else name


def find(spec: str | None, storage_dir: str | os.PathLike[str], machine_id: str) -> Path | None:
    """The saved run ``spec`` names, in ``storage_dir/<machine_id>``.

    ``spec`` is None (the latest saved: None when nothing is saved, which callers report
    as a warning); a NUM (``3`` or ``0003``); a NAME (``main``, or ``0003_main``; the
    latest of that name); or the PATH of a JSON file (anything with a path separator or
    ending in ``.json``, or an existing file). Raises BaselineError naming ``spec`` when
    it names nothing.
    """
    folder = Path(storage_dir) / machine_id
    runs = saved(folder)
    if spec is None:
        return runs[-1][2] if runs else None
    text = spec.strip()
    if not text:
        raise BaselineError("empty baseline spec: give a number, a name or a path")
    as_path = Path(text)
    if "/" in text or os.sep in text or text.endswith(".json") or as_path.is_file():
        if as_path.is_file():
            return as_path
        raise BaselineError(f"baseline {spec!r}: no such file")
    if text.isdigit():
        numbered = [path for num, _, path in runs if num == int(text)]
        if numbered:
            return numbered[-1]
    named = [path for num, name, path in runs if name == text or path.stem == text]
    if named:
        return named[-1]
    where = f"in {folder}" if runs else f"({folder} holds no saved run)"
    kind = "numbered or named" if text.isdigit() else "named"
    raise BaselineError(f"baseline {spec!r}: no saved run {kind} {text!r} {where}")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def load(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The format-2 report in ``path``.

    Raises BaselineError naming the file when it cannot be read, is not JSON (NaN and
    infinity included), is a format-1 report, or lacks what a comparison reads (run,
    tests with node ids and statistics). The full JSON Schema (``load_schema()``) is not
    applied here: that needs ``jsonschema``, which the plugin does not depend on.
    """
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle, parse_constant=_reject_constant)
    except (OSError, UnicodeDecodeError) as error:
        raise BaselineError(f"{os.fspath(path)}: cannot be read ({error})") from None
    except ValueError as error:
        raise BaselineError(f"{os.fspath(path)}: not a JSON report ({error})") from None
    problem = _problem(document)
    if problem:
        raise BaselineError(f"{os.fspath(path)}: {problem}")
    result: dict[str, Any] = document
    return result


def _problem(document: Any) -> str:
    if not isinstance(document, dict):
        return "not a pytest-ttfb report (not a JSON object)"
    if document.get("format") != FORMAT:
        found = document.get("format")
        if found == 1:
            return "a format-1 report (pytest-ttfb before baselines); save the run again"
        return f"not a pytest-ttfb format-{FORMAT} report (format is {found!r})"
    if not isinstance(document.get("run"), dict):
        return "no run metadata"
    tests = document.get("tests")
    if not isinstance(tests, list):
        return "no list of tests"
    for test in tests:
        if not isinstance(test, dict) or not isinstance(test.get("nodeid"), str):
            return "a test without a node id"
        for key in ("stats", "stats_warm", "stats_cold"):
            if not isinstance(test.get(key), dict):
                return f"test {test['nodeid']!r} has no {key}"
        if not isinstance(test.get("new_connections"), int):
            return f"test {test['nodeid']!r} has no new_connections count"
    return ""
