"""errors: every exception pytest-ttfb raises about a test's setup, in one place.

A ``PluginError`` is reported as its message alone, without the traceback through
httpx that led to it (that traceback's request objects carry raw URLs).
"""

from __future__ import annotations

__all__ = ["BudgetError", "EventLoopMismatch", "PluginError"]


class PluginError(Exception):
    """An error pytest-ttfb raises about the test's setup: reported as its message
    alone, without the traceback through httpx that led to it."""


class EventLoopMismatch(PluginError, RuntimeError):
    """A session-scoped async client used from a second event loop."""


class BudgetError(ValueError):
    """A budget marker with arguments that make no budget."""


def plugin_error_in(error: BaseException | None) -> PluginError | None:
    """pytest-ttfb's own error in ``error``'s chain of causes (an SDK wraps what the
    transport raised in an APIConnectionError of its own), if there is one."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, PluginError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None
