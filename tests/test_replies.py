"""Agent-loop replies on the Anthropic Messages route: replies in turn (the last
repeats), tool_use streamed as input_json_delta and parsed by the SDK, per-test state,
a user's own route winning over the built-in one, duration knobs, bad knobs named."""

import pytest

HEADER = """
import json
import anyio
import anthropic
import pytest

ASK = dict(model="claude-test", max_tokens=50, messages=[{"role": "user", "content": "go"}])
TOOL = {"type": "tool_use", "id": "toolu_1", "name": "get_weather",
        "input": {"city": "Paris", "days": [1, 2], "note": "a b c"}}
REPLIES = [[{"type": "text", "text": "Let me look."}, TOOL],
           [{"type": "thinking", "thinking": "Two calls then."}, dict(TOOL, id="toolu_2")],
           "Sunny all week."]
"""


@pytest.mark.parametrize("mode", ["mock", "emulate"])
def test_replies_in_turn_then_the_last_repeats(pytester: pytest.Pytester, mode: str) -> None:
    pytester.makepyfile(
        HEADER
        + """
def test_json_in_turn(anthropic_client, ttfb_mock):
    ttfb_mock.messages(replies=REPLIES)
    first, second, third, fourth = (anthropic_client.messages.create(**ASK) for _ in range(4))
    assert first.stop_reason == "tool_use" and second.stop_reason == "tool_use"
    assert [b.type for b in first.content] == ["text", "tool_use"]
    assert first.content[1].input == TOOL["input"] and first.content[1].name == "get_weather"
    assert [b.type for b in second.content] == ["thinking", "tool_use"]
    assert second.content[1].id == "toolu_2"
    assert third.stop_reason == fourth.stop_reason == "end_turn"
    assert third.content[0].text == fourth.content[0].text == "Sunny all week."
    assert ttfb_mock["messages"].call_count == 4

def test_stream_tool_use_parses(anthropic_client, ttfb_mock, ttfb):
    ttfb_mock.messages(replies=REPLIES)
    with anthropic_client.messages.stream(**ASK) as stream:
        events = [event.type for event in stream]
        message = stream.get_final_message()
    assert message.stop_reason == "tool_use"
    tool = message.content[1]
    assert (tool.type, tool.id, tool.name, tool.input) == (
        "tool_use", "toolu_1", "get_weather", TOOL["input"])
    # text words + the JSON's space-separated pieces, one delta each
    assert message.usage.output_tokens == 3 + 9
    assert "input_json" in events
    assert ttfb.requests[0].first_token_ms is not None

def test_raw_events_of_a_tool_call(anthropic_client, ttfb_mock):
    ttfb_mock.messages(replies=[[TOOL]])
    events = list(anthropic_client.messages.create(stream=True, **ASK))
    start = next(e for e in events if e.type == "content_block_start")
    assert start.content_block.type == "tool_use" and start.content_block.input == {}
    deltas = [e.delta for e in events if e.type == "content_block_delta"]
    assert {d.type for d in deltas} == {"input_json_delta"} and len(deltas) > 1
    assert json.loads("".join(d.partial_json for d in deltas)) == TOOL["input"]
    (message_delta,) = [e for e in events if e.type == "message_delta"]
    assert message_delta.delta.stop_reason == "tool_use"
    assert message_delta.usage.output_tokens == len(deltas)

@pytest.mark.anyio
async def test_async_stream_in_turn(async_anthropic_client, ttfb_mock):
    ttfb_mock.messages(replies=REPLIES)
    reasons = []
    for _ in range(3):
        async with async_anthropic_client.messages.stream(**ASK) as stream:
            reasons.append((await stream.get_final_message()).stop_reason)
    assert reasons == ["tool_use", "tool_use", "end_turn"]

# Each test starts afresh: the reply counter and the errors still to send.
@pytest.mark.parametrize("run", [1, 2])
def test_state_is_per_test(anthropic_client, ttfb_mock, ttfb, run):
    ttfb_mock.messages(replies=["one", "two"], errors=[529])
    assert anthropic_client.messages.create(**ASK).content[0].text == "one"
    assert [(r.status, r.attempt) for r in ttfb.requests] == [(529, 1), (200, 2)]

def test_the_default_route_is_fresh_too(anthropic_client):
    assert anthropic_client.messages.create(**ASK).content[0].text == "Hello from pytest-ttfb."
"""
    )
    pytester.runpytest(f"--ttfb-mode={mode}", "--ttfb-rtt=5", "-p", "anyio").assert_outcomes(
        passed=7
    )


