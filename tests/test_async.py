"""The session-scoped async clients under pytest-asyncio and anyio: shared by every
test on one session-wide event loop, and a clear failure when the loop changes."""

import pytest

TWO_TESTS = """
import pytest

ASK = dict(model="claude-test", max_tokens=5, messages=[{"role": "user", "content": "hi"}])

@pytest.mark.MARK
async def test_first(async_anthropic_client, ttfb):
    await async_anthropic_client.messages.create(**ASK)

@pytest.mark.MARK
async def test_second(async_anthropic_client, ttfb):
    await async_anthropic_client.messages.create(**ASK)
    assert [r.reused for r in ttfb.requests] == [True]  # the first test's connection
"""

ANYIO_SESSION_LOOP = """
import pytest

@pytest.fixture(scope="session")
def anyio_backend():
    return "asyncio"

@pytest.fixture(scope="session", autouse=True)
async def session_loop(anyio_backend):
    yield  # while this session fixture lives, anyio keeps one event loop for all tests
"""


def test_anyio_with_a_session_loop_shares_connections(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(ANYIO_SESSION_LOOP)
    pytester.makepyfile(TWO_TESTS.replace("MARK", "anyio"))
    pytester.runpytest("--ttfb-mode=emulate", "--ttfb-rtt=5").assert_outcomes(passed=2)


def test_pytest_asyncio_with_a_session_loop_shares_connections(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini("""
        [pytest]
        asyncio_default_test_loop_scope = session
        asyncio_default_fixture_loop_scope = session
    """)
    pytester.makepyfile(TWO_TESTS.replace("MARK", "asyncio"))
    result = pytester.runpytest("--ttfb-mode=emulate", "--ttfb-rtt=5")
    result.assert_outcomes(passed=2)


@pytest.mark.parametrize("runner", ["anyio", "asyncio"])
@pytest.mark.parametrize("mode", ["mock", "emulate"])
def test_a_loop_per_test_is_a_clear_failure(
    pytester: pytest.Pytester, runner: str, mode: str
) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(TWO_TESTS.replace("MARK", runner))
    result = pytester.runpytest(f"--ttfb-mode={mode}", "--ttfb-rtt=5")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_second*_",
            # ttfb_async_client, or ttfb_httpx_async_client under anthropic 0.x (on httpx)
            "pytest-ttfb: ttfb_*async_client (and the async SDK clients*) is "
            "session-scoped, and its pooled connections belong to the event loop of the test "
            "that first used it; this test runs on another loop.*asyncio_default_test_loop_scope"
            " = session*",
        ]
    )
