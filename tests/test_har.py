"""HAR 1.2 export: the phase arithmetic, the -1s, the custom fields, nothing secret, and
the file validated against the HAR 1.2 JSON Schema of the npm package har-schema."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT6

from pytest_ttfb.report.har import build_har, request_phases, write_har

SCHEMAS = Path(__file__).parent / "data" / "har-schema"

WALL = "2025-06-01T12:00:00.000000+00:00"


def record(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "method": "POST",
        "url": "https://api.test/v1/messages",
        "status": 200,
        "http_version": "HTTP/2",
        "reused": False,
        "connection_id": "c1",
        "pool_wait_ms": None,
        "dns_ms": None,
        "connect_ms": None,
        "tls_ms": None,
        "sent_ms": None,
        "ttfb_ms": None,
        "first_token_ms": None,
        "first_body_byte_ms": None,
        "total_ms": None,
        "error": None,
        "attempt": None,
        "when": "call",
        "late": False,
        "started_at": 100.0,
        "started_wall": WALL,
        "new_connection": False,
        "pool": None,
    }
    base.update(fields)
    return base


# Quarter milliseconds add up exactly in binary floating point, so the sums below are
# compared with ==.
FRESH = record(
    new_connection=True,
    pool_wait_ms=0.25,
    dns_ms=1.5,
    connect_ms=11.5,
    tls_ms=31.75,
    sent_ms=32.0,
    ttfb_ms=82.0,
    first_body_byte_ms=82.25,
    total_ms=90.5,
)
REUSED = record(
    reused=True,
    started_at=100.2,
    started_wall="2025-06-01T12:00:00.200000+00:00",
    pool_wait_ms=0.5,
    sent_ms=0.75,
    ttfb_ms=40.75,
    total_ms=41.0,
)
FAILED = record(
    url="https://down.test/v1/messages",
    status=None,
    http_version=None,
    reused=None,
    connection_id=None,
    started_at=100.3,
    started_wall="2025-06-01T12:00:00.300000+00:00",
    pool_wait_ms=0.25,
    dns_ms=2.0,
    total_ms=5002.0,
    error="ConnectTimeout: timed out",
    attempt=2,
)
STREAM = record(
    reused=True,
    started_at=100.4,
    started_wall="2025-06-01T12:00:00.400000+00:00",
    pool_wait_ms=0.0,
    sent_ms=0.5,
    ttfb_ms=120.5,
    first_body_byte_ms=121.0,
    first_token_ms=310.25,
    total_ms=900.0,
    itl_ms=[10.5, 12.25, float("nan"), 9.0],
    tpot_ms=10.5,
    tokens_per_s=95.2,
    output_tokens=64,
)


def document(*tests: dict[str, Any]) -> dict[str, Any]:
    return {
        "format": 2,
        "run": {
            "started": "2025-06-01T11:59:59.000000+00:00",
            "duration_ms": 1500.0,
            "plugin_version": "0.1.0",
            "mode": "emulate",
        },
        "tests": list(tests),
        "doctor": [],
    }


def a_test(nodeid: str, *records: dict[str, Any], attempt: int = 1) -> dict[str, Any]:
    return {
        "nodeid": nodeid,
        "attempt": attempt,
        "final": True,
        "outcome": "passed",
        "verdict": "pass",
        "budgets": [],
        "unmatched": [],
        "requests": list(records),
    }


@pytest.fixture
def har() -> dict[str, Any]:
    return build_har(
        document(
            a_test("tests/test_api.py::test_loop", FRESH, REUSED, FAILED),
            a_test("tests/test_api.py::test_stream", STREAM),
            a_test("tests/test_api.py::test_nothing"),
        )
    )


def entries(har: dict[str, Any]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = har["log"]["entries"]
    return result


def total_time(timings: dict[str, float]) -> float:
    """HAR's rule: the sum of the timings that are not -1, ssl excluded (inside connect)."""
    return sum(v for k, v in timings.items() if k != "ssl" and v != -1)


