"""OpenAI mocks and fixtures: Chat Completions and Responses, JSON and streams, sync and
async, parsed by the installed SDK in mock and emulate modes; errors retried by the
SDK with each attempt recorded; the first token of OpenAI streams; the fixtures' stack,
key and base URL; live mode without a key skips."""

import pytest

# The session-scoped async clients stay on one event loop: anyio's, for the session.
from .test_async import ANYIO_SESSION_LOOP as SESSION_LOOP


@pytest.fixture(autouse=True)
def _one_loop(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(SESSION_LOOP)


HEADER = """
import json
import anyio
import openai
import pytest

MESSAGES = [{"role": "user", "content": "go"}]
TOOL = {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}}
REPLIES = [[{"type": "text", "text": "Looking."}, TOOL], "Sunny all week."]
"""

SUITE = (
    HEADER
    + """
def test_chat_json_in_turn(openai_client, ttfb_mock):
    ttfb_mock.chat_completions(replies=REPLIES)
    first = openai_client.chat.completions.create(model="gpt-test", messages=MESSAGES)
    (call,) = first.choices[0].message.tool_calls
    assert first.choices[0].finish_reason == "tool_calls"
    assert (call.id, call.function.name, json.loads(call.function.arguments)) == (
        "call_1", "get_weather", {"city": "Paris"})
    second = openai_client.chat.completions.create(model="gpt-test", messages=MESSAGES)
    third = openai_client.chat.completions.create(model="gpt-test", messages=MESSAGES)
    texts = {reply.choices[0].message.content for reply in (second, third)}
    assert texts == {"Sunny all week."}
    assert second.choices[0].finish_reason == "stop" and second.usage.completion_tokens == 3

def test_chat_stream_with_usage(openai_client, ttfb_mock):
    ttfb_mock.chat_completions(text="one two three")
    chunks = list(openai_client.chat.completions.create(
        model="gpt-test", messages=MESSAGES, stream=True,
        stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "one two three"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 3
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"

def test_chat_stream_without_usage(openai_client, ttfb_mock):
    chunks = list(openai_client.chat.completions.create(
        model="gpt-test", messages=MESSAGES, stream=True))
    assert all(c.choices and c.usage is None for c in chunks)

def test_chat_stream_helper_with_tool_calls(openai_client, ttfb_mock):
    ttfb_mock.chat_completions(replies=REPLIES)
    with openai_client.chat.completions.stream(model="gpt-test", messages=MESSAGES) as stream:
        final = stream.get_final_completion()
    message = final.choices[0].message
    assert message.content == "Looking." and final.choices[0].finish_reason == "tool_calls"
    assert json.loads(message.tool_calls[0].function.arguments) == {"city": "Paris"}

@pytest.mark.anyio
async def test_chat_async_stream(async_openai_client, ttfb_mock):
    ttfb_mock.chat_completions(text="a b")
    stream = await async_openai_client.chat.completions.create(
        model="gpt-test", messages=MESSAGES, stream=True)
    text = "".join([c.choices[0].delta.content or "" async for c in stream])
    assert text == "a b"

def test_responses_json(openai_client, ttfb_mock):
    ttfb_mock.responses(replies=REPLIES)
    first = openai_client.responses.create(model="gpt-test", input="go")
    assert [item.type for item in first.output] == ["message", "function_call"]
    assert first.output[1].call_id == "call_1" and first.output[1].name == "get_weather"
    second = openai_client.responses.create(model="gpt-test", input="go")
    assert second.output_text == "Sunny all week." and second.usage.output_tokens == 3

def test_responses_stream_helper(openai_client, ttfb_mock):
    ttfb_mock.responses(replies=REPLIES)
    with openai_client.responses.stream(model="gpt-test", input="go") as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert "response.output_text.delta" in kinds
    assert "response.function_call_arguments.delta" in kinds
    assert final.output_text == "Looking."
    assert json.loads(final.output[1].arguments) == {"city": "Paris"}
    assert final.usage.output_tokens == 1 + 2

@pytest.mark.anyio
async def test_responses_async_create_stream(async_openai_client, ttfb_mock):
    ttfb_mock.responses(text="x y z")
    events = await async_openai_client.responses.create(model="gpt-test", input="go", stream=True)
    deltas = [e.delta async for e in events if e.type == "response.output_text.delta"]
    assert "".join(deltas) == "x y z"

def test_the_default_routes_answer(openai_client):
    chat = openai_client.chat.completions.create(model="gpt-test", messages=MESSAGES)
    assert chat.choices[0].message.content == "Hello from pytest-ttfb."
    assert openai_client.responses.create(model="gpt-test", input="go").output_text == (
        "Hello from pytest-ttfb.")
"""
)


@pytest.mark.parametrize("mode", ["mock", "emulate"])
def test_the_sdk_parses_every_reply(pytester: pytest.Pytester, mode: str) -> None:
    pytester.makepyfile(SUITE)
    result = pytester.runpytest(f"--ttfb-mode={mode}", "--ttfb-rtt=5")
    result.assert_outcomes(passed=9)


RETRIES = (
    HEADER
    + """
@pytest.mark.parametrize("status", [429, 500, 503])
def test_chat_retried(openai_client, ttfb_mock, ttfb, status):
    ttfb_mock.chat_completions(errors=[status, status])
    chat = openai_client.chat.completions.create(model="gpt-test", messages=MESSAGES)
    assert chat.choices[0].message.content
    assert [(r.status, r.attempt) for r in ttfb.requests] == [(status, 1), (status, 2), (200, 3)]

def test_responses_retries_exhausted(openai_client, ttfb_mock, ttfb):
    ttfb_mock.responses(errors=[429, 429, 429])
    with pytest.raises(openai.RateLimitError) as caught:
        openai_client.responses.create(model="gpt-test", input="go")
    assert caught.value.body["code"] == "rate_limit_exceeded"
    assert caught.value.body["type"] == "requests"
    assert caught.value.response.headers["retry-after-ms"] == "50"
    assert [(r.status, r.attempt) for r in ttfb.requests] == [(429, 1), (429, 2), (429, 3)]

@pytest.mark.anyio
async def test_async_stream_retried(async_openai_client, ttfb_mock, ttfb):
    ttfb_mock.chat_completions(errors=[503], text="ok then")
    stream = await async_openai_client.chat.completions.create(
        model="gpt-test", messages=MESSAGES, stream=True)
    assert "".join([c.choices[0].delta.content or "" async for c in stream]) == "ok then"
    assert [(r.status, r.attempt) for r in ttfb.requests] == [(503, 1), (200, 2)]

def test_not_retried_on_400(openai_client, ttfb_mock, ttfb):
    ttfb_mock.chat_completions(errors=[400])
    with pytest.raises(openai.BadRequestError, match="Invalid request"):
        openai_client.chat.completions.create(model="gpt-test", messages=MESSAGES)
    assert [(r.status, r.attempt) for r in ttfb.requests] == [(400, 1)]
"""
)


@pytest.mark.parametrize("mode", ["mock", "emulate"])
def test_errors_are_retried_by_the_sdk_and_each_attempt_recorded(
    pytester: pytest.Pytester, mode: str
) -> None:
    pytester.makepyfile(RETRIES)
    result = pytester.runpytest(f"--ttfb-mode={mode}", "--ttfb-rtt=5")
    result.assert_outcomes(passed=6)


@pytest.mark.parametrize("mode", ["mock", "emulate"])
def test_first_token_of_openai_streams(pytester: pytest.Pytester, mode: str) -> None:
    # The role chunk comes at once, the first content 300 ms later: that is the token.
    pytester.makepyfile(
        HEADER
        + """
def test_chat(openai_client, ttfb_mock, ttfb):
    ttfb_mock.chat_completions(text="a b c", first_token="300ms", token_interval=50)
    list(openai_client.chat.completions.create(model="m", messages=MESSAGES, stream=True))
    (record,) = ttfb.requests
    assert record.first_token_ms - record.ttfb_ms >= 0.9 * 300
    assert record.total_ms - record.first_token_ms >= 0.9 * 2 * 50

def test_chat_tool_call(openai_client, ttfb_mock, ttfb):
    ttfb_mock.chat_completions(replies=[[TOOL]], first_token="300ms")
    list(openai_client.chat.completions.create(model="m", messages=MESSAGES, stream=True))
    (record,) = ttfb.requests
    assert record.first_token_ms - record.ttfb_ms >= 0.9 * 300

@pytest.mark.anyio
async def test_responses(async_openai_client, ttfb_mock, ttfb):
    ttfb_mock.responses(text="a b", first_token=0.3e3)
    events = await async_openai_client.responses.create(model="m", input="go", stream=True)
    [e async for e in events]
    (record,) = ttfb.requests
    assert record.first_token_ms - record.ttfb_ms >= 0.9 * 300
"""
    )
    result = pytester.runpytest(f"--ttfb-mode={mode}", "--ttfb-rtt=5", "--ttfb-first-token=openai")
    result.assert_outcomes(passed=3)


def test_fixtures_on_the_installed_sdks_stack_with_a_placeholder_key(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-REAL-KEY-NEVER-SENT")
    pytester.makepyfile("""
from importlib import metadata

def test_stack_and_key(openai_client, async_openai_client, request, ttfb_mock):
    major = int(metadata.version("openai").split(".")[0])
    prefix = "ttfb" if major >= 3 else "ttfb_httpx"
    assert openai_client._client is request.getfixturevalue(prefix + "_client")
    assert async_openai_client._client is request.getfixturevalue(prefix + "_async_client")
    openai_client.chat.completions.create(model="m", messages=[])
    (call,) = ttfb_mock["chat_completions"].calls
    assert call.request.headers["authorization"] == "Bearer ttfb-mock-key"
""")
    pytester.runpytest().assert_outcomes(passed=1)


WHERE = """
def test_where(openai_client, ttfb_mock):
    openai_client.chat.completions.create(model="m", messages=[])
    (call,) = ttfb_mock["chat_completions"].calls
    assert call.request.url.host == "{host}"
"""


def test_base_url_from_the_option_then_the_environment(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "https://from-env.test/v1")
    pytester.makepyfile(WHERE.format(host="from-env.test"))
    pytester.runpytest().assert_outcomes(passed=1)
    pytester.makeini("[pytest]\nttfb_openai_base_url = https://from-ini.test/v1\n")
    pytester.makepyfile(WHERE.format(host="from-option.test"))
    pytester.runpytest("--ttfb-openai-base-url=https://from-option.test/v1").assert_outcomes(
        passed=1
    )
    pytester.makepyfile(WHERE.format(host="from-ini.test"))
    pytester.runpytest().assert_outcomes(passed=1)


def test_live_mode_without_a_key_skips_naming_the_base_url_redacted(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    pytester.makepyfile("""
def test_sync(openai_client):
    raise AssertionError("not reached")

def test_async(async_openai_client):
    raise AssertionError("not reached")
""")
    result = pytester.runpytest("--ttfb-live", "-rs")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(
        ["SKIPPED *OPENAI_API_KEY is not set: live mode sends real requests to the OpenAI API*"]
    )
    monkeypatch.setenv("OPENAI_BASE_URL", "https://user:hunter2@proxy.test/v1?key=SECRETQ")
    result = pytester.runpytest("--ttfb-live", "-rs")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(
        [
            "SKIPPED *OPENAI_API_KEY is not set: live mode sends real requests to "
            "https://proxy.test/v1?key=*** and needs a key"
        ]
    )
    assert "SECRETQ" not in result.stdout.str()
    assert "hunter2" not in result.stdout.str()


def test_a_missing_openai_package_says_what_to_install(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        SESSION_LOOP
        + """
import sys
sys.modules["openai"] = None  # as if it were not installed
"""
    )
    pytester.makepyfile("""
def test_sdk(openai_client):
    pass
""")
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*openai_client needs openai, which is not installed: pip install 'pytest-ttfb?openai?'"]
    )
