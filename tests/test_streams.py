"""Time to first token on streams: paced mock replies, thinking before text, other
providers' chunks, events split across reads; in mock and emulate modes, through every
way the SDK streams, sync and async."""

import pytest

STREAMING = """
import anyio
import anthropic
import httpx2
import pytest

ASK = dict(model="claude-test", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
"""

WAYS = {
    "stream()": """
def call(client):
    with client.messages.stream(**ASK) as stream:
        return "".join(stream.text_stream)
""",
    "create(stream=True)": """
def call(client):
    return "".join(event.delta.text for event in client.messages.create(stream=True, **ASK)
                   if event.type == "content_block_delta")
""",
    "async stream()": """
async def call(client):
    async with client.messages.stream(**ASK) as stream:
        return "".join([text async for text in stream.text_stream])
""",
    "async create(stream=True)": """
async def call(client):
    events = await client.messages.create(stream=True, **ASK)
    return "".join([event.delta.text async for event in events
                    if event.type == "content_block_delta"])
""",
}


@pytest.mark.parametrize("way", list(WAYS))
@pytest.mark.parametrize("client", ["fixture", "watched"])
@pytest.mark.parametrize("mode", ["mock", "emulate"])
def test_first_token_waits_for_the_first_delta(
    pytester: pytest.Pytester, way: str, client: str, mode: str
) -> None:
    is_async = way.startswith("async")
    fixture = "async_anthropic_client" if is_async else "anthropic_client"
    if client == "fixture":
        get_client = f"request.getfixturevalue('{fixture}')"
    else:
        sdk = "AsyncAnthropic" if is_async else "Anthropic"
        get_client = f"ttfb.watch(anthropic.{sdk}(api_key='placeholder'))"
    body = "text = await call(client)" if is_async else "text = call(client)"
    pytester.makepyfile(
        STREAMING
        + WAYS[way]
        + f"""
@pytest.mark.anyio
@pytest.mark.max_first_token(30)
{"async " if is_async else ""}def test_paced(ttfb, ttfb_mock, request):
    ttfb_mock.messages(text="one two three", first_token=300, token_interval=100)
    client = {get_client}
    {body}
    assert text == "one two three"
    (record,) = ttfb.requests
    # The declared waits, less 10 %: the emulated server's timers may fire a hair early.
    assert record.first_token_ms - record.ttfb_ms >= 0.9 * 300
    assert record.first_body_byte_ms <= record.first_token_ms
    assert record.total_ms - record.first_token_ms >= 0.9 * 2 * 100  # two more tokens
"""
    )
    result = pytester.runpytest(f"--ttfb-mode={mode}", "--ttfb-rtt=20")
    # A first-token budget ten times shorter than the declared wait: breached, with
    # the breakdown showing the first token as its own phase.
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*max_first_token(30 ms): max of 1: * ms > 30 ms*",
            "*first token *|*#*| * ms",
        ]
    )
    result.stdout.no_fnmatch_line("*AssertionError*")


THINKING_TEST = (
    STREAMING
    + """
def test_thinking_first(anthropic_client, ttfb_mock, ttfb):
    ttfb_mock.messages(text="Hi", thinking="Let me think it over", token_interval=250)
    with anthropic_client.messages.stream(**ASK) as stream:
        message = stream.get_final_message()
    assert [block.type for block in message.content] == ["thinking", "text"]
    (record,) = ttfb.requests
    print("FIRST_TOKEN_AFTER_BODY", record.first_token_ms - record.first_body_byte_ms)
    if RULE == "visible":
        # five thinking tokens and the signature, 250 ms apart, before the first text
        assert record.first_token_ms - record.first_body_byte_ms >= 0.9 * 5 * 250
    else:
        # the first thinking delta, not the text 5 x 250 ms after it (compared with the
        # record's own times: how late the SDK reads on a busy machine cannot matter)
        assert record.first_token_ms == record.chunk_ms[0]
        assert record.first_token_ms < record.first_token_by_rule["visible"]
"""
)


@pytest.mark.parametrize("rule", ["delta", "visible"])
@pytest.mark.parametrize("mode", ["mock", "emulate"])
def test_thinking_before_text(pytester: pytest.Pytester, rule: str, mode: str) -> None:
    pytester.makepyfile(THINKING_TEST.replace("RULE ==", f"{rule!r} =="))
    args = [f"--ttfb-mode={mode}", "--ttfb-rtt=10", f"--ttfb-first-token={rule}"]
    pytester.runpytest(*args).assert_outcomes(passed=1)


