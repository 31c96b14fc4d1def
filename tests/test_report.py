"""Reports: the terminal summary, --ttfb-json, JUnit properties; and no secret in any."""

import json
import xml.etree.ElementTree as ET

import pytest
from jsonschema import validate

from pytest_ttfb.report.document import load_schema

SUITE = """
import pytest

@pytest.fixture
def routes(ttfb_mock):
    ttfb_mock.get("https://api.test/slow", latency=200).respond(200, json={})
    return ttfb_mock

@pytest.mark.max_ttfb(20)
def test_slow(routes, ttfb_client):
    ttfb_client.get("https://api.test/slow")

@pytest.mark.max_ttfb(5000, percentile=50)
def test_stream(anthropic_client):
    with anthropic_client.messages.stream(
            model="claude-test", max_tokens=5,
            messages=[{"role": "user", "content": "hi"}]) as stream:
        stream.until_done()

def test_without_plugin():
    pass
"""


@pytest.fixture
def report(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> tuple[pytest.RunResult, dict, ET.Element]:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-api03-SECRETKEY")
    monkeypatch.setenv("COLUMNS", "200")  # the whole table (narrower terminals: below)
    pytester.makepyfile(SUITE)
    result = pytester.runpytest("--ttfb-json=out/ttfb.json", "--junitxml=junit.xml")
    document = json.loads((pytester.path / "out" / "ttfb.json").read_text())
    junit = ET.parse(pytester.path / "junit.xml").getroot()
    return result, document, junit


def test_json_holds_every_record_and_verdict(report: tuple) -> None:
    result, document, _ = report
    result.assert_outcomes(passed=2, failed=1)
    validate(document, load_schema())
    assert document["format"] == 2
    assert document["run"]["mode"] == "mock"
    assert document["run"]["budgets_enforced"] is True
    tests = {t["nodeid"].split("::")[1]: t for t in document["tests"]}
    assert set(tests) == {"test_slow", "test_stream"}  # test_without_plugin recorded nothing

    slow = tests["test_slow"]
    assert slow["verdict"] == "FAIL (budget)"
    assert slow["stats"]["ttfb_ms"]["count"] == 1
    assert slow["stats"]["ttfb_ms"]["p50"] == slow["requests"][0]["ttfb_ms"]
    (verdict,) = slow["budgets"]
    assert verdict["marker"] == "max_ttfb"
    assert verdict["status"] == "fail"
    assert verdict["limit"] == 20
    assert verdict["observed"] >= 200
    (record,) = slow["requests"]
    contract = {
        "method",
        "url",
        "status",
        "http_version",
        "reused",
        "connection_id",
        "pool_wait_ms",
        "dns_ms",
        "connect_ms",
        "tls_ms",
        "ttfb_ms",
        "first_token_ms",
        "total_ms",
        "error",
    }
    assert contract <= set(record)
    assert (record["method"], record["url"], record["status"]) == (
        "GET",
        "https://api.test/slow",
        200,
    )
    assert record["ttfb_ms"] >= 200
    assert record["when"] == "call"

    stream = tests["test_stream"]
    assert stream["verdict"] == "pass"
    (record,) = stream["requests"]
    assert record["ttfb_ms"] <= record["first_token_ms"] <= record["total_ms"]


def test_terminal_summary_has_a_row_per_test(report: tuple) -> None:
    result, _, _ = report
    result.stdout.fnmatch_lines(
        [
            "*- pytest-ttfb -*",
            "mode: mock;*",
            "test * reqs * new * http * ttfb p50 * p95 * max * 1st token * budget * verdict",
            "*::test_slow * 1 * 0 * - * 2??.? * max_ttfb(20 ms) * FAIL (budget)",
            "*::test_stream * 1 * 0 * - * max_ttfb(5000 ms, p50) * pass",
        ]
    )
    assert "test_without_plugin " not in result.stdout.str().split("- pytest-ttfb -")[1]


def test_junit_gets_properties(report: tuple) -> None:
    _, _, junit = report
    cases = {case.get("name"): case for case in junit.iter("testcase")}
    properties = {p.get("name"): p.get("value") for p in cases["test_slow"].iter("property")}
    assert properties["ttfb_requests"] == "1"
    assert properties["ttfb_new_connections"] == "0"
    assert float(properties["ttfb_max_ms"]) >= 200
    assert float(properties["ttfb_p95_ms"]) == float(properties["ttfb_max_ms"])  # one request
    assert properties["ttfb_verdict"] == "FAIL (budget)"
    stream = {p.get("name"): p.get("value") for p in cases["test_stream"].iter("property")}
    assert 0 < float(stream["ttfb_first_token_p50_ms"]) < 5000


def test_no_secret_in_any_output(report: tuple, pytester: pytest.Pytester) -> None:
    result, _, _ = report
    outputs = [
        result.stdout.str(),
        result.stderr.str(),
        (pytester.path / "out" / "ttfb.json").read_text(),
        (pytester.path / "junit.xml").read_text(),
    ]
    assert not any("SECRETKEY" in text for text in outputs)


def test_no_budgets_is_recorded_in_the_json(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(SUITE)
    pytester.runpytest("--ttfb-json=r.json", "--ttfb-no-budgets").assert_outcomes(passed=3)
    document = json.loads((pytester.path / "r.json").read_text())
    assert document["run"]["budgets_enforced"] is False
    slow = next(t for t in document["tests"] if t["nodeid"].endswith("test_slow"))
    assert slow["verdict"] == "over (not enforced)"


def test_json_path_that_cannot_be_written_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_nothing(): pass")
    pytester.mkdir("reports")
    pytester.makefile(".txt", blocker="not a directory")
    for path, complaint in [
        ("reports", "'reports' is a directory; name a file"),
        ("blocker.txt/r.json", "is a file, not a directory"),
    ]:
        result = pytester.runpytest(f"--ttfb-json={path}")
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines([f"ERROR: --ttfb-json: *{complaint}*"])


def test_xdist_workers_records_reach_the_controller(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    pytester.makepyfile(
        test_one=SUITE,
        test_two="""
            import pytest

            @pytest.mark.parametrize("n", range(4))
            def test_many(n, ttfb_mock, ttfb_client):
                ttfb_mock.get("https://api.test/x").respond(200)
                for _ in range(n + 1):
                    ttfb_client.get("https://api.test/x")
        """,
    )
    result = pytester.runpytest("-n", "2", "--ttfb-json=r.json", "--junitxml=j.xml")
    result.assert_outcomes(passed=6, failed=1)
    document = json.loads((pytester.path / "r.json").read_text())
    tests = {t["nodeid"]: t for t in document["tests"]}
    assert len(tests) == 6  # every test that recorded something, from both workers
    assert [len(tests[f"test_two.py::test_many[{n}]"]["requests"]) for n in range(4)] == [
        1,
        2,
        3,
        4,
    ]
    slow = tests["test_one.py::test_slow"]
    assert slow["verdict"] == "FAIL (budget)"
    assert slow["budgets"][0]["observed"] >= 200
    result.stdout.fnmatch_lines(["*test_two.py::test_many?3? * 4 * 0 *"])
    junit = ET.parse(pytester.path / "j.xml").getroot()
    properties = [p.get("name") for p in junit.iter("property")]
    assert properties.count("ttfb_requests") == 6
    # connection ids stay unique across workers; rows come in test order
    validate(document, load_schema())
    ids = [r["connection_id"] for t in tests.values() for r in t["requests"]]
    assert all(i is None or i.startswith("gw") for i in ids)
    table = result.stdout.str().split("- pytest-ttfb -")[1].split("\n=")[0]
    rows = [line.split()[0] for line in table.splitlines() if "::" in line]
    assert rows == [  # the order the tests were collected in, whichever worker ran them
        *(f"test_one.py::{name}" for name in ("test_slow", "test_stream")),
        *(f"test_two.py::test_many[{n}]" for n in range(4)),
    ]
