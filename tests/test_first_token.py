"""First-token detection on event streams, as users see it through a mock route."""

import json

import pytest

from pytest_ttfb.measure.scanner import FirstTokenScanner


def test_event_name_split_across_reads_is_found(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import httpx

        CHUNKS = [b"ev", b"ent: message_start\\ndata: {}\\n\\n", b"event: ping\\n\\n",
                  b"event: content_block_", b"delta\\ndata: {}\\n\\n", b"event: message_stop\\n"]

        def test_split(ttfb_mock, ttfb_client, ttfb):
            ttfb_mock.get("https://api.test/stream").mock(
                return_value=httpx.Response(200, content=iter(CHUNKS)))
            with ttfb_client.stream("GET", "https://api.test/stream") as response:
                received = list(response.iter_raw())
            assert b"".join(received) == b"".join(CHUNKS)  # nothing lost or held back
            (record,) = ttfb.requests
            assert record.ttfb_ms <= record.first_token_ms <= record.total_ms

        def test_json_body_has_no_first_token(ttfb_mock, ttfb_client, ttfb):
            ttfb_mock.get("https://api.test/json").respond(
                200, json={"note": "content_block_delta appears in text, not as an event"})
            ttfb_client.get("https://api.test/json")
            assert ttfb.requests[0].first_token_ms is None
    """)
    pytester.runpytest().assert_outcomes(passed=2)


def delta_event(index: int, delta: dict[str, str]) -> bytes:
    data = {"type": "content_block_delta", "index": index, "delta": delta}
    return f"event: content_block_delta\ndata: {json.dumps(data)}\n\n".encode()


THINKING = delta_event(0, {"type": "thinking_delta", "thinking": "Hm"})
TEXT = delta_event(1, {"type": "text_delta", "text": "Hi"})
ROLE_ONLY = b'data: {"choices": [{"delta": {"role": "assistant"}}]}\n\n'
CONTENT = b'data: {"choices": [{"delta": {"content": "Hi"}}]}\n\n'


@pytest.mark.parametrize(
    ("rule", "chunks", "found_at"),
    [
        ("delta", [b'{"type": "message"}'], None),
        ("delta", [b"\n", b"data: {}\n\n", b"event: content_block_delta\ndata: {}\n\n"], 2),
        ("delta", [b"event: content_block_delta\ndata: {}\n\n"], 0),
        ("delta", [b"e", b"v", b"ent: ping\n\n", b"event: content", b"_block_delta\n\n"], 4),
        ("delta", [b"event: message_start\n\n", b"event: message_stop\n\n"], "never"),
        ("delta", [THINKING, TEXT], 0),
        ("visible", [THINKING, TEXT], 1),
        ("visible", [THINKING + TEXT[:30], TEXT[30:]], 1),
        ("openai", [ROLE_ONLY, CONTENT, b"data: [DONE]\n\n"], 1),
        (
            "openai",
            [
                b"event: response.created\ndata: {}\n\n",
                b"event: response.output_text.delta\ndata: {}\n\n",
            ],
            1,
        ),
        ("delta", [b"event: ping\r\ndata: {}\r\n\r\nevent: content_block_delta\r\n\r\n"], 0),
    ],
)
def test_scanner(rule: str, chunks: list[bytes], found_at: int | str | None) -> None:
    scanner = FirstTokenScanner(rule)
    outcome: int | str | None = "never"
    for index, chunk in enumerate(chunks):
        result = scanner.feed(chunk)
        if result is None:
            outcome = None
            break
        if result:
            outcome = index
            break
    assert outcome == found_at
