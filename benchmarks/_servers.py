"""Loopback servers for the warm-request and stream rows, each in a process of its own.

    python benchmarks/_servers.py h1          # HTTP/1.1 keep-alive, plain TCP
    python benchmarks/_servers.py h2 DIR      # HTTP/2 over TLS (hypercorn, trustme cert)

Prints one line, ``PORT [CA_PEM]``, then serves until killed. Minimal answers, so the
client's own work dominates and any instrumentation overhead shows. A path
``/stream/N`` answers with an Anthropic Messages stream of N ``content_block_delta``
events (``text/event-stream``), ``/chat/N`` with an OpenAI Chat Completions stream of N
content chunks and ``/responses/N`` with an OpenAI Responses stream of N
``response.output_text.delta`` events, each event written and flushed on its own, as a
server streaming tokens does (HTTP/1.1: one chunk of the chunked encoding per event;
HTTP/2: one DATA frame per event).
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path
from typing import Any

RESPONSE = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"
STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
    b"transfer-encoding: chunked\r\n\r\n"
)
START = (
    b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_bench",'
    b'"usage":{"input_tokens":5,"output_tokens":1}}}\n\n'
)
DELTA = (
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
    b'"delta":{"type":"text_delta","text":"hi"}}\n\n'
)
STOP = (
    b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},'
    b'"usage":{"output_tokens":%d}}\n\nevent: message_stop\ndata: {"type":"message_stop"}\n\n'
)


CHAT_START = (
    b'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1,'
    b'"model":"bench","choices":[{"index":0,"delta":{"role":"assistant","content":""},'
    b'"finish_reason":null}]}\n\n'
)
CHAT_DELTA = (
    b'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1,'
    b'"model":"bench","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}'
    b"\n\n"
)
CHAT_STOP = (
    b'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1,'
    b'"model":"bench","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":%d,'
    b'"total_tokens":%d}}\n\ndata: [DONE]\n\n'
)
RESPONSES_START = (
    b'event: response.created\ndata: {"type":"response.created","sequence_number":0,'
    b'"response":{"id":"resp_bench","status":"in_progress"}}\n\n'
)
RESPONSES_DELTA = (
    b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta",'
    b'"sequence_number":1,"item_id":"msg_bench","output_index":0,"content_index":0,'
    b'"delta":"hi"}\n\n'
)
RESPONSES_STOP = (
    b'event: response.completed\ndata: {"type":"response.completed","sequence_number":2,'
    b'"response":{"id":"resp_bench","status":"completed","usage":{"input_tokens":5,'
    b'"output_tokens":%d,"total_tokens":%d}}}\n\n'
)


def stream_events(path: bytes) -> list[bytes] | None:
    """The events a ``/stream/N``, ``/chat/N`` or ``/responses/N`` path asks for (None
    for any other path)."""
    kind, _, count_text = path.strip(b"/").partition(b"/")
    if kind not in (b"stream", b"chat", b"responses") or not count_text.isdigit():
        return None
    count = int(count_text)
    if kind == b"chat":
        return [CHAT_START, *([CHAT_DELTA] * count), CHAT_STOP % (count, count + 5)]
    if kind == b"responses":
        return [RESPONSES_START, *([RESPONSES_DELTA] * count), RESPONSES_STOP % (count, count + 5)]
    return [START, *([DELTA] * count), STOP % count]


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def pin(index: int) -> None:
    """Server and client on cores of their own, where there are two: less noise."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(cores) >= 2:
        os.sched_setaffinity(0, {cores[index]})


async def _serve_h1() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                events = stream_events(head.split(b" ", 2)[1])
                if events is None:
                    writer.write(RESPONSE)
                    continue
                writer.write(STREAM_HEAD)
                for event in events:  # each its own write, flushed
                    writer.write(_chunk(event))
                    await writer.drain()
                writer.write(b"0\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    events = stream_events(scope["raw_path"])
    if events is not None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream")],
            }
        )
        for event in events:  # one DATA frame each: let hypercorn flush before the next
            await send({"type": "http.response.body", "body": event, "more_body": True})
            await asyncio.sleep(0)
        await send({"type": "http.response.body", "body": b""})
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"2")],
        }
    )
    await send({"type": "http.response.body", "body": b"{}"})


def _serve_h2(directory: str) -> None:
    import trustme
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    folder = Path(directory)
    ca_path = folder / "ca.pem"
    pem_path = folder / "server.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    cert.private_key_and_cert_chain_pem.write_to_path(str(pem_path))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.certfile = str(pem_path)
    config.keyfile = str(pem_path)
    config.alpn_protocols = ["h2", "http/1.1"]
    config.keep_alive_max_requests = 10**9  # hypercorn's default (1,000) ends connections
    config.keep_alive_timeout = 3600
    config.accesslog = None
    config.errorlog = None
    config.loglevel = "ERROR"

    async def main() -> None:
        ready = asyncio.Event()

        async def announce() -> None:
            for _ in range(200):  # until it accepts
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", port)
                    writer.close()
                    break
                except OSError:
                    await asyncio.sleep(0.02)
            print(port, ca_path, flush=True)
            ready.set()

        await asyncio.gather(serve(_app, config), announce())  # type: ignore[arg-type]

    asyncio.run(main())


if __name__ == "__main__":
    pin(-1)
    if sys.argv[1] == "h1":
        asyncio.run(_serve_h1())
    else:
        _serve_h2(sys.argv[2])
