"""Emulate mode: the physics of a real network at round-trip time R, checked as
structure with tolerant bounds in multiples of R. Lower bounds come from the injected
delays (less 10 % of an RTT where the relay's event-loop timers, which may fire a hair
early, do the waiting); upper bounds leave a full R or more of slack for a busy machine."""

import socket
import subprocess
import sys

import pytest

R = 100  # ms: large against loopback noise, small enough to keep the suite quick

PHYSICS = f"""
import time
import anyio
import httpx2
import pytest

R = {R}
ASK = dict(model="claude-test", max_tokens=5, messages=[{{"role": "user", "content": "hi"}}])
"""


def run_emulated(
    pytester: pytest.Pytester, source: str, *args: str, in_process: bool = False
) -> pytest.RunResult:
    """Run ``source`` in emulate mode, in a fresh process by default: this suite's own
    process has run dozens of sessions by then, and a garbage collection of its heap
    could stall a request by more than the slack the upper bounds allow."""
    pytester.makepyfile(PHYSICS + source)
    args = ("--ttfb-mode=emulate", f"--ttfb-rtt={R}", *args)
    if in_process:
        return pytester.runpytest(*args, no_reraise_ctrlc=True)
    return pytester.runpytest_subprocess(*args)


def test_cold_request_costs_three_round_trips_and_warm_one(pytester: pytest.Pytester) -> None:
    result = run_emulated(
        pytester,
        """
def test_cold_then_warm(anthropic_client, ttfb):
    for _ in range(3):
        anthropic_client.messages.create(**ASK)
    cold, *warm = ttfb.requests
    assert cold.new_connection and all(r.reused for r in warm)
    assert cold.http_version == "HTTP/2"
    assert R <= cold.connect_ms < 2 * R                    # TCP: one round trip
    assert 0.9 * R <= cold.tls_ms - cold.connect_ms < 2 * R      # TLS 1.3: one more
    assert 2.9 * R <= cold.ttfb_ms < 5 * R                   # and the request: a third
    for request in warm:
        assert 0.9 * R <= request.ttfb_ms < 2.5 * R              # a reused connection: one
        assert request.connect_ms is None and request.tls_ms is None
""",
    )
    result.assert_outcomes(passed=1)


def test_a_session_fixtures_request_goes_through_the_emulated_network(
    pytester: pytest.Pytester,
) -> None:
    # The network is up before the test's wider-scoped fixtures run, as an autouse
    # fixture's would be: a warm-up request in one of them is emulated, not sent out.
    result = run_emulated(
        pytester,
        """
@pytest.fixture(scope="session")
def warm(ttfb_client):
    return ttfb_client.get("https://api.anthropic.com/v1/models")

def test_after_a_warm_up(warm, ttfb_mock, ttfb_client, ttfb_emulator):
    assert warm.status_code == 503  # the emulated server, between tests' routes
    assert b"no test is running" in warm.content
    assert ttfb_emulator.connections == 1
""",
        in_process=True,
    )
    result.assert_outcomes(passed=1)


def test_the_network_does_not_depend_on_test_order(pytester: pytest.Pytester) -> None:
    # Up for the whole run: a client watched by a test that uses no pytest-ttfb fixture
    # reaches the emulated network before the first test that uses the plugin as after.
    result = run_emulated(
        pytester,
        """
import pytest_ttfb

def status():
    with pytest_ttfb.watch(httpx2.Client()) as client:
        return client.get("https://api.anthropic.com/v1/models").status_code

def test_1_quiet_before():
    assert status() == 503  # the emulated server, with no test's routes to answer

def test_2_uses_the_plugin(ttfb_mock, ttfb_client):
    ttfb_mock.get("https://a.test/").respond(200)
    assert ttfb_client.get("https://a.test/").status_code == 200

def test_3_quiet_after():
    assert status() == 503
""",
        "-p",
        "no:randomly",
        in_process=True,
    )
    result.assert_outcomes(passed=3)


