"""First-token detection on event streams, as users see it through a mock route."""

import pytest

from pytest_ttfb._measure import _FirstTokenScanner


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


@pytest.mark.parametrize(
    ("chunks", "found_at"),
    [
        ([b'{"type": "message"}'], None),
        ([b"\n", b"data: {}\n\n", b'data: {"type": "content_block_delta"}'], 2),
        ([b"event: content_block_delta\n"], 0),
        ([b"e", b"v", b"ent: ping\n\n", b"event: content", b"_block_delta"], 4),
        ([b"event: message_start\n\n", b"event: message_stop\n\n"], "never"),
    ],
)
def test_scanner(chunks: list[bytes], found_at: int | str | None) -> None:
    scanner = _FirstTokenScanner()
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
