"""The budgets of 0.2: SDK calls (max_retries, max_call), min_tokens_per_s's
percentile, cold/warm filters that match nothing, warmup=, per-mode limits, duration
strings, and bad arguments as usage errors."""

from __future__ import annotations

import json

import pytest

from pytest_ttfb.budgets.judge import judge
from pytest_ttfb.budgets.parse import parse_mark
from pytest_ttfb.measure.calls import sdk_calls
from pytest_ttfb.measure.record import RequestTiming


def _results(pytester: pytest.Pytester) -> dict[str, dict[str, dict[str, object]]]:
    document = json.loads((pytester.path / "r.json").read_text())
    return {
        t["nodeid"].split("::")[1]: {b["budget"]: b for b in t["budgets"]}
        for t in document["tests"]
    }


RETRIES = """
import pytest

ASK = dict(model="claude-test", max_tokens=5, messages=[{"role": "user", "content": "hi"}])


@pytest.mark.max_retries(1)
@pytest.mark.max_call(100000)
def test_retry_storm(anthropic_client, ttfb_mock, ttfb):
    ttfb_mock.messages(errors=[529, 529], retry_after=0.2)
    anthropic_client.messages.create(**ASK)
    assert [r.status for r in ttfb.requests] == [529, 529, 200]
    assert [r.attempt for r in ttfb.requests] == [1, 2, 3]


@pytest.mark.max_retries(0)
def test_two_calls(anthropic_client, ttfb_mock):
    ttfb_mock.messages()
    anthropic_client.messages.create(**ASK)
    anthropic_client.messages.create(**ASK)
"""


@pytest.mark.parametrize("mode", ["mock", "emulate"])
def test_a_retry_storm_breaches_max_retries_and_its_call_includes_the_backoff(
    pytester: pytest.Pytester, mode: str
) -> None:
    pytester.makepyfile(RETRIES)
    result = pytester.runpytest(f"--ttfb-mode={mode}", "--ttfb-rtt=10", "--ttfb-json=r.json")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*max_retries(1): 1 SDK call(s), at most 2 retries in one, budget 1 (1 call(s) "
            "over budget)*",
            "*call #1: 3 attempts, * ms incl. backoff*",
            "*attempt 1 (#1): 529 at +0.0 ms*",
            "*attempt 2 (#2): 529 at +* ms, * ms, after * ms of backoff*",
            "*attempt 3 (#3): 200 at +* ms*",
        ]
    )
    budgets = _results(pytester)
    call = budgets["test_retry_storm"]["max_call(100000 ms)"]
    assert call["status"] == "pass"
    assert isinstance(call["observed"], float)
    assert call["observed"] >= 2 * 200 * 0.9  # two backoffs of retry-after 0.2 s
    assert budgets["test_two_calls"]["max_retries(0)"]["status"] == "pass"
    assert "2 SDK call(s), at most 0 retries" in str(
        budgets["test_two_calls"]["max_retries(0)"]["reason"]
    )


def _stream(tokens: int, total_ms: float, started_at: float = 0.0) -> RequestTiming:
    return RequestTiming(
        "POST",
        "https://api.test/v1/messages",
        status=200,
        total_ms=total_ms,
        output_tokens=tokens,
        started_at=started_at,
    )


@pytest.mark.parametrize(
    ("args", "status"),
    [
        # tokens/s of the four streams: 10, 20, 30, 40
        ((10,), "pass"),  # no percentile: every stream
        ((11,), "fail"),
        ((30, 50), "pass"),  # at least half of them (two) reach 30
        ((31, 50), "fail"),
        ((20, 75), "pass"),  # three of four reach 20
        ((21, 75), "fail"),
        ((40, 25), "pass"),  # one of four reaches 40
        ((40, 26), "fail"),  # 26 % of four streams is two
    ],
)
def test_min_tokens_per_s_passes_when_p_percent_of_streams_reach_n(
    args: tuple[float, ...], status: str
) -> None:
    streams = [_stream(tokens, 1000.0, i) for i, tokens in enumerate((30, 10, 40, 20))]
    kwargs = {"percentile": args[1]} if len(args) > 1 else {}
    budget = parse_mark("min_tokens_per_s", [args[0]], kwargs)
    (verdict,) = judge([budget], streams)
    assert verdict.status == status, verdict.reason
    if status == "fail":  # the streams below n, slowest first
        below = sorted(
            (r for r in streams if (r.tokens_per_s or 0) < args[0]),
            key=lambda r: r.tokens_per_s or 0,
        )
        assert verdict.offenders == below


def test_sdk_calls_group_attempts_by_the_retry_header() -> None:
    def record(url: str, attempt: int | None, at: float) -> RequestTiming:
        return RequestTiming("POST", url, attempt=attempt, started_at=at, total_ms=100.0)

    a1, b1, a2, a3, c = (
        record("https://x/a", 1, 0.0),
        record("https://x/b", None, 0.05),
        record("https://x/a", 2, 0.5),
        record("https://x/a", 3, 1.5),
        record("https://x/a", 2, 2.0),  # a retry with no first attempt seen: continues a
    )
    calls = sdk_calls([a3, b1, a1, a2, c])
    assert [[r for r in call.attempts] for call in calls] == [[a1, a2, a3, c], [b1]]
    assert calls[0].retries == 3
    assert calls[0].duration_ms == pytest.approx(2100.0)
    assert calls[0].describe() == "call #1: 4 attempts, 2,100 ms incl. backoff"
    fresh = record("https://x/a", 1, 3.0)
    assert len(sdk_calls([a1, a2, fresh])) == 2  # attempt 1 starts a new call


