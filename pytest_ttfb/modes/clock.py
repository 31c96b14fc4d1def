"""clock: an asyncio event loop whose timers fire on time, not up to 1 ms late.

asyncio's default loop on Linux waits in ``epoll_wait``, whose timeout is whole
milliseconds: ``selectors`` rounds every wait up, so a timer due in 4.2 ms fires after
5 ms. The emulated network releases every relayed chunk on a timer, several per round
trip, so that rounding alone added about 0.5 ms per hop (benchmarks/PROFILE.md).

Here the wait is bounded by a ``timerfd`` armed with the exact timeout (nanoseconds)
and registered in the same epoll set: the wait ends on the first of an I/O event or
the timer. Where there is no ``timerfd`` (not Linux, or no libc), the loop is asyncio's
default one, whose selector there (kqueue) takes sub-millisecond timeouts anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import math
import os
import select
import selectors
from typing import Any

__all__ = ["new_event_loop"]

_PR_SET_TIMERSLACK = 29
_CLOCK_MONOTONIC = 1  # the clock of time.monotonic(), hence of loop.time()
_TFD_NONBLOCK = os.O_NONBLOCK
_TFD_CLOEXEC = 0o2000000  # O_CLOEXEC on Linux


class _Timespec(ctypes.Structure):
    _fields_ = (("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long))


class _Itimerspec(ctypes.Structure):
    _fields_ = (("it_interval", _Timespec), ("it_value", _Timespec))


def _libc() -> Any:
    if not hasattr(select, "epoll"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)  # the running process: libc is in it
        libc.timerfd_create.argtypes = (ctypes.c_int, ctypes.c_int)
        libc.timerfd_settime.argtypes = (
            ctypes.c_int,
            ctypes.c_int,
            ctypes.POINTER(_Itimerspec),
            ctypes.c_void_p,
        )
    except (OSError, AttributeError):
        return None
    return libc


class _TimerfdEpollSelector(selectors.EpollSelector):
    """``EpollSelector`` whose ``select(timeout)`` returns at ``timeout``, to the
    microsecond, instead of at the next whole millisecond."""

    def __init__(self, libc: Any, timer_fd: int) -> None:
        super().__init__()
        self._libc = libc
        self._timer_fd = timer_fd
        self._spec = _Itimerspec()
        self._spec_ref = ctypes.byref(self._spec)
        self._armed = False
        # Registered with epoll directly, not as a selector key: ``select`` skips
        # events of descriptors it has no key for, so asyncio never sees this one.
        epoll: select.epoll = self._selector  # type: ignore[attr-defined]
        epoll.register(timer_fd, select.EPOLLIN)

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        # (Re)arming or disarming also resets the timer's expiry count: a timer that
        # fired is readable until then, and would end every later wait at once.
        if timeout is None or timeout <= 0:
            if self._armed:
                self._arm(0.0)
            return super().select(timeout)
        if not self._arm(timeout):
            return super().select(timeout)  # cannot arm: the coarse wait, still correct
        # The epoll timeout (rounded up) is only a backstop; the timer ends the wait.
        return super().select(timeout + 0.001)

    def _arm(self, timeout: float) -> bool:
        """Arm the timer to fire once in ``timeout`` seconds (0: disarm it)."""
        seconds = math.floor(timeout)
        nanoseconds = int((timeout - seconds) * 1e9)
        if timeout > 0 and not seconds and not nanoseconds:
            nanoseconds = 1  # zero would disarm it
        self._spec.it_value.tv_sec = seconds
        self._spec.it_value.tv_nsec = nanoseconds
        self._armed = timeout > 0
        return bool(self._libc.timerfd_settime(self._timer_fd, 0, self._spec_ref, None) == 0)

    def close(self) -> None:
        try:
            super().close()
        finally:
            os.close(self._timer_fd)


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A new event loop with precise timers where the platform allows it.

    Call it in the thread that runs the loop: on Linux it also sets that thread's
    timer slack (by which the kernel may defer its wake-ups, 50 us by default) to 1 ns.
    """
    libc = _libc()
    if libc is not None:
        with contextlib.suppress(AttributeError):
            libc.prctl(_PR_SET_TIMERSLACK, ctypes.c_ulong(1), 0, 0, 0)
        timer_fd = libc.timerfd_create(_CLOCK_MONOTONIC, _TFD_NONBLOCK | _TFD_CLOEXEC)
        if timer_fd >= 0:
            return asyncio.SelectorEventLoop(_TimerfdEpollSelector(libc, timer_fd))
    return asyncio.SelectorEventLoop()  # the relay reads sockets itself (add_reader)