def test_fresh_connection_phases(har: dict[str, Any]) -> None:
    entry = entries(har)[0]
    assert entry["timings"] == {
        "blocked": 0.25,
        "dns": 1.25,
        "connect": 30.25,  # TCP 10 + TLS 20.25: HAR's connect includes ssl
        "ssl": 20.25,
        "send": 0.25,
        "wait": 50.0,
        "receive": 8.5,
    }
    t = entry["timings"]
    assert t["blocked"] + t["dns"] + t["connect"] + t["send"] + t["wait"] + t["receive"] == 90.5
    assert entry["time"] == 90.5 == FRESH["total_ms"]
    assert entry["time"] == total_time(t)
    assert 0 <= t["ssl"] <= t["connect"]
    assert entry["connection"] == "c1"
    assert entry["_reused"] is False
    assert entry["_new_connection"] is True
    assert entry["_first_body_byte_ms"] == 82.25
    assert "_first_token_ms" not in entry
    assert "_itl_ms" not in entry


def test_reused_connection_has_no_dns_connect_ssl(har: dict[str, Any]) -> None:
    entry = entries(har)[1]
    assert entry["timings"] == {
        "blocked": 0.5,
        "dns": -1,
        "connect": -1,
        "ssl": -1,
        "send": 0.25,
        "wait": 40.0,
        "receive": 0.25,
    }
    assert entry["time"] == 41.0 == total_time(entry["timings"])
    assert entry["_reused"] is True
    assert entry["startedDateTime"] == "2025-06-01T12:00:00.200000+00:00"


def test_failed_request_without_response(har: dict[str, Any]) -> None:
    entry = entries(har)[2]
    # dns resolved, then the TCP connect ran until the error: 5000 ms of connect.
    assert entry["timings"] == {
        "blocked": 0.25,
        "dns": 1.75,
        "connect": 5000.0,
        "ssl": -1,
        "send": 0,
        "wait": 0,
        "receive": 0,
    }
    assert entry["time"] == 5002.0 == total_time(entry["timings"])
    assert entry["response"]["status"] == 0
    assert entry["response"]["httpVersion"] == ""
    assert entry["request"]["httpVersion"] == ""
    assert "connection" not in entry
    assert entry["_reused"] is None
    assert entry["_error"] == "ConnectTimeout: timed out"
    assert entry["_attempt"] == 2
    phases = request_phases(FAILED)
    assert [p.name for p in phases] == ["blocked", "dns", "connect"]
    assert phases[-1].failed


def test_stream_custom_fields(har: dict[str, Any]) -> None:
    entry = entries(har)[3]
    assert entry["_first_token_ms"] == 310.25
    assert entry["_itl_ms"] == [10.5, 12.25, 9.0]  # the NaN is dropped
    assert entry["_tpot_ms"] == 10.5
    assert entry["_tokens_per_s"] == 95.2
    assert entry["_output_tokens"] == 64
    assert entry["_when"] == "call"
    assert entry["_late"] is False
    assert entry["timings"]["blocked"] == 0.0
    assert entry["timings"]["receive"] == 779.5
    assert entry["time"] == 900.0


@pytest.mark.parametrize(
    ("fields", "timings", "time"),
    [
        # TLS handshake failed: the time after the TCP connect is ssl, and connect too.
        (
            {"pool_wait_ms": 0.5, "dns_ms": 1.0, "connect_ms": 3.0, "total_ms": 10.0},
            {"blocked": 0.5, "dns": 0.5, "connect": 9.0, "ssl": 7.0},
            10.0,
        ),
        # A read timeout: sent, no headers.
        (
            {"pool_wait_ms": 0.25, "sent_ms": 0.5, "total_ms": 120.5, "reused": True},
            {"blocked": 0.25, "dns": -1, "connect": -1, "ssl": -1, "wait": 120.0},
            120.5,
        ),
        # The pool never handed a connection: all blocked.
        ({"total_ms": 10000.0, "reused": None}, {"blocked": 10000.0, "send": 0}, 10000.0),
        # Headers, then the body broke: receive up to the error.
        ({"sent_ms": 1.0, "ttfb_ms": 5.0, "total_ms": 7.5}, {"wait": 4.0, "receive": 2.5}, 7.5),
        # Nothing at all, and marks out of order (clamped), NaN and infinity (null).
        ({}, {"blocked": -1, "send": 0, "wait": 0, "receive": 0}, 0.0),
        (
            {"pool_wait_ms": 2.0, "sent_ms": 1.0, "ttfb_ms": math.nan, "total_ms": math.inf},
            {"blocked": 2.0, "send": 0.0, "wait": 0, "receive": 0},
            2.0,
        ),
    ],
)
def test_partial_marks(fields: dict[str, Any], timings: dict[str, float], time: float) -> None:
    entry = entries(build_har(document(a_test("t.py::t", record(**fields)))))[0]
    for name, value in timings.items():
        assert entry["timings"][name] == value, name
    assert entry["time"] == time == total_time(entry["timings"])
    assert all(entry["timings"][k] >= 0 for k in ("send", "wait", "receive"))
    json.dumps(entry, allow_nan=False)


