"""A real TLS + HTTP/2 server on loopback: hypercorn in a thread, trustme for the CA.

It answers TLS for any host name (SNI): a certificate for each name is issued on first
use by its own CA, so a client that trusts ``ca_file`` verifies ``api.anthropic.com``
as strictly as the real thing. It also listens for plain HTTP. It counts the TCP
connections it accepted (by the client address hypercorn reports in each request's
scope), so tests can check a client's records against the server's own view.

The default app serves ``GET /ok``, ``GET /delay/{ms}`` and ``POST /v1/messages``
(JSON, or the event stream when asked), each honouring ``?delay=ms`` of server time.
"""

from __future__ import annotations

import asyncio
import http.client
import logging
import socket
import ssl
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs

from ..providers import anthropic as _anthropic

__all__ = ["App", "LocalServer"]

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
App = Callable[[dict[str, Any], Receive, Send], Awaitable[None]]
_T = TypeVar("_T")


class LocalServer:
    """``with LocalServer() as server:`` serves on ``server.url`` (TLS) and
    ``server.plain_url`` until the block ends.

    ``server.ssl_context()`` trusts it; ``server.trust(context)`` adds its CA to a
    context; ``server.ca_file`` is the CA as PEM (for ``SSL_CERT_FILE``);
    ``server.connections`` is the set of client addresses seen. A connection carries
    any number of requests unless ``max_requests_per_connection`` says otherwise.
    """

    def __init__(
        self,
        app: App | None = None,
        *,
        http2: bool = True,
        max_requests_per_connection: int | None = None,
    ) -> None:
        import trustme

        self.http2 = http2
        # None: no cap. hypercorn's own default (1,000) closes a busy HTTP/2 connection
        # under its clients, failing the requests in flight, which no real API this
        # stands in for does; a number brings that back (benchmarks/bursts.py).
        self.max_requests_per_connection = max_requests_per_connection
        self.connections: set[tuple[str, int]] = set()
        self.requests = 0
        self._app: App = app or default_app
        self._ca = trustme.CA()
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._directory = tempfile.TemporaryDirectory(prefix="pytest-ttfb-")
        folder = Path(self._directory.name)
        self.ca_file = str(folder / "ca.pem")
        self._ca.cert_pem.write_to_path(self.ca_file)
        self._cert_file = str(folder / "server.pem")
        self._ca.issue_cert("127.0.0.1", "localhost").private_key_and_cert_chain_pem.write_to_path(
            self._cert_file
        )
        self._tls_socket = socket.create_server(("127.0.0.1", 0), backlog=256)
        self._plain_socket = socket.create_server(("127.0.0.1", 0), backlog=256)
        self.tls_port: int = self._tls_socket.getsockname()[1]
        self.plain_port: int = self._plain_socket.getsockname()[1]
        self.url = f"https://127.0.0.1:{self.tls_port}"
        self.plain_url = f"http://127.0.0.1:{self.plain_port}"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pytest-ttfb-server", daemon=True)
        self._error: BaseException | None = None
        self._answering: set[asyncio.Task[Any]] = set()  # hypercorn's tasks running our app

    @property
    def alpn(self) -> list[str]:
        return ["h2", "http/1.1"] if self.http2 else ["http/1.1"]

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        self.trust(context)
        return context

    def trust(self, context: ssl.SSLContext) -> None:
        self._ca.configure_trust(context)

    def __enter__(self) -> LocalServer:
        self.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def start(self) -> None:
        """Start serving, and return once the server answers, so that its start-up
        does not land in the first request's timings."""
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise RuntimeError("the local server did not start") from self._error
        self._wait_until_serving()

    def _wait_until_serving(self, timeout: float = 10.0) -> None:
        """Block until the server answers HTTP (then forget that request)."""
        deadline = time.monotonic() + timeout
        while True:
            connection = http.client.HTTPConnection("127.0.0.1", self.plain_port, timeout=2)
            try:
                connection.request("GET", "/pytest-ttfb/ready")
                connection.getresponse().read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
            finally:
                connection.close()
        self.connections.clear()
        self.requests = 0

    def prepare_name(self, name: str) -> None:
        """Make the certificate for ``name`` now, rather than during a handshake."""
        if name and not name[:1].isdigit() and ":" not in name:  # IP addresses: default
            self._context_for(name)

    def run(self, coroutine: Coroutine[Any, Any, _T]) -> _T:
        """Run ``coroutine`` on the server's event loop and wait for its result."""
        assert self._loop is not None, "the server is not running"
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)

    def close(self) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(10)
        for listener in (self._tls_socket, self._plain_socket):
            listener.close()  # a no-op once handed to hypercorn (detached), which closed it
        self._directory.cleanup()

    def _context_for(self, name: str) -> ssl.SSLContext:
        """A server context with a certificate for ``name`` (made once, then reused)."""
        context = self._contexts.get(name)
        if context is None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            # No session tickets: clients here never resume a session, and issuing
            # them is work in every handshake, before the server's first frame.
            context.num_tickets = 0
            self._ca.issue_cert(name).configure_cert(context)
            context.set_alpn_protocols(self.alpn)
            self._contexts[name] = context
        return context

    def _sni(self, connection: ssl.SSLObject, name: str | None, _: ssl.SSLContext) -> None:
        if name:
            connection.context = self._context_for(name)

    def _run(self) -> None:
        from .clock import new_event_loop

        try:
            with asyncio.Runner(loop_factory=new_event_loop) as runner:
                runner.run(self._serve())
        except BaseException as exc:  # reported to the thread waiting in start()
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        from hypercorn.asyncio import serve
        from hypercorn.config import Config

        server = self

        class _Config(Config):
            def create_ssl_context(self) -> ssl.SSLContext | None:
                context = super().create_ssl_context()
                if context is not None:
                    context.sni_callback = server._sni
                    context.num_tickets = 0
                return context

        config = _Config()
        # hypercorn makes its own socket objects on these descriptors and closes them
        # when it stops: ours let go of them, so nothing closes a descriptor twice.
        config.bind = [f"fd://{self._tls_socket.detach()}"]
        config.insecure_bind = [f"fd://{self._plain_socket.detach()}"]
        config.certfile = self._cert_file
        config.keyfile = self._cert_file
        config.alpn_protocols = self.alpn
        config.keep_alive_timeout = 75
        # h11 and h2 both compare each connection's request count with this.
        cap = self.max_requests_per_connection
        config.keep_alive_max_requests = sys.maxsize if cap is None else cap
        config.accesslog = None
        config.errorlog = _quiet_logger
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._ready.set()
        await serve(self._counting_app, config, shutdown_trigger=self._until_closed)  # type: ignore[arg-type]

    async def _until_closed(self) -> None:
        """Return when ``close()`` is called, once the requests still being answered
        (a stream left open, a long delay) are cancelled and have ended: hypercorn
        then closes its connections in its own time, leaving no task to cancel."""
        assert self._stop is not None
        await self._stop.wait()
        answering = list(self._answering)
        for task in answering:
            task.cancel()
        await asyncio.gather(*answering, return_exceptions=True)

    async def _counting_app(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        client = scope.get("client")
        if client:
            self.connections.add((client[0], client[1]))
        self.requests += 1
        task = asyncio.current_task()
        assert task is not None
        self._answering.add(task)
        try:
            await self._app(scope, receive, send)
        finally:
            self._answering.discard(task)


_quiet_logger = logging.getLogger("pytest_ttfb.server")
_quiet_logger.addHandler(logging.NullHandler())
_quiet_logger.propagate = False


async def read_body(receive: Receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        chunk: bytes = message.get("body", b"")
        body += chunk
        if not message.get("more_body"):
            return body


async def respond(
    send: Send, status: int, headers: list[tuple[bytes, bytes]], chunks: list[bytes]
) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    for chunk in chunks:
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def default_app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    body = await read_body(receive)
    query = parse_qs(scope.get("query_string", b"").decode())
    delay_ms = float(query.get("delay", ["0"])[0])
    path: str = scope["path"]
    if path.startswith("/delay/"):
        delay_ms = float(path.removeprefix("/delay/"))
    if delay_ms:
        await asyncio.sleep(delay_ms / 1000.0)
    json_type = [(b"content-type", b"application/json")]
    if path.endswith("/v1/messages") and scope["method"] == "POST":
        reply = _anthropic.Reply()
        if _anthropic.request_wants_stream(body):
            events = [event for _, event in reply.events(body)]
            await respond(send, 200, [(b"content-type", b"text/event-stream")], events)
        else:
            await respond(send, 200, json_type, [reply.json(body)])
    elif path == "/ok" or path.startswith("/delay/"):
        await respond(send, 200, json_type, [b'{"ok": true}'])
    else:
        await respond(send, 404, json_type, [b'{"error": "not found"}'])