def test_server_time_adds_to_the_round_trips(pytester: pytest.Pytester) -> None:
    result = run_emulated(
        pytester,
        """
def test_route_latency_is_server_time(ttfb_mock, ttfb_client, ttfb):
    ttfb_mock.get("https://api.slow.test/work", latency=3 * R).respond(200, json={})
    ttfb_client.get("https://api.slow.test/work")
    ttfb_client.get("https://api.slow.test/work")
    cold, warm = ttfb.requests
    assert 5.8 * R <= cold.ttfb_ms < 8 * R                   # 3R + S
    assert 3.9 * R <= warm.ttfb_ms < 5.5 * R                 # R + S
    # The server time sits between the request being sent and the first byte.
    assert warm.ttfb_ms - warm.sent_ms >= 3.9 * R
""",
    )
    result.assert_outcomes(passed=1)


def test_twenty_concurrent_calls_share_one_http2_connection(pytester: pytest.Pytester) -> None:
    result = run_emulated(
        pytester,
        """
@pytest.fixture(autouse=True)
def ok_route(ttfb_mock):
    ttfb_mock.get("https://api.test/ok").respond(200, json={"ok": True})

@pytest.mark.anyio
async def test_http2(ttfb, ttfb_emulator):
    before = ttfb_emulator.connections
    client = ttfb.watch(httpx2.AsyncClient(http2=True, limits=httpx2.Limits(max_connections=20)))
    async with client, anyio.create_task_group() as group:
        for _ in range(20):
            group.start_soon(client.get, "https://api.test/ok")
    assert len(ttfb.requests) == 20
    assert ttfb.new_connections == 1
    assert {r.http_version for r in ttfb.requests} == {"HTTP/2"}
    assert ttfb_emulator.connections - before == 1         # the server agrees

@pytest.mark.anyio
async def test_http11(ttfb, ttfb_emulator):
    before = ttfb_emulator.connections
    client = ttfb.watch(httpx2.AsyncClient(http2=False, limits=httpx2.Limits(max_connections=20)))
    async with client, anyio.create_task_group() as group:
        for _ in range(20):
            group.start_soon(client.get, "https://api.test/ok")
    assert {r.http_version for r in ttfb.requests} == {"HTTP/1.1"}
    # All twenty are in flight at once for at least 3R: each needs a connection of its own,
    # and each pays the handshakes.
    assert ttfb.new_connections == 20
    assert ttfb_emulator.connections - before == 20
    assert all(r.connect_ms >= 0.9 * R and r.ttfb_ms >= 2.9 * R for r in ttfb.requests)
""",
    )
    result.assert_outcomes(passed=2)


@pytest.mark.parametrize("stack", ["httpx", "httpx2"])
def test_idle_longer_than_keepalive_expiry_pays_the_cold_cost_again(
    pytester: pytest.Pytester, stack: str
) -> None:
    result = run_emulated(
        pytester,
        f"""
import {stack} as stack

@pytest.mark.max_new_connections(1)
def test_idle(ttfb, ttfb_mock):
    ttfb_mock.get("https://api.test/ok").respond(200)
    limits = stack.Limits(keepalive_expiry=0.2)
    with ttfb.watch(stack.Client(limits=limits)) as client:
        client.get("https://api.test/ok")
        client.get("https://api.test/ok")
        time.sleep(0.6)                                    # three times the expiry
        client.get("https://api.test/ok")
    first, second, third = ttfb.requests
    assert second.reused and not third.reused
    assert third.ttfb_ms >= 2.9 * R                          # cold again
""",
    )
    result.assert_outcomes(failed=1)  # the budget of one connection is breached, and says why
    result.stdout.fnmatch_lines(["*hint: keep-alive expiry (0.2 s) is shorter than the *"])