def test_pages(har: dict[str, Any]) -> None:
    log = har["log"]
    assert log["version"] == "1.2"
    assert log["creator"] == {"name": "pytest-ttfb", "version": "0.1.0"}
    pages = log["pages"]
    assert [p["title"] for p in pages] == [
        "tests/test_api.py::test_loop",
        "tests/test_api.py::test_stream",
        "tests/test_api.py::test_nothing",
    ]
    assert [p["id"] for p in pages] == ["page_1", "page_2", "page_3"]
    assert pages[0]["startedDateTime"] == WALL
    assert pages[2]["startedDateTime"] == "2025-06-01T11:59:59.000000+00:00"  # run start
    assert all(p["pageTimings"] == {"onContentLoad": -1, "onLoad": -1} for p in pages)
    assert [e["pageref"] for e in log["entries"]] == ["page_1"] * 3 + ["page_2"]


def test_no_header_cookie_or_body(har: dict[str, Any]) -> None:
    for entry in entries(har):
        for part in ("request", "response"):
            assert entry[part]["headers"] == []
            assert entry[part]["cookies"] == []
            assert entry[part]["headersSize"] == -1
            assert entry[part]["bodySize"] == -1
        assert entry["request"]["queryString"] == []
        assert "postData" not in entry["request"]
        assert entry["response"]["content"] == {"size": 0, "mimeType": ""}
        assert "serverIPAddress" not in entry


def test_hostile_and_broken_input_still_makes_a_valid_har() -> None:
    doc = document(
        a_test('t.py::test["<script>alert(1)</script>"]', record(status=True, attempt=True)),
        "not a test",  # type: ignore[arg-type]
    )
    doc["run"]["plugin_version"] = None
    har = build_har(doc)
    assert har["log"]["creator"]["version"] == ""
    assert har["log"]["pages"][0]["title"] == 't.py::test["<script>alert(1)</script>"]'
    assert entries(har)[0]["response"]["status"] == 0
    assert entries(har)[0]["_attempt"] is None
    validator().validate(har)


def validator() -> jsonschema.Draft6Validator:
    resources = []
    for path in sorted(SCHEMAS.glob("*.json")):
        schema = json.loads(path.read_text(encoding="utf-8"))
        resources.append((schema["$id"], Resource.from_contents(schema, DRAFT6)))
    registry: Registry[Any] = Registry().with_resources(resources)
    root = json.loads((SCHEMAS / "har.json").read_text(encoding="utf-8"))
    return jsonschema.Draft6Validator(
        root, registry=registry, format_checker=jsonschema.Draft6Validator.FORMAT_CHECKER
    )


def test_validates_against_har_schema(har: dict[str, Any]) -> None:
    validator().validate(har)


def test_schema_catches_a_broken_har(har: dict[str, Any]) -> None:
    """The vendored schemas are really resolved: a missing required field is an error."""
    del entries(har)[0]["timings"]["wait"]
    with pytest.raises(jsonschema.ValidationError, match="'wait' is a required property"):
        validator().validate(har)


def test_write_har(tmp_path: Path) -> None:
    path = tmp_path / "run.har"
    path.write_text("old", encoding="utf-8")
    write_har(path, document(a_test("t.py::t", FRESH, STREAM)))
    text = path.read_text(encoding="utf-8")
    loaded = json.loads(text)
    assert loaded == json.loads(json.dumps(loaded, allow_nan=False))
    assert "NaN" not in text
    assert "Infinity" not in text
    validator().validate(loaded)
    assert [p.name for p in tmp_path.iterdir()] == ["run.har"]  # no temporary left


def test_write_har_leaves_no_temporary_on_error(tmp_path: Path) -> None:
    target = tmp_path / "a-directory"
    target.mkdir()
    with pytest.raises(IsADirectoryError):
        write_har(target, document())
    assert [p.name for p in tmp_path.iterdir()] == ["a-directory"]
