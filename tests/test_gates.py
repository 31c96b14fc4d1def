"""baseline.gates: the compare-fail grammar and its evaluation."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_ttfb.baseline.gates import Gate, GateError, evaluate, parse_gate, regressions

from .report_data import cold, document, entry, record, ttfb_doc


@pytest.mark.parametrize(
    ("expr", "metric", "subset", "stat", "threshold", "relative"),
    [
        ("ttfb:p95:20%", "ttfb", "", "p95", 20.0, True),
        ("first_token.warm:p50:50ms", "first_token", "warm", "p50", 50.0, False),
        ("total.cold:max:1.5s", "total", "cold", "max", 1500.0, False),
        ("connect:p90:250us", "connect", "", "p90", 0.25, False),
        ("itl:p99:7", "itl", "", "p99", 7.0, False),  # a bare number is ms
        ("tpot:p50:0.5%", "tpot", "", "p50", 0.5, True),
        ("tokens_per_s:p50:10%", "tokens_per_s", "", "p50", 10.0, True),
        ("tokens_per_s.warm:p90:5", "tokens_per_s", "warm", "p90", 5.0, False),
        (" ttfb : p95 : 20 % ", "ttfb", "", "p95", 20.0, True),
        ("new_connections:+0", "new_connections", "", "", 0.0, False),
        ("new_connections:3", "new_connections", "", "", 3.0, False),
    ],
)
def test_good_expressions(
    expr: str, metric: str, subset: str, stat: str, threshold: float, relative: bool
) -> None:
    gate = parse_gate(expr)
    assert (gate.metric, gate.subset, gate.stat, gate.relative) == (metric, subset, stat, relative)
    assert gate.threshold == pytest.approx(threshold)
    assert gate.expr == expr


@pytest.mark.parametrize(
    ("expr", "problem"),
    [
        ("", "empty"),
        ("latency:p95:20%", "unknown metric 'latency'"),
        ("ttfb.hot:p95:1ms", "unknown suffix '.hot'"),
        ("ttfb:p42:1ms", "unknown statistic 'p42'"),
        ("ttfb:p95", "expected METRIC:STAT:THRESHOLD (3 parts), got 2"),
        ("ttfb:p95:1ms:2", "got 4"),
        ("ttfb:p95:", "no threshold"),
        ("ttfb:p95:abc%", "threshold 'abc' is not a number"),
        ("ttfb:p95:nan%", "threshold 'nan' is not a finite number"),
        ("ttfb:p95:infms", "threshold 'inf' is not a finite number"),
        ("ttfb:p95:-5%", "threshold '-5' is negative"),
        ("ttfb:p95:-5ms", "threshold '-5' is negative"),
        ("ttfb:p95:5min", "unknown unit in '5min'"),
        ("tokens_per_s:p50:5ms", "tokens_per_s takes N% or a plain number of tokens/s"),
        ("new_connections:+x", "'+x' is not +N"),
        ("new_connections:-1", "'-1' is not +N"),
        ("new_connections", "expected new_connections:+N"),
        ("new_connections.warm:+1", "takes no .warm/.cold suffix"),
    ],
)
def test_bad_expressions_name_the_expression_and_the_problem(expr: str, problem: str) -> None:
    with pytest.raises(GateError) as caught:
        parse_gate(expr)
    message = str(caught.value)
    assert repr(expr) in message
    assert problem in message
    assert isinstance(caught.value, ValueError)


def by_test(results: list[Any]) -> dict[str, str]:
    return {r.nodeid: r.status for r in results}


def test_a_percentage_gate_judges_each_test() -> None:
    before = ttfb_doc({"t.py::same": [100.0], "t.py::slower": [100.0], "t.py::edge": [100.0]})
    after = ttfb_doc({"t.py::same": [100.0], "t.py::slower": [121.0], "t.py::edge": [120.0]})
    results = evaluate([parse_gate("ttfb:p50:20%")], before, after)
    assert by_test(results) == {
        "t.py::same": "ok",
        "t.py::slower": "regression",
        "t.py::edge": "ok",
    }
    slower = next(r for r in results if r.nodeid == "t.py::slower")
    assert (slower.before, slower.after, slower.limit) == (100.0, 121.0, 120.0)
    text = slower.describe()
    for part in (
        "t.py::slower",
        "ttfb p50",
        "100.0 ms -> 121.0 ms",
        "+21.0%",
        "+20%",
        "regression",
    ):
        assert part in text
    assert regressions(results) == [slower]


def test_an_absolute_gate() -> None:
    before = ttfb_doc({"t.py::a": [100.0], "t.py::b": [100.0]})
    after = ttfb_doc({"t.py::a": [109.0], "t.py::b": [110.5]})
    results = evaluate([parse_gate("ttfb:max:10ms")], before, after)
    assert by_test(results) == {"t.py::a": "ok", "t.py::b": "regression"}


def test_faster_is_never_a_regression() -> None:
    before = ttfb_doc({"t.py::a": [100.0]})
    after = ttfb_doc({"t.py::a": [10.0]})
    assert by_test(evaluate([parse_gate("ttfb:p50:0%")], before, after)) == {"t.py::a": "ok"}


def test_p95_needs_20_samples_in_both_runs() -> None:
    slow = [float(v) for v in range(200, 220)]
    fast = [float(v) for v in range(100, 120)]
    gate = parse_gate("ttfb:p95:20%")
    judged = evaluate([gate], ttfb_doc({"t.py::a": fast}), ttfb_doc({"t.py::a": slow}))
    assert by_test(judged) == {"t.py::a": "regression"}
    few = evaluate([gate], ttfb_doc({"t.py::a": fast[:19]}), ttfb_doc({"t.py::a": slow}))
    assert by_test(few) == {"t.py::a": "insufficient"}
    assert few[0].n == 19
    assert "insufficient (n=19)" in few[0].describe()
    other_side = evaluate([gate], ttfb_doc({"t.py::a": fast}), ttfb_doc({"t.py::a": slow[:19]}))
    assert by_test(other_side) == {"t.py::a": "insufficient"}
    # p50 needs one sample: the same 19 are enough to judge it
    p50 = evaluate(
        [parse_gate("ttfb:p50:20%")], ttfb_doc({"t.py::a": fast[:19]}), ttfb_doc({"t.py::a": slow})
    )
    assert by_test(p50) == {"t.py::a": "regression"}


def test_a_metric_no_request_carries_is_insufficient_not_a_crash() -> None:
    doc = ttfb_doc({"t.py::a": [100.0]})
    results = evaluate([parse_gate("first_token:p50:10%"), parse_gate("itl:p50:1ms")], doc, doc)
    assert [r.status for r in results] == ["insufficient", "insufficient"]
    assert results[0].n == 0


def streams(rates: list[float]) -> dict[str, Any]:
    return document([entry("t.py::stream", [record(50.0, tokens_per_s=r) for r in rates])])


def test_tokens_per_s_gates_a_decrease() -> None:
    gate = parse_gate("tokens_per_s:p50:10%")
    before = streams([100.0])
    assert by_test(evaluate([gate], before, streams([85.0]))) == {"t.py::stream": "regression"}
    assert by_test(evaluate([gate], before, streams([90.0]))) == {"t.py::stream": "ok"}
    assert by_test(evaluate([gate], before, streams([300.0]))) == {"t.py::stream": "ok"}
    result = evaluate([gate], before, streams([85.0]))[0]
    assert result.limit == 90.0
    assert "-10%" in result.describe()
    assert "tokens/s" in result.describe()
    plain = parse_gate("tokens_per_s:p50:5")
    assert by_test(evaluate([plain], before, streams([94.0]))) == {"t.py::stream": "regression"}
    assert by_test(evaluate([plain], before, streams([95.0]))) == {"t.py::stream": "ok"}


def connections(count: int) -> dict[str, Any]:
    return document([entry("t.py::loop", [cold(100.0) for _ in range(count)] + [record(10.0)])])


def test_new_connections_plus_zero() -> None:
    gate = parse_gate("new_connections:+0")
    assert by_test(evaluate([gate], connections(1), connections(1))) == {"t.py::loop": "ok"}
    assert by_test(evaluate([gate], connections(1), connections(0))) == {"t.py::loop": "ok"}
    result = evaluate([gate], connections(1), connections(2))[0]
    assert result.status == "regression"
    assert (result.before, result.after) == (1, 2)
    assert (
        "new_connections 1 -> 2 (+100.0%), threshold +0 (limit 1): regression" in result.describe()
    )
    plus_one = parse_gate("new_connections:+1")
    assert by_test(evaluate([plus_one], connections(1), connections(2))) == {"t.py::loop": "ok"}


def test_new_and_missing_tests() -> None:
    before = ttfb_doc({"t.py::kept": [10.0], "t.py::gone": [10.0]})
    after = ttfb_doc({"t.py::kept": [10.0], "t.py::added": [10.0]})
    results = evaluate([parse_gate("ttfb:p50:5%")], before, after)
    assert by_test(results) == {"t.py::kept": "ok", "t.py::added": "new", "t.py::gone": "missing"}
    assert [r.nodeid for r in results] == ["t.py::kept", "t.py::added", "t.py::gone"]
    assert not regressions(results)


def test_only_final_attempts_are_compared() -> None:
    before = document(
        [
            entry("t.py::a", [record(1000.0)], attempt=1, outcome="failed"),
            entry("t.py::a", [record(100.0)], attempt=2),
        ]
    )
    after = document(
        [
            entry("t.py::a", [record(10.0)], attempt=1, outcome="failed"),
            entry("t.py::a", [record(500.0)], attempt=2),
        ]
    )
    results = evaluate([parse_gate("ttfb:p50:20%")], before, after)
    assert [(r.status, r.before, r.after) for r in results] == [("regression", 100.0, 500.0)]


def test_warm_and_cold_gates_judge_their_requests_alone() -> None:
    before = document([entry("t.py::a", [cold(300.0), record(20.0), record(20.0)])])
    after = document([entry("t.py::a", [cold(600.0), record(20.0), record(20.0)])])
    warm = evaluate([parse_gate("ttfb.warm:max:10%")], before, after)
    cold_results = evaluate([parse_gate("ttfb.cold:max:10%")], before, after)
    assert [r.status for r in warm] == ["ok"]
    assert [(r.status, r.before, r.after) for r in cold_results] == [("regression", 300.0, 600.0)]
    assert "ttfb.cold max" in cold_results[0].describe()


def test_one_result_per_gate_and_test() -> None:
    doc = ttfb_doc({"t.py::a": [1.0], "t.py::b": [1.0]})
    gates = [parse_gate("ttfb:p50:1%"), parse_gate("total:max:1ms")]
    results = evaluate(gates, doc, doc)
    assert [(r.gate.expr, r.nodeid) for r in results] == [
        ("ttfb:p50:1%", "t.py::a"),
        ("ttfb:p50:1%", "t.py::b"),
        ("total:max:1ms", "t.py::a"),
        ("total:max:1ms", "t.py::b"),
    ]
    assert all(isinstance(r.gate, Gate) for r in results)