def test_openai_style_chunks(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
from pytest_ttfb import PacedStream
import httpx

CHUNKS = [
    (0.0, b'data: {"choices": [{"delta": {"role": "assistant"}}]}\\n\\n'),
    (0.3, b'data: {"choices": [{"delta": {"content": "Hi"}}]}\\n\\n'),
    (0.0, b"data: [DONE]\\n\\n"),
]

def test_chat_completions(ttfb_mock, ttfb_client, ttfb):
    ttfb_mock.post("https://api.openai.test/v1/chat/completions").mock(
        side_effect=lambda request: httpx.Response(200, stream=PacedStream(CHUNKS)))
    with ttfb_client.stream("POST", "https://api.openai.test/v1/chat/completions") as r:
        r.read()
    (record,) = ttfb.requests
    assert record.first_token_ms - record.first_body_byte_ms >= 0.9 * 300  # not the role
""")
    pytester.runpytest("--ttfb-first-token=openai").assert_outcomes(passed=1)


def test_event_split_across_two_reads_on_the_network(pytester: pytest.Pytester) -> None:
    # Through the emulated server: the event's name arrives in one read, the rest
    # 300 ms later in another. The first token is the moment the event is whole.
    pytester.makepyfile("""
from pytest_ttfb import PacedStream
import httpx

CHUNKS = [
    (0.0, b"event: message_start\\ndata: {}\\n\\nevent: content_blo"),
    (0.3, b'ck_delta\\ndata: {"delta": {"type": "text_delta", "text": "Hi"}}\\n\\n'),
]

def test_split(ttfb_mock, ttfb_client, ttfb):
    ttfb_mock.get("https://api.test/stream").mock(
        side_effect=lambda request: httpx.Response(200, stream=PacedStream(CHUNKS)))
    with ttfb_client.stream("GET", "https://api.test/stream") as response:
        reads = list(response.iter_raw())
    assert len(reads) == 2
    (record,) = ttfb.requests
    assert record.first_token_ms - record.first_body_byte_ms >= 0.9 * 300
""")
    pytester.runpytest("--ttfb-mode=emulate", "--ttfb-rtt=10").assert_outcomes(passed=1)


@pytest.mark.parametrize("mode", ["mock", "emulate"])
def test_retries_are_recorded_with_their_attempt(pytester: pytest.Pytester, mode: str) -> None:
    pytester.makepyfile(
        STREAMING
        + """
def test_overloaded_then_rate_limited_then_fine(anthropic_client, ttfb_mock, ttfb):
    ttfb_mock.messages(errors=[529, 429])
    message = anthropic_client.messages.create(**ASK)
    assert message.content[0].text
    assert [r.status for r in ttfb.requests] == [529, 429, 200]
    assert [r.attempt for r in ttfb.requests] == [1, 2, 3]

def test_retries_exhausted(anthropic_client, ttfb_mock, ttfb):
    ttfb_mock.messages(errors=[529, 529, 529])
    with pytest.raises(anthropic.APIStatusError, match="overloaded_error"):
        anthropic_client.messages.create(**ASK)
    assert [(r.status, r.attempt) for r in ttfb.requests] == [(529, 1), (529, 2), (529, 3)]

@pytest.mark.anyio
async def test_async_rate_limit(async_anthropic_client, ttfb_mock, ttfb):
    ttfb_mock.messages(errors=[429])
    await async_anthropic_client.messages.create(**ASK)
    assert [(r.status, r.attempt) for r in ttfb.requests] == [(429, 1), (200, 2)]
"""
    )
    pytester.runpytest(f"--ttfb-mode={mode}", "--ttfb-rtt=10").assert_outcomes(passed=3)


def test_bad_pacing_arguments_name_themselves(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
import pytest

def test_negative(ttfb_mock):
    with pytest.raises(ValueError, match=r"messages\\(first_token=...\\): expected "
                                         r"a finite duration >= 0, got -1"):
        ttfb_mock.messages(first_token=-1)
""")
    pytester.runpytest().assert_outcomes(passed=1)
