"""An agent loop with tool use: the model asks for a tool twice, then answers.

In mock and emulate modes the Messages route plays the model: `replies=[...]` gives
each call its reply in turn (tool calls streamed as the API streams them). In live
mode the real model decides; the loop is the same code.
"""

import pytest

MODEL = "claude-sonnet-5-5"
TOOLS = [
    {
        "name": "get_weather",
        "description": "The weather in a city.",
        "input_schema": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    }
]
QUESTION = "Is it warmer in Paris or in Oslo today? Use the tool for each city."


def get_weather(city):
    return {"Paris": "21 C, sunny", "Oslo": "9 C, rain"}.get(city, "unknown")


@pytest.fixture
def model_plays_the_loop(ttfb_mock):
    ttfb_mock.messages(
        replies=[
            [
                {"type": "text", "text": "Checking Paris first."},
                {"type": "tool_use", "name": "get_weather", "input": {"city": "Paris"}},
            ],
            [{"type": "tool_use", "name": "get_weather", "input": {"city": "Oslo"}}],
            "Paris is warmer: 21 C against 9 C in Oslo.",
        ],
        latency="120ms",
        first_token="40ms",
        token_interval="5ms",
    )
    return ttfb_mock


def run_agent(client, max_turns=6):
    """Call the model, run the tools it asks for, until it answers."""
    messages = [{"role": "user", "content": QUESTION}]
    for _ in range(max_turns):
        with client.messages.stream(
            model=MODEL, max_tokens=512, tools=TOOLS, messages=messages
        ) as stream:
            message = stream.get_final_message()
        messages.append({"role": "assistant", "content": message.content})
        calls = [block for block in message.content if block.type == "tool_use"]
        if message.stop_reason != "tool_use" or not calls:
            return message, messages
        messages.append(
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": call.id,
                        "content": get_weather(call.input["city"]),
                    }
                    for call in calls
                ],
            }
        )
    raise AssertionError(f"no answer after {max_turns} turns")


@pytest.mark.max_new_connections(1)
@pytest.mark.max_first_token(2000)
@pytest.mark.max_ttfb(1500, percentile=95)
def test_agent_answers_after_two_tool_calls(anthropic_client, model_plays_the_loop, ttfb):
    answer, transcript = run_agent(anthropic_client)
    assert "Paris" in answer.content[-1].text
    if model_plays_the_loop.mode != "live":
        # tool_use, tool_use, end_turn: three calls on one pooled connection.
        assert len(ttfb.requests) == 3
        assert model_plays_the_loop["messages"].call_count == 3
        assert len(transcript) == 1 + 2 * 2 + 1
    assert all(record.first_token_ms is not None for record in ttfb.requests)
