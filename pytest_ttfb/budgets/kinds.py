"""kinds: every budget marker pytest-ttfb knows, registered in one place.

A budget kind names its marker, the record field it judges (``None`` for a count),
its positional argument and keywords, and its one-line description for
``pytest --markers``. Adding a budget is registering a kind here (as respx registers
its patterns) and, when it needs more than a field's percentile, a rule in ``judge``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["KINDS", "Budget", "BudgetKind", "register"]


@dataclass(frozen=True)
class BudgetKind:
    marker: str
    field: str | None  # the RequestTiming field judged; None: a count of connections
    argument: str  # the positional argument's name: "ms" or "n"
    keywords: frozenset[str]
    description: str


KINDS: dict[str, BudgetKind] = {}


def register(kind: BudgetKind) -> BudgetKind:
    KINDS[kind.marker] = kind
    return kind


_TIME_KEYWORDS = frozenset({"percentile", "warm"})

register(
    BudgetKind(
        "max_ttfb",
        "ttfb_ms",
        "ms",
        _TIME_KEYWORDS,
        "max_ttfb(ms, *, percentile=None, warm=False): every request's time to first byte "
        "(or the given percentile; warm=True: reused connections only) within ms.",
    )
)
register(
    BudgetKind(
        "max_first_token",
        "first_token_ms",
        "ms",
        _TIME_KEYWORDS,
        "max_first_token(ms, *, percentile=None, warm=False): time to the first streamed "
        "token (content_block_delta) within ms.",
    )
)
register(
    BudgetKind(
        "max_connect",
        "connect_ms",
        "ms",
        frozenset({"percentile"}),
        "max_connect(ms, *, percentile=None): time until the TCP connection was "
        "established, for requests that opened one, within ms.",
    )
)
register(
    BudgetKind(
        "max_total",
        "total_ms",
        "ms",
        _TIME_KEYWORDS,
        "max_total(ms, *, percentile=None, warm=False): time until the response body was "
        "read, within ms.",
    )
)
register(
    BudgetKind(
        "max_new_connections",
        None,
        "n",
        frozenset(),
        "max_new_connections(n): at most n new connections during the test.",
    )
)


@dataclass(frozen=True)
class Budget:
    marker: str
    limit: float
    percentile: float | None = None
    warm: bool = False

    @property
    def field(self) -> str | None:
        return KINDS[self.marker].field

    def describe(self, scale: float = 1.0) -> str:
        if self.field is None:
            return f"{self.marker}({int(self.limit)})"
        parts = [f"{self.limit * scale:g} ms"]
        if self.percentile is not None:
            parts.append(f"p{self.percentile:g}")
        if self.warm:
            parts.append("warm")
        return f"{self.marker}({', '.join(parts)})"
