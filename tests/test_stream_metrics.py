"""Streams beyond the first token: content-chunk times, ITL, TPOT, tokens/s, the shape
of each stream and its first token by every rule that fits, through pytester in mock
and emulate modes (hand-written event streams, paced by ``PacedStream``)."""

from __future__ import annotations

import json

import pytest

HEADER = """
import json
import statistics

import httpx
import pytest
from pytest_ttfb import PacedStream

EMULATE = {emulate}
INTERVAL = 0.2  # seconds between content chunks (wide: a loaded machine stalls reads)


def sse(data, event=None):
    head = f"event: {{event}}\\n" if event else ""
    text = data if isinstance(data, str) else json.dumps(data)
    return (head + f"data: {{text}}\\n\\n").encode()


def paced(events):
    return httpx.Response(
        200, headers={{"content-type": "text/event-stream"}}, stream=PacedStream(events)
    )


def chat(words, usage=True):
    events = [(0, sse({{"choices": [{{"delta": {{"role": "assistant", "content": ""}}}}]}}))]
    events += [
        (INTERVAL if i else 0, sse({{"choices": [{{"delta": {{"content": w}}}}]}}))
        for i, w in enumerate(words)
    ]
    if usage:
        events.append((0, sse({{"choices": [], "usage": {{"completion_tokens": len(words)}}}})))
    events.append((0, sse("[DONE]")))
    return paced(events)


def check_gaps(record, n):
    assert len(record.chunk_ms) == n
    gaps = record.itl_ms
    assert len(gaps) == n - 1
    floor = INTERVAL * 1000 * (0.9 if EMULATE else 1.0)  # emulate: timer slack
    assert min(gaps) >= floor, gaps
    assert floor <= statistics.median(gaps) <= 1.5 * INTERVAL * 1000, gaps
    # TPOT recomputed from the record's own chunk times
    count = record.output_tokens if record.tpot_basis == "tokens" else n
    expected = (record.chunk_ms[-1] - record.chunk_ms[0]) / (count - 1)
    assert record.tpot_ms == pytest.approx(expected)
"""

CHAT_TESTS = """
@pytest.mark.max_itl("1s")
@pytest.mark.max_tpot(1000)
@pytest.mark.min_tokens_per_s(1)
def test_chat(ttfb_mock, ttfb_client, ttfb):
    ttfb_mock.post("https://api.test/v1/chat/completions").mock(
        side_effect=lambda request: chat(["a", "b", "c", "d"]))
    with ttfb_client.stream("POST", "https://api.test/v1/chat/completions") as response:
        for _ in response.iter_raw():
            pass
    (record,) = ttfb.requests
    assert record.stream == "chat"
    assert record.output_tokens == 4
    assert record.tpot_basis == "tokens"
    check_gaps(record, 4)
    assert record.first_token_ms == record.chunk_ms[0]  # auto: the first content chunk
    assert sorted(record.first_token_by_rule) == ["data", "openai"]
    assert record.first_token_by_rule["data"] < record.first_token_ms  # the role chunk
    assert record.tokens_per_s == pytest.approx(4 / (record.total_ms / 1000))


def test_plain_stream_counts_data_events(ttfb_mock, ttfb_client, ttfb):
    ttfb_mock.get("https://api.test/events").mock(side_effect=lambda request: paced(
        [(0, b": comment\\n\\n")] + [(INTERVAL if i else 0, sse(str(i))) for i in range(4)]))
    with ttfb_client.stream("GET", "https://api.test/events") as response:
        for _ in response.iter_raw():
            pass
    (record,) = ttfb.requests
    assert record.stream == "events"
    assert record.output_tokens is None and record.tokens_per_s is None
    assert record.tpot_basis == "chunks"
    check_gaps(record, 4)
    assert record.first_token_by_rule == {"data": record.chunk_ms[0]}


def test_responses_stream(ttfb_mock, ttfb_client, ttfb):
    def answer(request):
        events = [(0, sse({"type": "response.created", "response": {"usage": None}},
                          "response.created"))]
        events += [
            (INTERVAL if i else 0, sse({"type": "response.output_text.delta", "delta": w},
                                       "response.output_text.delta"))
            for i, w in enumerate("abc")
        ]
        events.append((INTERVAL, sse({"type": "response.function_call_arguments.delta"},
                                     "response.function_call_arguments.delta")))
        events.append((0, sse({"type": "response.completed",
                               "response": {"usage": {"output_tokens": 4}}},
                              "response.completed")))
        return paced(events)

    ttfb_mock.post("https://api.test/v1/responses").mock(side_effect=answer)
    with ttfb_client.stream("POST", "https://api.test/v1/responses") as response:
        for _ in response.iter_raw():
            pass
    (record,) = ttfb.requests
    assert record.stream == "responses"
    assert record.output_tokens == 4
    check_gaps(record, 4)


@pytest.mark.max_itl(30)
def test_itl_breach(ttfb_mock, ttfb_client):
    ttfb_mock.post("https://api.test/v1/chat/completions").mock(
        side_effect=lambda request: chat(["a", "b", "c"], usage=False))
    with ttfb_client.stream("POST", "https://api.test/v1/chat/completions") as response:
        for _ in response.iter_raw():
            pass
"""


