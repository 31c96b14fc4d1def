"""The judge's pure parts, on records built by hand: causes a loopback server cannot
produce (a far server) and the percentile rule."""

import pytest

from pytest_ttfb import PoolSettings, RequestTiming
from pytest_ttfb.budgets.explain import hints
from pytest_ttfb.budgets.judge import judge
from pytest_ttfb.budgets.kinds import Budget
from pytest_ttfb.stats import nearest_rank

POOL = PoolSettings(http2=True, max_connections=20, keepalive_expiry=60.0)


def far_request() -> RequestTiming:
    return RequestTiming(
        method="POST",
        url="https://api.far.example/v1/messages",
        status=200,
        http_version="HTTP/2",
        reused=False,
        connection_id="c1",
        pool_wait_ms=0.2,
        dns_ms=4.0,
        connect_ms=154.0,
        tls_ms=305.0,
        sent_ms=306.0,
        ttfb_ms=760.0,
        total_ms=800.0,
        pool=POOL,
    )


def test_slow_connect_is_hinted_with_the_tcp_time_alone() -> None:
    (hint,) = hints(far_request(), [far_request()])
    assert hint.startswith("TCP connect took 150 ms (over 80 ms): the server is far")


def test_connect_budget_judges_the_cumulative_connect_mark() -> None:
    (verdict,) = judge([Budget("max_connect", 100.0)], [far_request()])
    assert verdict.status == "fail"
    assert verdict.observed == 154.0


@pytest.mark.parametrize(("percentile", "expected"), [(50, 5), (90, 9), (91, 10), (100, 10)])
def test_nearest_rank(percentile: float, expected: float) -> None:
    assert nearest_rank([10, 1, 2, 3, 4, 5, 6, 7, 8, 9], percentile) == expected