FILTERS = """
import pytest


@pytest.fixture
def routes(ttfb_mock):
    ttfb_mock.get("https://api.test/fast").respond(200)
    return ttfb_mock


@pytest.mark.max_ttfb(10000, cold=True)
@pytest.mark.max_ttfb("1us", warm=True)
def test_first(routes, ttfb_client):
    ttfb_client.get("https://api.test/fast")


@pytest.mark.max_ttfb("1us", cold=True)
@pytest.mark.max_ttfb(10000, warm=True)
def test_second(routes, ttfb_client):
    ttfb_client.get("https://api.test/fast")
"""


def test_cold_and_warm_filters_matching_nothing_are_na(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(FILTERS)
    # emulate: the first test opens the session client's connection, the second reuses it
    result = pytester.runpytest("--ttfb-mode=emulate", "--ttfb-rtt=10", "--ttfb-json=r.json")
    result.assert_outcomes(passed=2)
    budgets = _results(pytester)
    assert budgets["test_first"]["max_ttfb(10000 ms, cold)"]["status"] == "pass"
    assert budgets["test_first"]["max_ttfb(0.001 ms, warm)"]["status"] == "n/a"
    assert budgets["test_first"]["max_ttfb(0.001 ms, warm)"]["reason"] == (
        "no request on a reused connection"
    )
    assert budgets["test_second"]["max_ttfb(0.001 ms, cold)"]["status"] == "n/a"
    assert budgets["test_second"]["max_ttfb(10000 ms, warm)"]["status"] == "pass"
    # mock mode: no connection at all, so cold is n/a (and a mocked request counts warm)
    result = pytester.runpytest("--ttfb-json=r.json")
    result.assert_outcomes(passed=1, failed=1)
    budgets = _results(pytester)
    assert budgets["test_first"]["max_ttfb(10000 ms, cold)"]["status"] == "n/a"
    assert budgets["test_first"]["max_ttfb(0.001 ms, warm)"]["status"] == "fail"


WARMUP_AND_MODES = """
import httpx
import pytest
from pytest_ttfb import PacedStream


@pytest.fixture
def routes(ttfb_mock):
    ttfb_mock.get("https://api.test/slow").mock(side_effect=lambda request: httpx.Response(
        200, stream=PacedStream([(0.3, b"late")])))
    ttfb_mock.get("https://api.test/fast").respond(200)
    return ttfb_mock


@pytest.mark.max_total(150, warmup=1)
def test_warmup(routes, ttfb_client, ttfb):
    ttfb_client.get("https://api.test/slow")
    ttfb_client.get("https://api.test/fast")


@pytest.mark.max_total(150)
def test_no_warmup(routes, ttfb_client):
    ttfb_client.get("https://api.test/slow")
    ttfb_client.get("https://api.test/fast")


@pytest.mark.max_total("1us", mock="10s")
def test_mode_limit(routes, ttfb_client):
    ttfb_client.get("https://api.test/fast")


@pytest.mark.max_total("2.5s")
@pytest.mark.max_total("800us", percentile=50)
def test_durations(routes, ttfb_client):
    ttfb_client.get("https://api.test/slow")
"""


def test_warmup_per_mode_limits_and_duration_strings(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(WARMUP_AND_MODES)
    result = pytester.runpytest("--ttfb-json=r.json")
    result.assert_outcomes(passed=2, failed=2)
    budgets = _results(pytester)
    assert budgets["test_warmup"]["max_total(150 ms, warmup=1)"]["status"] == "pass"
    assert budgets["test_no_warmup"]["max_total(150 ms)"]["status"] == "fail"
    assert budgets["test_mode_limit"]["max_total(10000 ms, mock limit)"]["status"] == "pass"
    assert budgets["test_durations"]["max_total(2500 ms)"]["status"] == "pass"
    assert budgets["test_durations"]["max_total(0.8 ms, p50)"]["status"] == "fail"
    document = json.loads((pytester.path / "r.json").read_text())
    warmup = next(t for t in document["tests"] if t["nodeid"].endswith("test_warmup"))
    assert len(warmup["requests"]) == 2  # the warm-up request is still recorded
    # emulate mode: the mock= limit does not apply, the positional one does
    result = pytester.runpytest("--ttfb-mode=emulate", "--ttfb-rtt=5", "--ttfb-json=r.json")
    budgets = _results(pytester)
    assert budgets["test_mode_limit"]["max_total(0.001 ms)"]["status"] == "fail"


def test_markers_are_described(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(
        [
            "*max_itl(ms, *, percentile=None*inter-token latency*",
            "*max_tpot(ms, *, percentile=None*",
            "*min_tokens_per_s(n, *, percentile=None*at least P % of the streams*",
            "*max_retries(n, *, warmup=0)*x-stainless-retry-count*",
            "*max_call(ms, *, percentile=None*backoff included*",
        ]
    )