@pytest.mark.parametrize("mode", ["mock", "emulate"])
def test_a_users_route_on_the_messages_url_wins(pytester: pytest.Pytester, mode: str) -> None:
    pytester.makepyfile(
        HEADER
        + """
import httpx

MINE = {"id": "msg_mine", "type": "message", "role": "assistant", "model": "m",
        "content": [{"type": "text", "text": "mine"}], "stop_reason": "end_turn",
        "stop_sequence": None, "usage": {"input_tokens": 1, "output_tokens": 1}}

def test_declared_before_or_after_the_knobs(anthropic_client, ttfb_mock):
    mine = ttfb_mock.post("https://api.anthropic.com/v1/messages").respond(json=MINE)
    ttfb_mock.messages(text="built-in")  # re-declaring the built-in route keeps it last
    assert anthropic_client.messages.create(**ASK).content[0].text == "mine"
    assert mine.call_count == 1 and ttfb_mock["messages"].call_count == 0

def test_other_urls_still_get_the_built_in_one(anthropic_client, ttfb_mock):
    ttfb_mock.post("https://elsewhere.test/v1/messages").respond(json=MINE)
    assert anthropic_client.messages.create(**ASK).content[0].text == "Hello from pytest-ttfb."

def test_the_built_in_routes_exact_pattern_taken_first(anthropic_client, ttfb_mock):
    # The built-in routes are declared when first needed: one of the test's own on
    # the very same pattern, declared before, is not merged into (or answered by) it.
    mine = ttfb_mock.post(path__regex=r"/v1/messages$").respond(json=MINE)
    assert ttfb_mock["chat_completions"].call_count == 0  # declares the built-in routes
    assert anthropic_client.messages.create(**ASK).content[0].text == "mine"
    assert anthropic_client.messages.create(**ASK).content[0].text == "mine"
    assert mine.call_count == 2

def test_the_built_in_routes_can_be_looked_up_before_any_request(anthropic_client, ttfb_mock):
    assert "messages" in ttfb_mock.routes and "responses" in ttfb_mock.routes
    assert ttfb_mock["chat_completions"].call_count == 0
    assert anthropic_client.messages.create(**ASK).content[0].text == "Hello from pytest-ttfb."
    assert ttfb_mock["messages"].call_count == 1
"""
    )
    pytester.runpytest(f"--ttfb-mode={mode}", "--ttfb-rtt=5").assert_outcomes(passed=4)


def test_a_route_on_the_users_own_respx_router_wins(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        HEADER
        + """
import respx

MINE = {"id": "msg_mine", "type": "message", "role": "assistant", "model": "m",
        "content": [{"type": "text", "text": "from respx"}], "stop_reason": "end_turn",
        "stop_sequence": None, "usage": {"input_tokens": 1, "output_tokens": 1}}

def test_own_router(anthropic_client, ttfb_mock, ttfb):
    # anthropic 0.x runs on httpx (httpcore), >= 1 on httpx2 (httpcore2).
    from pytest_ttfb.clients import anthropic_stack
    using = "httpcore" if anthropic_stack() == "httpx" else "httpcore2"
    with respx.mock(using=using) as mine:
        route = mine.post("https://api.anthropic.com/v1/messages").respond(json=MINE)
        text = anthropic_client.messages.create(**ASK).content[0].text
    assert text == "from respx" and route.call_count == 1
    assert ttfb_mock["messages"].call_count == 0
    assert len(ttfb.requests) == 1
"""
    )
    pytester.runpytest().assert_outcomes(passed=1)


@pytest.mark.parametrize("mode", ["mock", "emulate"])
def test_duration_strings_in_the_knobs(pytester: pytest.Pytester, mode: str) -> None:
    pytester.makepyfile(
        HEADER
        + """
def test_messages(anthropic_client, ttfb_mock, ttfb):
    ttfb_mock.messages(text="a b c", latency="80ms", first_token="0.2s",
                       token_interval="50000us")
    with anthropic_client.messages.stream(**ASK) as stream:
        "".join(stream.text_stream)
    (record,) = ttfb.requests
    assert record.ttfb_ms >= 0.9 * 80
    assert record.first_token_ms - record.ttfb_ms >= 0.9 * 200
    assert record.total_ms - record.first_token_ms >= 0.9 * 2 * 50

def test_route_latency(ttfb_client, ttfb_mock, ttfb):
    ttfb_mock.get("https://api.test/slow", latency="0.1s").respond(200)
    ttfb_client.get("https://api.test/slow")
    assert ttfb.requests[0].ttfb_ms >= 0.9 * 100
"""
    )
    pytester.runpytest(f"--ttfb-mode={mode}", "--ttfb-rtt=5").assert_outcomes(passed=2)