@pytest.mark.parametrize("mode", ["mock", "emulate"])
def test_paced_streams_show_their_gaps(pytester: pytest.Pytester, mode: str) -> None:
    pytester.makepyfile(HEADER.format(emulate=mode == "emulate") + CHAT_TESTS)
    result = pytester.runpytest(f"--ttfb-mode={mode}", "--ttfb-rtt=10", "--ttfb-json=r.json")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*max_itl(30 ms): max of 2 gaps: * ms > 30 ms (2 of 2 gap(s) over budget, in 1 "
            "stream(s))*",
            "*largest gap between chunks * ms > budget 30 ms (2 gap(s) over)*",
            "test * 1st token * itl p50 * budget * verdict",
            "*::test_chat * 2??.?  min_tokens_per_s(1 tokens/s)*pass",  # itl p50: ~200 ms
        ]
    )
    document = json.loads((pytester.path / "r.json").read_text())
    tests = {t["nodeid"].split("::")[1]: t for t in document["tests"]}
    chat = tests["test_chat"]
    (record,) = chat["requests"]
    assert record["tpot_basis"] == "tokens"
    assert record["output_tokens"] == 4
    assert len(record["chunk_ms"]) == 4
    assert len(record["itl_ms"]) == 3
    assert chat["stats"]["itl_ms"]["count"] == 3  # every gap is a sample
    assert chat["stats"]["tpot_ms"]["count"] == 1
    assert chat["stats"]["tokens_per_s"]["count"] == 1
    assert {b["marker"]: b["status"] for b in chat["budgets"]} == {
        "max_itl": "pass",
        "max_tpot": "pass",
        "min_tokens_per_s": "pass",
    }


ANTHROPIC = """
import statistics
import pytest

EMULATE = {emulate}
ASK = dict(model="claude-test", max_tokens=5, messages=[{{"role": "user", "content": "hi"}}])


def test_anthropic(anthropic_client, ttfb_mock, ttfb):
    ttfb_mock.messages(text="one two three four", token_interval=200)
    with anthropic_client.messages.stream(**ASK) as stream:
        stream.get_final_message()
    (record,) = ttfb.requests
    assert record.stream == "anthropic"
    assert record.output_tokens >= 4  # from message_delta's usage (the mock counts its own)
    assert len(record.chunk_ms) == 4
    floor = 200 * (0.9 if EMULATE else 1.0)  # emulate: timer slack
    assert min(record.itl_ms) >= floor, record.itl_ms
    assert floor <= statistics.median(record.itl_ms) <= 300, record.itl_ms
    assert record.tpot_basis == "tokens"
    expected = (record.chunk_ms[-1] - record.chunk_ms[0]) / (record.output_tokens - 1)
    assert record.tpot_ms == pytest.approx(expected)
    rules = record.first_token_by_rule
    assert sorted(rules) == ["data", "delta", "visible"]
    assert record.first_token_ms == rules["delta"] == rules["visible"]  # auto: delta


def test_thinking_deltas_are_chunks(anthropic_client, ttfb_mock, ttfb):
    ttfb_mock.messages(text="one two", thinking="hm hm", token_interval=50)
    with anthropic_client.messages.stream(**ASK) as stream:
        stream.get_final_message()
    (record,) = ttfb.requests
    assert len(record.chunk_ms) >= 5  # thinking, signature and text deltas alike
    rules = record.first_token_by_rule
    assert rules["data"] <= rules["delta"] < rules["visible"]  # thinking came first
    assert record.first_token_ms == rules["delta"]
"""


