"""pytest-ttfb: HTTP latency as pytest budgets.

Time to first byte, time to first streamed token and connection reuse, recorded for
every request through an instrumented httpx or httpx2 client and judged by markers.

The public names below are imported on first use (PEP 562), so that importing the
package (as pytest does when it loads the plugin) loads neither httpx nor respx.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"  # keep in step with pyproject.toml

if TYPE_CHECKING:
    from .budgets.judge import Verdict
    from .budgets.kinds import Budget
    from .errors import BudgetError, EventLoopMismatch, PluginError
    from .measure.record import PoolSettings, RequestTiming
    from .measure.recorder import Recorder
    from .measure.stacks import instrument as watch
    from .modes.mock import HTTPCore2Mocker, PacedStream, TtfbRouter, UnmatchedRequest

# public name -> (module, attribute)
_EXPORTS = {
    "Budget": (".budgets.kinds", "Budget"),
    "BudgetError": (".errors", "BudgetError"),
    "EventLoopMismatch": (".errors", "EventLoopMismatch"),
    "HTTPCore2Mocker": (".modes.mock", "HTTPCore2Mocker"),
    "PacedStream": (".modes.mock", "PacedStream"),
    "PluginError": (".errors", "PluginError"),
    "PoolSettings": (".measure.record", "PoolSettings"),
    "Recorder": (".measure.recorder", "Recorder"),
    "RequestTiming": (".measure.record", "RequestTiming"),
    "TtfbRouter": (".modes.mock", "TtfbRouter"),
    "UnmatchedRequest": (".modes.mock", "UnmatchedRequest"),
    "Verdict": (".budgets.judge", "Verdict"),
    "watch": (".measure.stacks", "instrument"),
}

__all__ = [
    "Budget",
    "BudgetError",
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


def __getattr__(name: str) -> Any:
    try:
        module_name, attribute = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'pytest_ttfb' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module_name, __name__), attribute)
    globals()[name] = value  # next time, a plain module attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