BAD_KNOBS = [
    ("messages(latency='fast')", r"messages\(latency=...\): expected a duration"),
    ("messages(first_token='-5ms')", r"messages\(first_token=...\): expected a duration"),
    ("messages(token_interval=True)", r"messages\(token_interval=...\): expected a duration"),
    ("chat_completions(first_token=-1)", r"chat_completions\(first_token=...\): expected a fin"),
    ("responses(latency='1 hour')", r"responses\(latency=...\): expected a duration"),
    ("messages(replies=[])", r"messages\(replies=...\): expected a non-empty list"),
    ("messages(replies='hi')", r"messages\(replies=...\): expected a non-empty list"),
    ("messages(replies=[[{'type': 'image'}]])", r"messages\(replies=...\)\[0\]\[0\]: expected"),
    (
        "messages(replies=['ok', [{'type': 'tool_use', 'input': {}}]])",
        r"messages\(replies=...\)\[1\]\[0\]: a tool_use block needs a 'name'",
    ),
    (
        "messages(replies=[[{'type': 'tool_use', 'name': 'f', 'input': [1]}]])",
        r"\[0\]\[0\]: a tool_use block's 'input' must be a dict",
    ),
    ("messages(replies=[[{'type': 'text'}]])", r"a text block needs 'text' as text"),
    (
        "chat_completions(replies=[[{'type': 'thinking', 'thinking': 'x'}]])",
        r"chat_completions\(replies=...\)\[0\]\[0\]: expected a content block.*text, tool_use",
    ),
    ("messages(text='a', replies=['b'])", r"messages\(...\): give replies=\[...\] or text"),
    ("messages(errors=[200])", r"messages\(errors=...\): expected HTTP error statuses"),
    ("responses(errors=429)", r"responses\(errors=...\): expected a list of HTTP statuses"),
    ("messages(retry_after=-1)", r"messages\(retry_after=...\): expected seconds"),
    ("get('https://x.test/', latency='soon')", r"latency: expected a duration"),
]


def test_bad_knobs_raise_a_value_error_naming_the_knob(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(f"""
import pytest

BAD = {BAD_KNOBS!r}

@pytest.mark.parametrize("call, message", BAD)
def test_bad(ttfb_mock, call, message):
    with pytest.raises(ValueError, match=message):
        eval("ttfb_mock." + call)
""")
    pytester.runpytest().assert_outcomes(passed=len(BAD_KNOBS))


def test_a_built_in_route_removed_stays_removed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
BODY = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}

def test_pop(ttfb_mock, ttfb_client):
    assert ttfb_mock.pop("messages").name == "messages"
    assert "messages" not in ttfb_mock.routes
    ttfb_client.post("https://api.anthropic.com/v1/messages", json=BODY)
"""
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*no ttfb_mock route matches POST https://api.anthropic.com/v1/messages*"]
    )


def test_concurrent_first_calls_all_find_the_built_in_route(pytester: pytest.Pytester) -> None:
    # The built-in routes are declared by the first request that falls through to them;
    # the others, at the same moment on other threads, wait for them (a thread switch
    # forced every microsecond makes the race show within a few runs without the lock).
    pytester.makepyfile(
        """
import sys, threading, pytest

BODY = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}

@pytest.mark.parametrize("i", range(10))
def test_twenty_at_once(ttfb_mock, ttfb_client, i):
    barrier = threading.Barrier(20)
    statuses, errors = [], []
    def call():
        barrier.wait()
        try:
            response = ttfb_client.post("https://api.anthropic.com/v1/messages", json=BODY)
            statuses.append(response.status_code)
        except Exception as error:
            errors.append(repr(error)[:200])
    threads = [threading.Thread(target=call) for _ in range(20)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert errors == []
    assert statuses == [200] * 20
"""
    )
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=10)
