"""The recipe as tests: one shared, pooled client; budgets on what users feel."""

import anyio
import pytest

MODEL = "claude-sonnet-5-5"
HELLO = [{"role": "user", "content": "Say hello."}]


@pytest.mark.max_ttfb(1000)
def test_a_message_starts_within_a_second(anthropic_client):
    message = anthropic_client.messages.create(model=MODEL, max_tokens=64, messages=HELLO)
    assert message.content[0].text


@pytest.mark.max_first_token(1500)
def test_a_stream_shows_its_first_token_quickly(anthropic_client):
    with anthropic_client.messages.stream(model=MODEL, max_tokens=64, messages=HELLO) as stream:
        text = "".join(stream.text_stream)
    assert text


@pytest.mark.max_new_connections(1)
@pytest.mark.max_ttfb(1000, percentile=95)
def test_an_agent_loop_reuses_one_connection(anthropic_client, ttfb):
    for turn in range(5):
        anthropic_client.messages.create(
            model=MODEL,
            max_tokens=64,
            messages=[{"role": "user", "content": f"Step {turn}: continue."}],
        )
    assert len(ttfb.requests) == 5
    # In emulate and live modes every call after the first rides the same connection.
    assert ttfb.new_connections <= 1


@pytest.mark.max_total(3000)
@pytest.mark.anyio
async def test_twenty_concurrent_calls(async_anthropic_client, ttfb):
    async def call(index):
        await async_anthropic_client.messages.create(
            model=MODEL,
            max_tokens=16,
            messages=[{"role": "user", "content": f"Call {index}."}],
        )

    async with anyio.create_task_group() as group:
        for index in range(20):
            group.start_soon(call, index)
    assert len(ttfb.requests) == 20