@pytest.mark.parametrize("mode", ["mock", "emulate"])
def test_anthropic_streams_carry_chunks_and_usage(pytester: pytest.Pytester, mode: str) -> None:
    pytester.makepyfile(ANTHROPIC.format(emulate=mode == "emulate"))
    result = pytester.runpytest(f"--ttfb-mode={mode}", "--ttfb-rtt=10")
    result.assert_outcomes(passed=2)


BOTH = (
    HEADER.format(emulate=False)
    + """
ASK = dict(model="claude-test", max_tokens=5, messages=[{"role": "user", "content": "hi"}])


@pytest.mark.max_first_token(5000)
@pytest.mark.max_first_token(5000, rule="openai")
@pytest.mark.max_first_token(5000, rule="delta")
def test_both(anthropic_client, ttfb_mock, ttfb_client, ttfb):
    ttfb_mock.messages(text="hi there")
    ttfb_mock.post("https://api.test/v1/chat/completions").mock(
        side_effect=lambda request: chat(["a", "b"]))
    with anthropic_client.messages.stream(**ASK) as stream:
        stream.get_final_message()
    with ttfb_client.stream("POST", "https://api.test/v1/chat/completions") as response:
        for _ in response.iter_raw():
            pass
    assert [r.stream for r in ttfb.requests] == ["anthropic", "chat"]
    assert all(r.first_token_ms is not None for r in ttfb.requests)


@pytest.mark.max_first_token(5000, rule="visible")
def test_no_visible_token_in_chat(ttfb_mock, ttfb_client):
    ttfb_mock.post("https://api.test/v1/chat/completions").mock(
        side_effect=lambda request: chat(["a"]))
    with ttfb_client.stream("POST", "https://api.test/v1/chat/completions") as response:
        for _ in response.iter_raw():
            pass


@pytest.mark.max_first_token(5000)
@pytest.mark.max_itl(5000)
def test_buffered(ttfb):
    client = ttfb.watch(httpx.Client(transport=httpx.MockTransport(
        lambda request: httpx.Response(200, content=b"data: x\\n\\ndata: y\\n\\n"))))
    client.get("https://api.test/inproc")
    (record,) = ttfb.requests
    assert record.buffered and record.first_token_ms is None and record.chunk_ms is None
"""
)


def test_one_run_judges_every_sdk_first_token(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(BOTH)
    result = pytester.runpytest("--ttfb-json=r.json")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*max_first_token(5000 ms, rule=visible): no request streamed a first token by "
            "rule 'visible': the budget has nothing to judge (the test had 1 OpenAI "
            "Chat Completions stream(s))*",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*max_itl(5000 ms): no stream had two content chunks or more*came whole in memory*",
            "*max_first_token(5000 ms): no request streamed a first token by rule 'auto'*"
            "no stream of server-sent events; 1 response(s) came whole in memory*",
        ]
    )
    document = json.loads((pytester.path / "r.json").read_text())
    assert document["run"]["first_token_rule"] == "auto"
    both = next(t for t in document["tests"] if t["nodeid"].endswith("test_both"))
    observed = {b["budget"]: b["reason"] for b in both["budgets"]}
    # auto judges both streams; a named rule only the streams it fits
    assert observed["max_first_token(5000 ms)"].startswith("max of 2:")
    assert observed["max_first_token(5000 ms, rule=openai)"].startswith("max of 1:")
    assert observed["max_first_token(5000 ms, rule=delta)"].startswith("max of 1:")
