"""emulate: a network with round-trip time, on loopback, without ``tc netem``.

Where the delay lives, and why there: a request's phases must land where a real
network puts them, so nothing sleeps in the request handler.

- The client side charges one RTT at ``connect_tcp`` (the TCP handshake): the
  instrumented ``NetworkBackend`` connects to a relay on loopback, then waits an RTT.
- The relay sits between client and server and releases every chunk half an RTT
  after it arrived, in each direction: a timestamped queue per direction, not a sleep
  per chunk, so chunks keep their order and concurrent HTTP/2 streams sharing a
  connection are not serialised behind one another.

So the TLS 1.3 handshake costs one RTT and each request one more, as on a real
network: a cold request's first byte comes after about 3 RTT plus server time, a warm
one's after 1 RTT plus server time.

Behind the relays one local server (hypercorn, TLS with a certificate for any host
name, HTTP/2 by ALPN, and plain HTTP) answers from the current test's ``ttfb_mock``
routes, with their latencies as server time. A relay picks the TLS or the plain
listener from the client's first byte (a TLS record starts with 0x16). There is one
relay per distinct RTT: the default and each declared region.
"""

from __future__ import annotations

import contextlib
import itertools
import ssl
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .relay import Relay
from .server import LocalServer, Receive, Send, read_body, respond

__all__ = ["Emulator", "Region"]

_TLS_RECORD = 0x16
_RAISED_HEADER = "x-pytest-ttfb-raised"
_HOP_BY_HOP = {
    b"connection",
    b"keep-alive",
    b"transfer-encoding",
    b"content-length",
    b"upgrade",
    b"proxy-connection",
    b"te",
}


@dataclass(frozen=True)
class Region:
    """An emulated region: requests to a host named after it cost its RTT."""

    name: str
    rtt_ms: float

    def serves(self, host: str) -> bool:
        """``eu-west-1`` serves ``eu-west-1`` and ``eu-west-1.anything``."""
        host = host.lower()
        return host == self.name or host.startswith(self.name + ".")


class Emulator:
    """The emulated network of one pytest session: a server, relays, routes.

    ``route_to(router)`` says which ``ttfb_mock`` router answers (the running test's);
    ``address_for(host)`` is where an instrumented client connects instead of ``host``
    and the RTT it pays there; ``trust(context)`` makes a client context trust the
    server's certificates.
    """

    def __init__(
        self, rtt_ms: float, *, jitter_ms: float = 0.0, regions: Iterable[Region] = ()
    ) -> None:
        self.rtt_ms = rtt_ms
        self.jitter_ms = jitter_ms
        self.regions = tuple(regions)
        self.server = LocalServer(self._app)
        self._router: Any = None
        self._relays: dict[float, Relay] = {}
        self._trusted: weakref.WeakSet[ssl.SSLContext] = weakref.WeakSet()
        self._raised: dict[str, BaseException] = {}
        self._tokens = itertools.count(1)

    @property
    def connections(self) -> int:
        """TCP connections the server has accepted so far."""
        return len(self.server.connections)

    def start(self) -> None:
        self.server.start()
        for rtt in {self.rtt_ms, *(region.rtt_ms for region in self.regions)}:
            relay = Relay(self._upstream_port, rtt, self.jitter_ms)
            self.server.run(relay.start())
            self._relays[rtt] = relay

    def stop(self) -> None:
        for relay in self._relays.values():
            with contextlib.suppress(Exception):
                self.server.run(relay.stop())
        self.server.close()

    def _upstream_port(self, first: bytes) -> int:
        """The server's TLS or plain listener, from a connection's first byte."""
        return self.server.tls_port if first[0] == _TLS_RECORD else self.server.plain_port

    def route_to(self, router: Any) -> None:
        self._router = router
        self._raised.clear()  # a test's exceptions are for that test's requests only

    def raised(self, response: Any) -> BaseException | None:
        """The exception a route's side effect raised for the request ``response``
        answers (then forgotten), or ``None`` for every other response."""
        if response.status_code != 500 or not self._raised:
            return None
        token = response.headers.get(_RAISED_HEADER)
        return self._raised.pop(token, None) if token else None

    async def _raise_in_caller(self, send: Send, exc: Exception) -> None:
        """Answer 500 naming ``exc`` in a header; the client's instrumented transport
        then raises ``exc`` itself to the caller (``raised``), as respx does in mock
        mode: the same exception, caught or failing the test alike in both modes."""
        token = str(next(self._tokens))
        self._raised[token] = exc.with_traceback(None)  # its frames are the server's
        text = f"pytest-ttfb emulate mode: the route raised {type(exc).__name__}: {exc}"
        headers = [(b"content-type", b"text/plain; charset=utf-8")]
        await respond(
            send, 500, [*headers, (_RAISED_HEADER.encode(), token.encode())], [text.encode()]
        )

    def rtt_for(self, host: str) -> float:
        for region in self.regions:
            if region.serves(host):
                return region.rtt_ms
        return self.rtt_ms

    def address_for(self, host: str) -> tuple[str, int, float]:
        """``(relay host, relay port, rtt in seconds)`` for a connection to ``host``.

        It also has the server's certificate for ``host`` made now, inside the round
        trip the client is charged for connecting, not during its TLS handshake."""
        self.server.prepare_name(host)
        rtt = self.rtt_for(host)
        return "127.0.0.1", self._relays[rtt].port, rtt / 1000.0

    def trust(self, context: ssl.SSLContext) -> None:
        if context not in self._trusted:
            self.server.trust(context)
            self._trusted.add(context)

    async def _app(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        """Answer from the running test's routes, as respx would in mock mode."""
        import httpx

        from .mock import UnmatchedRequest

        body = await read_body(receive)
        headers = [(bytes(k), bytes(v)) for k, v in scope["headers"]]
        host = next((v.decode("latin-1") for k, v in headers if k == b"host"), "localhost")
        target = scope.get("raw_path") or scope["path"].encode()
        query = scope.get("query_string", b"")
        url = f"{scope['scheme']}://{host}{target.decode('latin-1')}"
        if query:
            url += "?" + query.decode("latin-1")
        request = httpx.Request(scope["method"], url, headers=headers, content=body)
        router = self._router
        if router is None:
            await _error(send, 503, "pytest-ttfb emulate mode: no test is running")
            return
        try:
            resolved = await router.aresolve(request)
        except UnmatchedRequest as exc:
            await _error(send, 502, str(exc))
            return
        except Exception as exc:  # a side effect the user wrote raised: the caller's
            await self._raise_in_caller(send, exc)
            return
        response = resolved.response
        await send(
            {
                "type": "http.response.start",
                "status": response.status_code,
                "headers": [
                    (k.lower(), v) for k, v in response.headers.raw if k.lower() not in _HOP_BY_HOP
                ],
            }
        )
        stream = response.stream
        if hasattr(stream, "__aiter__"):
            async for chunk in stream:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        else:
            for chunk in stream:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _error(send: Send, status: int, text: str) -> None:
    await respond(send, status, [(b"content-type", b"text/plain; charset=utf-8")], [text.encode()])
