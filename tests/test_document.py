"""report.document: the format-2 document, its schema, and writing it."""

from __future__ import annotations

import copy
import json
import math
import platform
import re
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from pytest_ttfb.report.document import (
    build_document,
    endpoint_key,
    load_schema,
    machine_id,
    package_versions,
    write_document,
)

from .report_data import cold, document, entry, record, run_meta

VALIDATOR = jsonschema.Draft202012Validator(
    load_schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
)


def validate(doc: dict[str, Any]) -> None:
    errors = sorted(VALIDATOR.iter_errors(doc), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def test_the_schema_is_valid_draft_2020_12() -> None:
    schema = load_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def streaming(ttfb: float, first_token: float, gaps: list[float]) -> dict[str, Any]:
    return record(
        ttfb,
        first_token_ms=first_token,
        itl_ms=gaps,
        tpot_ms=sum(gaps) / len(gaps),
        tpot_basis="usage",
        tokens_per_s=1000.0 / (sum(gaps) / len(gaps)),
        output_tokens=len(gaps) + 1,
    )


DOCUMENTS = {
    "no tests": lambda: document([]),
    "mock mode": lambda: document(
        [
            entry(
                "t.py::mock",
                [record(12.0, reused=None, connection_id=None, http_version=None)],
                verdict="pass",
                budgets=[
                    {
                        "marker": "max_ttfb",
                        "budget": "max_ttfb(800, p95)",
                        "limit": 800.0,
                        "percentile": 95,
                        "warm": None,
                        "status": "pass",
                        "observed": 12.0,
                        "reason": None,
                    }
                ],
            )
        ],
        mode="mock",
        rtt_ms=None,
    ),
    "emulate, every phase, reruns, streams, errors": lambda: build_document(
        run_meta(regions={"us-east-1": 12.0}, jitter_ms=5.0, xdist_workers=2),
        [
            entry("t.py::flaky", [cold(300.0)], outcome="failed", attempt=1, verdict="FAIL"),
            entry(
                "t.py::flaky",
                [
                    cold(150.0, when="setup"),
                    record(80.0),
                    record(None, status=None, error="ReadTimeout", total_ms=None),
                    record(90.0, when="teardown"),
                    record(95.0, late=True),
                ],
                attempt=2,
            ),
            entry("t.py::stream", [streaming(50.0, 120.0, [10.0, 12.0]), record(40.0)]),
            entry("t.py::skipped", [], outcome="skipped", verdict="n/a"),
        ],
        doctor=[{"client": {"http2": False}, "tests": ["t.py::flaky"], "findings": []}],
    ),
}


@pytest.mark.parametrize("name", list(DOCUMENTS))
def test_every_built_document_validates(name: str) -> None:
    validate(DOCUMENTS[name]())


@pytest.mark.parametrize("name", list(DOCUMENTS))
def test_a_written_document_validates_when_read_back(name: str, tmp_path: Path) -> None:
    write_document(tmp_path / "report.json", DOCUMENTS[name]())
    validate(json.loads((tmp_path / "report.json").read_text()))


@pytest.mark.parametrize(
    "breakage",
    [
        lambda d: d.update(format=1),
        lambda d: d["tests"][0].pop("stats"),
        lambda d: d["tests"][0]["stats"]["ttfb_ms"].update(p95="fast"),
        lambda d: d["tests"][0]["requests"][0].update(when="later"),
        lambda d: d["run"].update(mode="turbo"),
        lambda d: d["session"].pop("stats"),
    ],
)
def test_the_schema_rejects_a_broken_document(breakage: Any) -> None:
    doc = DOCUMENTS["emulate, every phase, reruns, streams, errors"]()
    breakage(doc)
    assert list(VALIDATOR.iter_errors(doc))


@pytest.mark.parametrize(
    ("method", "url", "expected"),
    [
        (
            "post",
            "https://api.anthropic.com/v1/messages?beta=true",
            "POST api.anthropic.com/v1/messages",
        ),
        (
            "GET",
            "https://api.anthropic.com/v1/messages/msg_01XFDUDYJgAACzvnptvVoYEL",
            "GET api.anthropic.com/v1/messages/{id}",
        ),
        (
            "GET",
            "https://api.anthropic.com/v1/messages/batches/msgbatch_013Zva2CMHLNnXjNJJKqJ2EF/results",
            "GET api.anthropic.com/v1/messages/batches/{id}/results",
        ),
        (
            "GET",
            "http://inventory.example:8080/items/12345",
            "GET inventory.example:8080/items/{id}",
        ),
        (
            "GET",
            "https://x.test/orders/7b1e4c9a-8f2d-4e3b-9a1c-2d3e4f5a6b7c/lines",
            "GET x.test/orders/{id}/lines",
        ),
        ("GET", "https://x.test/blobs/deadbeef01/raw", "GET x.test/blobs/{id}/raw"),
        ("GET", "https://x.test/requests/req_abc123", "GET x.test/requests/{id}"),
        ("GET", "https://x.test/v1/models", "GET x.test/v1/models"),  # v1 and words stay
        ("GET", "https://x.test/abc/cafe", "GET x.test/abc/cafe"),  # short hex stays
        ("GET", "https://user:secret@X.Test", "GET x.test/"),  # no credentials, no empty path
    ],
)
def test_endpoint_ids_collapse(method: str, url: str, expected: str) -> None:
    assert endpoint_key(method, url) == expected
    assert "secret" not in endpoint_key(method, url)


def test_endpoints_group_requests_across_tests() -> None:
    doc = document(
        [
            entry("t.py::a", [record(10.0, url="https://h.test/items/1?x=1")]),
            entry(
                "t.py::b", [record(30.0, url="https://h.test/items/2"), record(20.0, method="GET")]
            ),
        ]
    )
    endpoints = {e["endpoint"]: e for e in doc["endpoints"]}
    assert sorted(endpoints) == ["GET api.anthropic.com/v1/messages", "POST h.test/items/{id}"]
    items = endpoints["POST h.test/items/{id}"]
    assert items["requests"] == 2
    assert items["stats"]["ttfb_ms"]["count"] == 2
    assert items["stats"]["ttfb_ms"]["max"] == 30.0


def test_setup_teardown_and_late_requests_are_listed_not_counted() -> None:
    doc = document(
        [
            entry(
                "t.py::a",
                [
                    cold(500.0, when="setup"),
                    record(10.0),
                    record(600.0, when="teardown"),
                    record(700.0, late=True),
                ],
            )
        ]
    )
    test = doc["tests"][0]
    assert len(test["requests"]) == 4
    assert test["stats"]["ttfb_ms"]["count"] == 1
    assert test["stats"]["ttfb_ms"]["max"] == 10.0
    assert test["new_connections"] == 1  # every phase: the setup's connection counts
    assert doc["session"]["requests"] == 4
    assert doc["session"]["stats"]["ttfb_ms"]["max"] == 10.0
    assert doc["endpoints"][0]["requests"] == 1


def test_statistics_use_only_the_final_attempt() -> None:
    doc = document(
        [
            entry("t.py::flaky", [cold(900.0), record(800.0)], outcome="failed", attempt=1),
            entry("t.py::flaky", [record(10.0)], attempt=2),
            entry("t.py::steady", [record(20.0)]),
        ]
    )
    first, second, steady = doc["tests"]
    assert (first["final"], second["final"], steady["final"]) == (False, True, True)
    assert first["stats"]["ttfb_ms"]["max"] == 900.0  # each attempt keeps its own stats
    session = doc["session"]
    assert session["tests"] == 2
    assert session["requests"] == 2
    assert session["new_connections"] == 0
    assert session["stats"]["ttfb_ms"]["max"] == 20.0
    assert doc["endpoints"][0]["requests"] == 2


def test_an_explicit_final_flag_wins() -> None:
    doc = document(
        [
            entry("t.py::a", [record(10.0)], attempt=1, final=True),
            entry("t.py::a", [record(99.0)], attempt=2, final=False),
        ]
    )
    assert doc["session"]["stats"]["ttfb_ms"]["max"] == 10.0


def test_per_test_counts_and_versions() -> None:
    doc = document(
        [
            entry(
                "t.py::a",
                [
                    cold(50.0, http_version="HTTP/1.1"),
                    record(10.0),
                    record(None, error="ConnectError", status=None),
                ],
            )
        ]
    )
    test = doc["tests"][0]
    assert test["http_versions"] == ["HTTP/1.1", "HTTP/2"]
    assert test["errors"] == 1
    assert test["new_connections"] == 1
    assert test["stats"]["ttfb_ms"]["count"] == 2  # the failed request has no ttfb
    assert test["stats"]["connect_ms"] == {
        "count": 1,
        "p50": 20.0,
        "p90": 20.0,
        "p95": 20.0,
        "p99": 20.0,
        "max": 20.0,
    }


def test_warm_and_cold_stats_split_by_reuse() -> None:
    doc = document(
        [
            entry(
                "t.py::a",
                [
                    cold(300.0),
                    record(20.0),
                    record(30.0),
                    record(5.0, reused=None, connection_id=None),
                ],
            )
        ]
    )
    test = doc["tests"][0]
    assert test["stats"]["ttfb_ms"]["count"] == 4
    assert test["stats_warm"]["ttfb_ms"]["count"] == 2
    assert test["stats_warm"]["ttfb_ms"]["max"] == 30.0
    assert test["stats_cold"]["ttfb_ms"]["count"] == 1
    assert test["stats_cold"]["ttfb_ms"]["max"] == 300.0


def test_stream_metrics_appear_only_when_recorded_and_itl_pools_every_gap() -> None:
    doc = document(
        [
            entry(
                "t.py::stream", [streaming(50.0, 100.0, [1.0, 2.0]), streaming(60.0, 110.0, [3.0])]
            ),
            entry("t.py::plain", [record(10.0)]),
        ]
    )
    stream, plain = doc["tests"]
    assert stream["stats"]["itl_ms"]["count"] == 3
    assert stream["stats"]["itl_ms"]["max"] == 3.0
    assert stream["stats"]["tokens_per_s"]["count"] == 2
    assert stream["stats"]["first_token_ms"]["p50"] == 100.0
    assert set(plain["stats"]) == {"ttfb_ms", "first_token_ms", "total_ms", "connect_ms"}
    assert doc["session"]["stats"]["itl_ms"]["count"] == 3


def test_build_document_leaves_its_input_alone() -> None:
    tests = [entry("t.py::a", [record(math.nan)])]
    run = run_meta(rtt_ms=math.inf)
    before = copy.deepcopy((tests, run))
    build_document(run, tests)
    assert repr((tests, run)) == repr(before)


def test_build_document_fills_machine_id_and_packages() -> None:
    run = run_meta()
    del run["machine_id"], run["packages"]
    doc = build_document(run, [])
    assert doc["run"]["machine_id"] == machine_id()
    assert doc["run"]["packages"] == package_versions()


def test_a_test_without_an_outcome_is_refused() -> None:
    with pytest.raises(ValueError, match=r"t\.py::a"):
        build_document(run_meta(), [{"nodeid": "t.py::a", "requests": []}])


def _strict_load(text: str) -> Any:
    def refuse(name: str) -> None:
        raise AssertionError(f"{name} written")

    return json.loads(text, parse_constant=refuse)


def test_non_finite_numbers_are_never_written(tmp_path: Path) -> None:
    doc = build_document(
        run_meta(rtt_ms=math.inf, duration_ms=math.nan, regions={"eu": -math.inf}),
        [entry("t.py::a", [record(math.nan, total_ms=math.inf, itl_ms=[1.0, math.nan])])],
        doctor=[{"value": math.nan}],
    )
    validate(doc)
    assert doc["run"]["rtt_ms"] is None
    assert doc["tests"][0]["requests"][0]["ttfb_ms"] is None
    assert doc["tests"][0]["stats"]["ttfb_ms"]["count"] == 0
    path = tmp_path / "report.json"
    write_document(path, doc)
    text = path.read_text()
    assert "NaN" not in text
    assert "Infinity" not in text
    assert _strict_load(text)["doctor"] == [{"value": None}]


def test_write_document_turns_stray_non_finite_numbers_into_null(tmp_path: Path) -> None:
    path = tmp_path / "raw.json"
    write_document(path, {"format": 2, "x": math.nan, "y": [math.inf, 1.5], "z": (2.0,)})
    assert _strict_load(path.read_text()) == {"format": 2, "x": None, "y": [None, 1.5], "z": [2.0]}


def test_write_document_replaces_atomically_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "report.json"
    write_document(path, {"n": 1})
    write_document(path, {"n": 2})
    assert json.loads(path.read_text()) == {"n": 2}
    assert [p.name for p in path.parent.iterdir()] == ["report.json"]


def test_write_document_that_fails_keeps_the_old_report(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    write_document(path, {"n": 1})
    with pytest.raises(TypeError):
        write_document(path, {"n": object()})
    assert json.loads(path.read_text()) == {"n": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_machine_id_is_pytest_benchmarks_without_a_host_name() -> None:
    mid = machine_id()
    assert re.fullmatch(r"[A-Za-z]+-[A-Za-z]+-\d+\.\d+-(32|64)bit", mid)
    assert mid.startswith(f"{platform.system()}-{platform.python_implementation()}-")
    assert f"-{sys.version_info[0]}.{sys.version_info[1]}-" in mid
    assert platform.node() not in mid.split("-")


def test_package_versions_read_metadata_without_importing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("httpx", "httpx2", "anthropic", "openai"):
        monkeypatch.setitem(sys.modules, name, None)  # importing it now raises ImportError
    versions = package_versions()
    assert versions["httpx"] == metadata.version("httpx")
    assert versions["anthropic"] == metadata.version("anthropic")
    assert set(versions) <= {"httpx", "httpx2", "anthropic", "openai"}
