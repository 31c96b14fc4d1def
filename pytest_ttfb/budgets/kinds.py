"""kinds: every budget marker pytest-ttfb knows, registered in one place.

A budget kind names its marker, the record field it judges (``None`` for a count),
its positional argument and keywords, and its one-line description for
``pytest --markers``. Adding a budget is registering a kind here (as respx registers
its patterns) and, when it needs more than a field's percentile, a rule in ``judge``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

__all__ = ["KINDS", "MODES", "Budget", "BudgetKind", "register"]


class BudgetKind(NamedTuple):  # a named tuple: cheaper to define than a dataclass
    marker: str
    field: str | None  # the RequestTiming field (or property) judged; None: a count
    argument: str  # the positional argument's name: "ms" or "n"
    keywords: frozenset[str]
    description: str
    # How it is judged (``judge``): "field" (a field's max or percentile), "gaps" (every
    # chunk gap of every stream, pooled), "rate" (a minimum), "connections", "retries"
    # or "call" (per SDK call).
    rule: str = "field"
    unit: str = "ms"  # what the limit is in: "ms", "" (a count) or "tokens/s"


KINDS: dict[str, BudgetKind] = {}
MODES = ("mock", "emulate", "live")  # per-mode limits: max_ttfb(300, live=1200)


def register(kind: BudgetKind) -> BudgetKind:
    KINDS[kind.marker] = kind
    return kind


_COMMON = frozenset({"warmup", *MODES})
_TIME_KEYWORDS = frozenset({"percentile", "warm", "cold"}) | _COMMON
_SHARED = (
    " warm=True / cold=True: only requests on a reused / a new connection (n/a when none);"
    " warmup=k: leave out the test's first k requests; mock=, emulate=, live=: the limit in"
    " that mode. Durations: ms, or '250ms', '1.2s', '800us'."
)

register(
    BudgetKind(
        "max_ttfb",
        "ttfb_ms",
        "ms",
        _TIME_KEYWORDS,
        "max_ttfb(ms, *, percentile=None, warm=False, cold=False, warmup=0): every "
        "request's time to first byte (or the given percentile) within ms." + _SHARED,
    )
)
register(
    BudgetKind(
        "max_first_token",
        "first_token_ms",
        "ms",
        _TIME_KEYWORDS | {"rule"},
        "max_first_token(ms, *, percentile=None, rule=None, warm=False, cold=False, "
        "warmup=0): time to the first streamed token within ms; rule= judges another "
        "first-token rule (auto, delta, visible, openai, data) on the same streams." + _SHARED,
    )
)
register(
    BudgetKind(
        "max_connect",
        "connect_ms",
        "ms",
        frozenset({"percentile"}) | _COMMON,
        "max_connect(ms, *, percentile=None, warmup=0): time until the TCP connection "
        "was established, for requests that opened one, within ms.",
    )
)
register(
    BudgetKind(
        "max_total",
        "total_ms",
        "ms",
        _TIME_KEYWORDS,
        "max_total(ms, *, percentile=None, warm=False, cold=False, warmup=0): time until "
        "the response body was read, within ms." + _SHARED,
    )
)
register(
    BudgetKind(
        "max_new_connections",
        None,
        "n",
        _COMMON,
        "max_new_connections(n, *, warmup=0): at most n new connections during the test.",
        rule="connections",
        unit="",
    )
)
register(
    BudgetKind(
        "max_itl",
        "itl_ms",
        "ms",
        _TIME_KEYWORDS,
        "max_itl(ms, *, percentile=None, warm=False, cold=False, warmup=0): inter-token "
        "latency: every gap between consecutive content chunks of a stream (all the "
        "test's streams pooled; or the given percentile) within ms." + _SHARED,
        rule="gaps",
    )
)
register(
    BudgetKind(
        "max_tpot",
        "tpot_ms",
        "ms",
        _TIME_KEYWORDS,
        "max_tpot(ms, *, percentile=None, warm=False, cold=False, warmup=0): time per "
        "output token after the first, (last chunk - first chunk) / (output tokens - 1), "
        "per stream, within ms." + _SHARED,
    )
)
register(
    BudgetKind(
        "min_tokens_per_s",
        "tokens_per_s",
        "n",
        _TIME_KEYWORDS,
        "min_tokens_per_s(n, *, percentile=None, warm=False, cold=False, warmup=0): each "
        "stream's output tokens over its total time at least n; with percentile=P, at "
        "least P % of the streams reach n." + _SHARED,
        rule="rate",
        unit="tokens/s",
    )
)
register(
    BudgetKind(
        "max_retries",
        None,
        "n",
        _COMMON,
        "max_retries(n, *, warmup=0): at most n retries (attempts beyond the first, from "
        "the SDK's x-stainless-retry-count header) in each SDK call.",
        rule="retries",
        unit="",
    )
)
register(
    BudgetKind(
        "max_call",
        None,
        "ms",
        frozenset({"percentile"}) | _COMMON,
        "max_call(ms, *, percentile=None, warmup=0): each SDK call, its first attempt's "
        "start to its last attempt's end (retries and backoff included), within ms.",
        rule="call",
    )
)


@dataclass(frozen=True)
class Budget:
    marker: str
    limit: float
    percentile: float | None = None
    warm: bool = False
    cold: bool = False
    warmup: int = 0
    rule: str | None = None  # max_first_token: the first-token rule judged (None: session's)
    mode: str | None = None  # the per-mode keyword that set ``limit`` (None: the positional)

    @property
    def kind(self) -> BudgetKind:
        return KINDS[self.marker]

    @property
    def field(self) -> str | None:
        return KINDS[self.marker].field

    def scaled(self, scale: float = 1.0) -> float:
        """The limit under ``--ttfb-budget-scale``: times and rates loosen by the scale
        (a minimum rate is divided by it), counts do not."""
        unit = self.kind.unit
        if unit == "ms":
            return self.limit * scale
        if unit == "tokens/s":
            return self.limit / scale
        return self.limit

    def describe(self, scale: float = 1.0) -> str:
        unit = self.kind.unit
        extras = []
        if self.rule is not None:
            extras.append(f"rule={self.rule}")
        if self.warm:
            extras.append("warm")
        if self.cold:
            extras.append("cold")
        if self.warmup:
            extras.append(f"warmup={self.warmup}")
        if self.mode is not None:
            extras.append(f"{self.mode} limit")
        if not unit:
            return f"{self.marker}({', '.join([str(int(self.limit)), *extras])})"
        parts = [f"{self.scaled(scale):g} {unit}"]
        if self.percentile is not None:
            parts.append(f"p{self.percentile:g}")
        return f"{self.marker}({', '.join(parts + extras)})"