def test_regions_and_pinning_by_base_url(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nttfb_regions = near-1:10 far-1:300\n")
    source = """
def test_pinned(anthropic_client, ttfb):
    anthropic_client.messages.create(**ASK)
    (request,) = ttfb.requests
    print("connect_ms", request.connect_ms)
    assert request.url.startswith(BASE)
    assert LOW <= request.connect_ms < HIGH
"""
    far = run_emulated(
        pytester,
        'BASE = "https://far-1.api.test"\nLOW, HIGH = 300, 600\n' + source,
        "--ttfb-base-url=https://far-1.api.test",
    )
    far.assert_outcomes(passed=1)
    near = run_emulated(
        pytester,
        'BASE = "https://near-1.api.test"\nLOW, HIGH = 10, 150\n' + source,
        "--ttfb-base-url=https://near-1.api.test",
    )
    near.assert_outcomes(passed=1)
    default = run_emulated(
        pytester, f'BASE = "https://api.anthropic.com"\nLOW, HIGH = {R}, {2 * R}\n' + source
    )
    default.assert_outcomes(passed=1)


def test_far_region_breach_shows_a_production_like_waterfall(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nttfb_regions = far-1:300\n")
    result = run_emulated(
        pytester,
        """
@pytest.mark.max_ttfb(300)
def test_far(anthropic_client):
    anthropic_client.messages.create(**ASK)
""",
        "--ttfb-base-url=https://far-1.api.test",
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*#1 POST https://far-1.api.test/v1/messages  ?new connection c*, HTTP/2, 200?",
            "*connect *|*#*| * ms",
            "*tls *|*#*| * ms",
            "*wait for first byte *|*#*| * ms",
            "*hint: TCP connect took * ms (over 80 ms): the server is far*",
        ]
    )


def test_unmatched_request_fails_in_emulate_mode_too(pytester: pytest.Pytester) -> None:
    result = run_emulated(
        pytester,
        """
def test_unknown(ttfb_client):
    response = ttfb_client.get("https://nowhere.test/x")
    assert response.status_code == 502
""",
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*1 request(s) matched no ttfb_mock route:", "*GET https://nowhere.test/x"]
    )


@pytest.mark.parametrize("ending", ["failed", "interrupted"])
def test_server_stops_at_session_end_even_when_tests_fail(
    pytester: pytest.Pytester, ending: str
) -> None:
    result = run_emulated(
        pytester,
        f"""
import pathlib

def test_note_ports_then_end(ttfb_emulator, ttfb_client):
    ttfb_client.get("https://api.test/nothing")  # a real request through the relay
    ports = [ttfb_emulator.server.tls_port, ttfb_emulator.server.plain_port]
    ports += [ttfb_emulator.address_for("any.test")[1]]
    pathlib.Path("ports.txt").write_text(" ".join(map(str, ports)))
    if "{ending}" == "interrupted":
        raise KeyboardInterrupt
""",
        in_process=ending == "interrupted",
    )
    if ending == "failed":
        result.assert_outcomes(failed=1)  # the request matched no route
    else:
        assert result.ret == pytest.ExitCode.INTERRUPTED
    ports = [int(p) for p in (pytester.path / "ports.txt").read_text().split()]
    assert len(ports) == 3
    for port in ports:
        with socket.socket() as probe, pytest.raises(ConnectionRefusedError):
            probe.connect(("127.0.0.1", port))


def test_two_pytest_processes_at_once_do_not_collide(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        PHYSICS
        + """
def test_calls(anthropic_client, ttfb):
    for _ in range(5):
        anthropic_client.messages.create(**ASK)
        time.sleep(0.05)
    assert ttfb.new_connections == 1
"""
    )
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "--ttfb-mode=emulate",
        f"--ttfb-rtt={R}",
    ]
    runs = [
        subprocess.Popen(
            command, cwd=pytester.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=120)[0] for run in runs]
    for run, output in zip(runs, outputs, strict=True):
        assert run.returncode == 0, output
        assert "1 passed" in output


def test_jitter_delays_but_never_reorders(pytester: pytest.Pytester) -> None:
    # Each chunk waits RTT/2 plus up to jitter/2 each way; a long stream through it
    # must arrive whole and in order, and no request can come back faster than R.
    result = run_emulated(
        pytester,
        """
def test_stream_under_jitter(anthropic_client, ttfb_mock, ttfb):
    words = " ".join(f"w{i}" for i in range(60))
    ttfb_mock.messages(text=words, token_interval=1)
    for _ in range(3):
        with anthropic_client.messages.stream(**ASK) as stream:
            assert "".join(stream.text_stream) == words
    for request in ttfb.requests:
        assert request.ttfb_ms >= 0.9 * R
""",
        "--ttfb-jitter=80",
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["mode: emulate (RTT 100 ms, jitter 80 ms);*"])
