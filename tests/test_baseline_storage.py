"""baseline.storage: saving runs, numbering them, finding and loading them."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from pytest_ttfb.baseline.storage import BaselineError, autosave_name, find, load, save
from pytest_ttfb.report.document import write_document

from .report_data import ttfb_doc

MACHINE = "Linux-CPython-3.11-64bit"


def doc(ttfb: float = 100.0, **run: Any) -> dict[str, Any]:
    return ttfb_doc({"t.py::a": [ttfb]}, **{"machine_id": MACHINE, **run})


def test_saves_are_numbered_from_0001_per_machine(tmp_path: Path) -> None:
    first = save(doc(1.0), tmp_path, "main")
    second = save(doc(2.0), tmp_path, "feature")
    other = save(doc(3.0, machine_id="Darwin-CPython-3.12-64bit"), tmp_path, "mac")
    assert first == tmp_path / MACHINE / "0001_main.json"
    assert second == tmp_path / MACHINE / "0002_feature.json"
    assert other == tmp_path / "Darwin-CPython-3.12-64bit" / "0001_mac.json"
    assert load(second)["tests"][0]["stats"]["ttfb_ms"]["max"] == 2.0


def test_numbering_follows_the_highest_number_not_the_count(tmp_path: Path) -> None:
    folder = tmp_path / MACHINE
    folder.mkdir()
    (folder / "0007_old.json").write_text("{}")
    (folder / "notes.txt").write_text("not a run")
    assert save(doc(), tmp_path, "next").name == "0008_next.json"


def test_names_are_sanitised(tmp_path: Path) -> None:
    path = save(doc(), tmp_path, "feature/x y:z..é")
    assert path.name == "0001_feature_x_y_z.._.json"
    assert path.parent == tmp_path / MACHINE
    with pytest.raises(BaselineError, match="empty"):
        save(doc(), tmp_path, "  ")


def test_find_by_latest_number_name_and_path(tmp_path: Path) -> None:
    assert find(None, tmp_path, MACHINE) is None  # nothing saved: no baseline, no error
    one = save(doc(), tmp_path, "main")
    two = save(doc(), tmp_path, "feature")
    three = save(doc(), tmp_path, "main")
    assert find(None, tmp_path, MACHINE) == three
    assert find("2", tmp_path, MACHINE) == two
    assert find("0001", tmp_path, MACHINE) == one
    assert find("main", tmp_path, MACHINE) == three  # the latest of that name
    assert find("0001_main", tmp_path, MACHINE) == one
    assert find("feature", tmp_path, MACHINE) == two
    assert find(str(one), tmp_path, "another-machine") == one
    elsewhere = tmp_path / "report.json"
    write_document(elsewhere, doc())
    assert find(str(elsewhere), tmp_path, MACHINE) == elsewhere


def test_an_all_digit_name_is_found_when_no_number_matches(tmp_path: Path) -> None:
    save(doc(), tmp_path, "2024")
    assert find("2024", tmp_path, MACHINE) == tmp_path / MACHINE / "0001_2024.json"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("9", "baseline '9': no saved run numbered or named '9' in "),
        ("0009", "baseline '0009': no saved run numbered or named '0009'"),
        ("nightly", "baseline 'nightly': no saved run named 'nightly'"),
        ("runs/nope.json", "baseline 'runs/nope.json': no such file"),
        ("nope.json", "baseline 'nope.json': no such file"),
        ("", "empty baseline spec"),
    ],
)
def test_a_spec_that_names_nothing_is_an_error(tmp_path: Path, spec: str, message: str) -> None:
    save(doc(), tmp_path, "main")
    with pytest.raises(BaselineError) as caught:
        find(spec, tmp_path, MACHINE)
    assert message in str(caught.value)


def test_an_error_says_when_nothing_is_saved(tmp_path: Path) -> None:
    with pytest.raises(BaselineError, match="holds no saved run"):
        find("main", tmp_path, MACHINE)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"format": 1, "mode": "mock", "tests": []}', "a format-1 report"),
        ("not json at all", "not a JSON report"),
        ("[1, 2]", "not a JSON object"),
        ('{"format": 3}', "format is 3"),
        ('{"format": 2, "run": {}, "tests": [{"nodeid": "t"}]}', "test 't' has no stats"),
        ('{"format": 2, "tests": []}', "no run metadata"),
        ('{"format": 2, "run": {"rtt_ms": NaN}, "tests": []}', "NaN is not a number JSON allows"),
    ],
)
def test_load_refuses_what_is_not_a_format_2_report(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "old.json"
    path.write_text(content)
    with pytest.raises(BaselineError) as caught:
        load(path)
    assert str(path) in str(caught.value)
    assert message in str(caught.value)


def test_load_names_a_file_that_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(BaselineError, match=re.escape(str(tmp_path / "absent.json"))):
        load(tmp_path / "absent.json")


def test_load_round_trips_a_saved_run(tmp_path: Path) -> None:
    document = doc(42.0)
    assert load(save(document, tmp_path, "x")) == json.loads(json.dumps(document))


def test_autosave_name_outside_git_is_a_utc_time(tmp_path: Path) -> None:
    assert re.fullmatch(r"\d{8}T\d{6}Z", autosave_name(tmp_path))


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_autosave_name_in_git_adds_the_commit(tmp_path: Path) -> None:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    git("init", "-q")
    git("commit", "-q", "--allow-empty", "-m", "x")
    commit = git("rev-parse", "--short", "HEAD")
    name = autosave_name(tmp_path)
    assert re.fullmatch(rf"\d{{8}}T\d{{6}}Z_{commit}", name)
    assert save(doc(), tmp_path / ".ttfb", name).name == f"0001_{name}.json"
