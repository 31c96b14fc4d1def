"""The emulated network's own time: timers that fire on time without spinning, and a
relay that charges half an RTT from when a chunk reached it, not from when its busy
event loop got round to reading it."""

from __future__ import annotations

import asyncio
import contextlib
import select
import socket
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest

from pytest_ttfb.modes import clock, relay

_T = TypeVar("_T")

needs_timerfd = pytest.mark.skipif(
    not hasattr(select, "epoll") or clock._libc() is None, reason="Linux timerfd only"
)


def _run(coroutine_factory: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
    loop = clock.new_event_loop()
    try:
        return loop.run_until_complete(coroutine_factory())
    finally:
        loop.close()


@needs_timerfd
def test_a_fired_timer_does_not_wake_the_loop_again() -> None:
    # A timerfd stays readable once it fired until it is re-armed or disarmed: if the
    # selector forgot to, every later wait would return at once (a loop spinning on the
    # CPU, and the GIL, while it should sleep).
    loop = clock.new_event_loop()
    try:
        selector = loop._selector  # type: ignore[attr-defined]
        calls = 0
        select_once = selector.select

        def counting(timeout: float | None = None) -> Any:
            nonlocal calls
            calls += 1
            return select_once(timeout)

        selector.select = counting

        async def timers_then_idle() -> None:
            for _ in range(5):
                await asyncio.sleep(0.002)  # timed waits: the timerfd armed and fired
            calls_before = calls
            # Idle with no timer due for 200 ms but one I/O wake-up at the end: a
            # readable timerfd would make this thousands of selector calls.
            reader, writer = socket.socketpair()
            reader.setblocking(False)
            loop.call_later(0.2, writer.send, b"x")
            await loop.sock_recv(reader, 1)
            reader.close()
            writer.close()
            assert calls - calls_before < 20, calls - calls_before

        loop.run_until_complete(timers_then_idle())
    finally:
        loop.close()


@needs_timerfd
def test_timers_never_fire_early() -> None:
    async def lateness() -> list[float]:
        loop = asyncio.get_running_loop()
        late = []
        for delay in (0.0004, 0.0012, 0.0031, 0.0105):
            done: asyncio.Future[float] = loop.create_future()
            due = loop.time() + delay
            loop.call_at(due, lambda future: future.set_result(loop.time()), done)
            fired = await done
            late.append(fired - due)
        return late

    assert min(_run(lateness)) >= 0


class _Echo(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)  # type: ignore[attr-defined]


@pytest.mark.skipif(not relay._STAMPED, reason="no kernel receive timestamps here")
def test_a_busy_relay_loop_does_not_delay_what_already_arrived() -> None:
    """A chunk is due half an RTT after it reached the relay's socket, even when the
    loop reads it late (here: blocked for BLOCK, under half an RTT, right after the
    client sent it)."""
    rtt, block = 1.0, 0.45

    async def round_trip() -> float:
        loop = asyncio.get_running_loop()
        echo = await loop.create_server(_Echo, "127.0.0.1", 0)
        echo_port = echo.sockets[0].getsockname()[1]
        relayed = relay.Relay(lambda first: echo_port, rtt * 1000, 0)
        port = await relayed.start()
        client = socket.create_connection(("127.0.0.1", port))
        client.setblocking(False)
        try:
            await asyncio.sleep(0.05)  # accepted: the relay waits for bytes
            sent = time.monotonic()
            client.send(b"ping")
            time.sleep(block)  # the loop (relay and server alike) is busy meanwhile
            assert await loop.sock_recv(client, 4) == b"ping"
            return time.monotonic() - sent
        finally:
            client.close()
            await relayed.stop()
            echo.close()
            await echo.wait_closed()

    took = _run(round_trip)
    assert took >= rtt  # the network's round trip, never less
    # Charged from the loop's late read it would be BLOCK + RTT (1.45 s).
    assert took < rtt + block / 2, took


def test_a_stopped_relay_leaves_nothing_open() -> None:
    async def open_then_stop() -> tuple[int, list[socket.socket]]:
        loop = asyncio.get_running_loop()
        echo = await loop.create_server(_Echo, "127.0.0.1", 0)
        echo_port = echo.sockets[0].getsockname()[1]
        relayed = relay.Relay(lambda first: echo_port, 10, 0)
        port = await relayed.start()
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
        clients[0].send(b"hello")  # one relayed, two not yet
        await asyncio.sleep(0.05)
        await relayed.stop()
        assert not relayed.connections
        echo.close()
        await echo.wait_closed()
        return port, clients

    port, clients = _run(open_then_stop)
    for client in clients:  # the relay closed its ends: each client reads the end
        client.settimeout(5)
        with contextlib.suppress(ConnectionResetError):
            while client.recv(100):  # what was relayed before the stop, then the end
                pass
        client.close()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0
