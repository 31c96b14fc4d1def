"""A real TLS + HTTP/2 server on loopback: hypercorn in a thread, trustme for the CA.

It serves the Anthropic Messages endpoint (JSON and streaming, as the mock does) and
a few plain routes, and counts the TCP connections it accepted (by the client's
address, as hypercorn reports it in each request's scope), so a test can check the
client's records against the server's own view.

Routes: ``GET /ok``; ``GET /delay/{ms}`` (answers after ms); ``POST /v1/messages``.
Every route also honours a ``?delay=ms`` query for server time before the headers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import tempfile
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from . import _anthropic

__all__ = ["LocalServer"]

_Receive = Callable[[], Awaitable[dict[str, Any]]]
_Send = Callable[[dict[str, Any]], Awaitable[None]]


class LocalServer:
    """``with LocalServer() as server:`` serves on ``server.url`` until the block ends.

    ``server.ssl_context()`` trusts it; ``server.ca_file`` is its CA as a PEM file (for
    ``SSL_CERT_FILE``); ``server.connections`` is the set of client addresses seen.
    """

    def __init__(self, *, http2: bool = True) -> None:
        import trustme

        self.http2 = http2
        self.connections: set[tuple[str, int]] = set()
        self.requests = 0
        self._ca = trustme.CA()
        self._directory = tempfile.TemporaryDirectory(prefix="pytest-ttfb-")
        folder = Path(self._directory.name)
        self.ca_file = str(folder / "ca.pem")
        self._ca.cert_pem.write_to_path(self.ca_file)
        self._cert_file = str(folder / "server.pem")
        self._ca.issue_cert("127.0.0.1", "localhost").private_key_and_cert_chain_pem.write_to_path(
            self._cert_file
        )
        self._socket = socket.create_server(("127.0.0.1", 0), backlog=128)
        self.port: int = self._socket.getsockname()[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pytest-ttfb-server", daemon=True)
        self._error: BaseException | None = None

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        self._ca.configure_trust(context)
        return context

    def __enter__(self) -> LocalServer:
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise RuntimeError("the local server did not start") from self._error
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def close(self) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(10)
        with contextlib.suppress(OSError):  # hypercorn owns the listening socket once served
            self._socket.close()
        self._directory.cleanup()

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to the thread that waits in __enter__
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        from hypercorn.asyncio import serve
        from hypercorn.config import Config

        config = Config()
        config.bind = [f"fd://{self._socket.fileno()}"]
        config.certfile = self._cert_file
        config.keyfile = self._cert_file
        config.alpn_protocols = ["h2", "http/1.1"] if self.http2 else ["http/1.1"]
        config.keep_alive_timeout = 75
        config.accesslog = None
        config.errorlog = logging.getLogger("pytest_ttfb.server")
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._ready.set()
        await serve(self._app, config, shutdown_trigger=self._stop.wait)  # type: ignore[arg-type]

    async def _app(self, scope: dict[str, Any], receive: _Receive, send: _Send) -> None:
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
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        query = parse_qs(scope.get("query_string", b"").decode())
        delay_ms = float(query.get("delay", ["0"])[0])
        path: str = scope["path"]
        if path.startswith("/delay/"):
            delay_ms = float(path.removeprefix("/delay/"))
        if delay_ms:
            await asyncio.sleep(delay_ms / 1000.0)
        if path.endswith("/v1/messages") and scope["method"] == "POST":
            if _anthropic.request_wants_stream(body):
                await _respond(send, 200, "text/event-stream", _anthropic.message_events(body))
            else:
                await _respond(send, 200, "application/json", [_anthropic.message_json(body)])
        elif path == "/ok" or path.startswith("/delay/"):
            await _respond(send, 200, "application/json", [b'{"ok": true}'])
        else:
            await _respond(send, 404, "application/json", [b'{"error": "not found"}'])


async def _respond(send: _Send, status: int, content_type: str, chunks: list[bytes]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", content_type.encode())],
        }
    )
    for chunk in chunks:
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})
