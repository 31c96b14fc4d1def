"""pytest-ttfb: HTTP latency as pytest budgets.

Time to first byte, time to first streamed token and connection reuse, recorded for
every request through an instrumented httpx or httpx2 client and judged by markers.
"""

from ._judge import Budget, Verdict
from ._measure import instrument as watch
from ._route import HTTPCore2Mocker, PacedStream, TtfbRouter, UnmatchedRequest
from ._store import PoolSettings, Recorder, RequestTiming

__version__ = "0.1.0"

__all__ = [
    "Budget",
    "HTTPCore2Mocker",
    "PacedStream",
    "PoolSettings",
    "Recorder",
    "RequestTiming",
    "TtfbRouter",
    "UnmatchedRequest",
    "Verdict",
    "__version__",
    "watch",
]
