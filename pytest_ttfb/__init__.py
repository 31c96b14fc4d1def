"""pytest-ttfb: HTTP latency as pytest budgets.

Time to first byte, time to first streamed token and connection reuse, recorded for
every request through an instrumented httpx or httpx2 client and judged by markers.
"""

from ._judge import Budget, Verdict
from ._measure import EventLoopMismatch
from ._measure import instrument as watch
from ._route import HTTPCore2Mocker, PacedStream, TtfbRouter, UnmatchedRequest
from ._store import PluginError, PoolSettings, Recorder, RequestTiming

__version__ = "0.1.0"  # keep in step with pyproject.toml

__all__ = [
    "Budget",
    "EventLoopMismatch",
    "HTTPCore2Mocker",
    "PacedStream",
    "PluginError",
    "PoolSettings",
    "Recorder",
    "RequestTiming",
    "TtfbRouter",
    "UnmatchedRequest",
    "Verdict",
    "__version__",
    "watch",
]
