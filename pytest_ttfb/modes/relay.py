"""relay: a TCP relay on loopback that delays each direction by half an RTT.

Every chunk is due half an RTT after it *arrived*, and what counts as its arrival is
the kernel's receive timestamp (``SO_TIMESTAMPNS``), not the moment the relay's event
loop got round to reading it: the loop is shared with the emulated server, which may
be busy answering (20 streams of a burst), and a thread woken from sleep starts late.
Either delay would otherwise be added to the half RTT, an emulator's cost charged as
network time. Each chunk is then released on a timer of the loop (``call_at``, precise
with ``clock.new_event_loop``), in arrival order, with no task, queue or sleep per
chunk. Sockets are read and written directly (``add_reader``/``add_writer``) because
asyncio's transports read with ``recv``, which gives no timestamp.

Where the platform has no receive timestamps, arrival is the time of the read.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import platform
import random
import socket
import struct
import sys
import time
from collections.abc import Callable

__all__ = ["Relay"]

_CHUNK = 256 * 1024
_TIMESPEC = struct.Struct("@ll")  # struct timespec: seconds, nanoseconds


def _so_timestampns() -> int | None:
    """The option number: Python's socket module does not name it; 35 on Linux except
    on the architectures that number their socket options their own way."""
    if hasattr(socket, "SO_TIMESTAMPNS"):
        return int(socket.SO_TIMESTAMPNS)
    if sys.platform == "linux" and not platform.machine().startswith(_OWN_NUMBERING):
        return 35
    return None


_OWN_NUMBERING = ("alpha", "mips", "parisc", "sparc")
_SO_TIMESTAMPNS = _so_timestampns()
_STAMPED = _SO_TIMESTAMPNS is not None and hasattr(socket.socket, "recvmsg")
_ANCILLARY = socket.CMSG_SPACE(_TIMESPEC.size) if _STAMPED else 0
_LATEST_PLAUSIBLE = 1.0  # s: an older stamp means the wall clock was stepped: ignore it

Receiver = Callable[[bytes | None, float], None]  # (chunk, or None at the end; arrival)


def _wall_minus_monotonic() -> float:
    """The wall clock's lead over the monotonic clock, from readings taken close
    together (retried if the thread was preempted between them)."""
    for _ in range(5):
        before = time.monotonic()
        wall = time.time()
        after = time.monotonic()
        if after - before < 50e-6:
            break
    return wall - (before + after) / 2


def _arrival(ancillary: list[tuple[int, int, bytes]], now: float, not_before: float) -> float:
    """The kernel's receive time of a read, on the loop's clock (``now``: its time),
    and never before ``not_before`` (when an earlier read found the socket empty)."""
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS and len(data) >= _TIMESPEC.size:
            seconds, nanoseconds = _TIMESPEC.unpack_from(data)
            # The stamp is wall-clock time: carried over to the loop's monotonic clock.
            arrived: float = seconds + nanoseconds * 1e-9 - _wall_minus_monotonic()
            if now - _LATEST_PLAUSIBLE < arrived:
                return min(now, max(arrived, not_before))
            return now
    return now


class _End:
    """One socket of a relayed connection: reads passed to ``receive`` with their
    arrival time, writes buffered while the socket is full."""

    __slots__ = (
        "_after_flush",
        "_buffer",
        "_emptied",
        "_loop",
        "_receive",
        "_sock",
        "closed",
        "on_lost",
    )

    def __init__(
        self, sock: socket.socket, loop: asyncio.AbstractEventLoop, receive: Receiver
    ) -> None:
        sock.setblocking(False)
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if _STAMPED:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)  # type: ignore[arg-type]
        self._sock = sock
        self._loop = loop
        self._receive = receive
        self._buffer = bytearray()
        self._after_flush: str | None = None  # "eof" or "close", once the buffer is out
        self._emptied = 0.0  # the start of the last read that left nothing unread
        self.closed = False
        self.on_lost: Callable[[], None] = lambda: None  # a write found the peer gone
        loop.add_reader(sock.fileno(), self._readable)

    def _readable(self) -> None:
        reading = self._loop.time()
        try:
            if _STAMPED:
                data, ancillary, _, _ = self._sock.recvmsg(_CHUNK, _ANCILLARY)
            else:
                data, ancillary = self._sock.recv(_CHUNK), []
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # a reset reads as the end, which is passed on
            data, ancillary = b"", []
        arrived = _arrival(ancillary, self._loop.time(), self._emptied)
        if len(data) < _CHUNK:  # all there was: what comes next came after ``reading``
            self._emptied = reading
        if not data:
            self._loop.remove_reader(self._sock.fileno())
        self._receive(data or None, arrived)

    def write(self, data: bytes) -> None:
        if self.closed or self._after_flush is not None:
            return
        if self._buffer:
            self._buffer += data
            return
        try:
            sent = self._sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self.on_lost()
            return
        if sent < len(data):
            self._buffer += data[sent:]
            self._loop.add_writer(self._sock.fileno(), self._writable)

    def _writable(self) -> None:
        try:
            sent = self._sock.send(self._buffer)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.on_lost()
            return
        del self._buffer[:sent]
        if not self._buffer:
            self._loop.remove_writer(self._sock.fileno())
            if self._after_flush == "eof":
                self._after_flush = None
                self._shutdown()
            elif self._after_flush == "close":
                self.abort()

    def write_eof(self) -> None:
        if self._buffer:
            self._after_flush = self._after_flush or "eof"
        else:
            self._shutdown()

    def _shutdown(self) -> None:
        if not self.closed:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        """Close once what is buffered is written."""
        if self._buffer and not self.closed:
            self._after_flush = "close"
        else:
            self.abort()

    def abort(self) -> None:
        """Close now."""
        if self.closed:
            return
        self.closed = True
        fd = self._sock.fileno()
        self._loop.remove_reader(fd)
        self._loop.remove_writer(fd)
        self._buffer.clear()
        self._sock.close()


class _Direction:
    """One direction of a relayed connection: chunks (``None``: the end) passed to
    ``target`` in arrival order, each when due (arrival + half an RTT)."""

    __slots__ = ("_connection", "_due", "_loop", "_pending", "_timer", "done", "target")

    def __init__(self, connection: _Connection, loop: asyncio.AbstractEventLoop) -> None:
        self._connection = connection
        self._loop = loop
        self._pending: collections.deque[tuple[float, bytes | None]] = collections.deque()
        self._timer: asyncio.TimerHandle | None = None
        self._due = 0.0
        self.target: _End | None = None  # None until the server's end is open
        self.done = False

    def push(self, chunk: bytes | None, arrived: float) -> None:
        # Order is kept even with jitter: nothing is due before its predecessor.
        self._due = due = max(self._due, arrived + self._connection.relay.delay())
        self._pending.append((due, chunk))
        if self._timer is None and self.target is not None:
            self._timer = self._loop.call_at(due, self.release)

    def release(self) -> None:
        """Pass on every chunk now due, then wait for the next one."""
        self._timer = None
        target = self.target
        if target is None:
            return
        pending, now = self._pending, self._loop.time()
        while pending and pending[0][0] <= now:
            _, chunk = pending.popleft()
            if chunk is None:
                self.done = True
                target.write_eof()
                self._connection.direction_done()
                return
            target.write(chunk)
        if pending:
            self._timer = self._loop.call_at(pending[0][0], self.release)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._pending.clear()


class _Connection:
    """One client connection through a relay: the client's end and the server's
    (opened on the client's first bytes), each direction delayed by a ``_Direction``.
    Once both directions have passed their end on, both ends are closed."""

    def __init__(self, relay: Relay, sock: socket.socket) -> None:
        self.relay = relay
        self._loop = loop = asyncio.get_running_loop()
        self.up = _Direction(self, loop)
        self.down = _Direction(self, loop)
        self.server: _End | None = None
        self.opening: asyncio.Task[None] | None = None
        self.client = self.down.target = _End(sock, loop, self._from_client)
        self.client.on_lost = self.abort
        relay.connections.add(self)

    def _from_client(self, chunk: bytes | None, arrived: float) -> None:
        if self.opening is None:
            if chunk is None:  # it came and went without a byte
                self.close()
                return
            self.opening = self._loop.create_task(self._open_upstream(chunk))
        self.up.push(chunk, arrived)

    async def _open_upstream(self, first: bytes) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            await self._loop.sock_connect(sock, ("127.0.0.1", self.relay.upstream_port(first)))
        except OSError:  # refused: the client's end goes too
            sock.close()
            self.abort()
            return
        except asyncio.CancelledError:  # the relay stops (and closes the client's end)
            sock.close()
            raise
        if self.client.closed:  # aborted meanwhile
            sock.close()
            return
        self.server = self.up.target = _End(sock, self._loop, self.down.push)
        self.server.on_lost = self.abort
        self.up.release()

    def direction_done(self) -> None:
        if self.up.done and self.down.done:
            self.close()

    def close(self) -> None:
        for end in (self.client, self.server):
            if end is not None:
                end.close()
        if self.client.closed and (self.server is None or self.server.closed):
            self.relay.connections.discard(self)  # else still writing: stop() ends it

    def abort(self) -> None:
        """End both ends now (the relay stops, or an end went away)."""
        self.up.cancel()
        self.down.cancel()
        if self.opening is not None and self.opening is not asyncio.current_task():
            self.opening.cancel()
        for end in (self.client, self.server):
            if end is not None:
                end.abort()
        self.relay.connections.discard(self)


class Relay:
    """A TCP relay on loopback delaying each direction by half of ``rtt_ms`` (plus up
    to half of ``jitter_ms``); ``upstream_port(first_bytes)`` says where to connect.

    ``stop()`` ends it cleanly: no more connections accepted, every open one closed at
    both ends, so nothing is left pending or listening."""

    def __init__(
        self, upstream_port: Callable[[bytes], int], rtt_ms: float, jitter_ms: float
    ) -> None:
        self.upstream_port = upstream_port
        self._half = rtt_ms / 2000.0
        self._jitter = jitter_ms / 2000.0
        self._listener: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.connections: set[_Connection] = set()
        self.port = 0

    async def start(self) -> int:
        self._loop = asyncio.get_running_loop()
        listener = socket.create_server(("127.0.0.1", 0), backlog=256)
        listener.setblocking(False)
        self._listener = listener
        self._loop.add_reader(listener.fileno(), self._accept)
        self.port = listener.getsockname()[1]
        return self.port

    def _accept(self) -> None:
        assert self._listener is not None
        for _ in range(64):  # a backlog's worth per wake-up, then let the loop run
            try:
                sock, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # the client reset it before it was accepted
                continue
            _Connection(self, sock)

    async def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None and self._loop is not None:
            self._loop.remove_reader(listener.fileno())
            listener.close()
        connections = list(self.connections)
        openings = [c.opening for c in connections if c.opening is not None]
        for connection in connections:
            connection.abort()
        await asyncio.gather(*openings, return_exceptions=True)

    def delay(self) -> float:
        return self._half + (random.uniform(0, self._jitter) if self._jitter else 0.0)
