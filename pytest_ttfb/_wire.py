"""The pytest plugin (entry point ``ttfb``): options, markers, hooks, fixtures.

It wires and decides nothing: options are resolved in ``settings``, run-wide state
and what each hook does live in ``session``, budgets in ``budgets``, modes in
``modes``, clients in ``clients``, reports in ``report``. Loading it imports pytest,
the standard library and pytest-ttfb's light modules only: httpx, httpx2, respx, the
SDKs, hypercorn and trustme load when a test first needs them.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from . import settings as _settings
from .session import TtfbSession, marker_lines

if TYPE_CHECKING:
    from .measure.recorder import Recorder
    from .modes.emulate import Emulator
    from .modes.mock import TtfbRouter

_SESSION = pytest.StashKey[TtfbSession]()


def pytest_addoption(parser: pytest.Parser) -> None:
    _settings.add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    for line in marker_lines():
        config.addinivalue_line("markers", line)
    session = TtfbSession(config)
    config.stash[_SESSION] = session
    config.pluginmanager.register(_Tests(session), "ttfb-tests")
    # Each logged report matters only once a test uses the plugin: a suite that never
    # does pays no hook call for its reports.
    session.on_first_attempt = lambda: config.pluginmanager.register(
        _Reports(session), "ttfb-reports"
    )
    # Only a pytest-xdist controller gets workers' results: any other run would pay
    # three hook calls a test for nothing.
    if session.is_controller:
        config.pluginmanager.register(_WorkerResults(session), "ttfb-workers")


def pytest_unconfigure(config: pytest.Config) -> None:
    session = config.stash.get(_SESSION, None)
    if session is not None:
        session.close()


def pytest_cmdline_main(config: pytest.Config) -> int | None:
    urls = config.getoption("ttfb_probe")
    if not urls:
        return None
    from . import probe

    # Like pytest's own --markers: configure, do the one thing, unconfigure.
    config._do_configure()
    try:
        return probe.main(
            urls,
            config.getoption("ttfb_probe_samples"),
            config.stash[_SESSION].settings,
            config.get_terminal_writer().line,
        )
    finally:
        config._ensure_unconfigure()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    config.stash[_SESSION].collect_budgets(items)


def pytest_collection_finish(session: pytest.Session) -> None:
    session.config.stash[_SESSION].collection_finished(session.items)


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session: pytest.Session) -> Generator[None, object, object]:
    with session.config.stash[_SESSION].network():
        return (yield)


class _Tests:
    """The hooks of each test, bound to the session (no lookup per call). Each costs
    every test of a suite, most of which never use the plugin: as few as the lifecycle
    needs (``TtfbSession.make_report`` also marks the teardown phase, and the session's
    end takes care of a test interrupted before its teardown)."""

    def __init__(self, session: TtfbSession) -> None:
        self.session = session

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        # Each run of the test (pytest-rerunfailures runs it again) is an attempt.
        self.session.start_attempt(item)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Iterator[None]:
        session = self.session
        result = session.begin_call(item)
        body_error: BaseException | None = None
        try:
            return (yield)
        except BaseException as error:
            body_error = error
            raise
        finally:
            session.end_call(item, result, body_error)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        report = yield
        self.session.make_report(item, call, report)
        return report


class _Reports:
    """Each logged report, before junitxml and pytest-xdist read it."""

    def __init__(self, session: TtfbSession) -> None:
        self.session = session

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.session.log_report(report)


class _WorkerResults:
    """On the pytest-xdist controller: collects what workers send on their reports."""

    def __init__(self, session: TtfbSession) -> None:
        self.session = session

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.session.collect_worker_report(report)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        self.session.collect_late(getattr(node, "workeroutput", None) or {})


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    session = config.stash.get(_SESSION, None)
    if session is not None:
        session.terminal_summary(terminalreporter)


def pytest_sessionfinish(session: pytest.Session) -> None:
    ttfb_session = session.config.stash.get(_SESSION, None)
    if ttfb_session is not None:
        ttfb_session.finish(session)


# -- fixtures ---------------------------------------------------------------------------


@pytest.fixture
def ttfb(request: pytest.FixtureRequest) -> Recorder:
    """The recorder: ``ttfb.requests`` lists this test's requests; ``ttfb.watch(client)``
    instruments a client you built."""
    return request.config.stash[_SESSION].recorder(request.node)


@pytest.fixture(scope="session")
def _ttfb_network(request: pytest.FixtureRequest) -> Emulator | None:
    """The emulated network (emulate mode), up while the tests run (``pytest_runtestloop``
    below): not an autouse fixture, which every test of a suite would pay for."""
    network: Emulator | None = request.config.stash[_SESSION].emulator_for_test()
    return network


@pytest.fixture(scope="session")
def ttfb_emulator(_ttfb_network: Emulator | None) -> Emulator:
    """The emulated network of emulate mode: ``rtt_ms``, ``regions``, ``connections``
    (accepted by its server so far). Tests asking for it are skipped in other modes."""
    if _ttfb_network is None:
        pytest.skip("ttfb_emulator exists in emulate mode only (--ttfb-mode=emulate)")
    return _ttfb_network


@pytest.fixture
def ttfb_mock(request: pytest.FixtureRequest) -> Iterator[TtfbRouter]:
    """The router with the Anthropic Messages and OpenAI Chat Completions and Responses
    routes declared. It answers in-process in mock mode, from the emulated server in
    emulate mode, and not at all in live mode."""
    from .modes import serving
    from .modes.mock import TtfbRouter

    session = request.config.stash[_SESSION]
    settings = session.settings
    network = session.emulator_for_test() if settings.mode == "emulate" else None
    with serving(TtfbRouter(history=settings.mock_history), settings.mode, network) as router:
        yield router


@pytest.fixture(scope="session")
def ttfb_client(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Pooled, instrumented ``httpx2.Client`` with the recipe's settings."""
    from .clients import session_client

    pool = request.config.stash[_SESSION].settings.pool
    yield from session_client(pool, "httpx2", "ttfb_client", asynchronous=False)


@pytest.fixture(scope="session")
def ttfb_async_client(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The async twin of ``ttfb_client`` (``httpx2.AsyncClient``)."""
    from .clients import session_client

    pool = request.config.stash[_SESSION].settings.pool
    name = "ttfb_async_client (and the async SDK clients, which share it)"
    yield from session_client(pool, "httpx2", name, asynchronous=True)


@pytest.fixture(scope="session")
def ttfb_httpx_client(request: pytest.FixtureRequest) -> Iterator[Any]:
    """``ttfb_client`` on httpx 0.28 (``httpx.Client``)."""
    from .clients import session_client

    pool = request.config.stash[_SESSION].settings.pool
    yield from session_client(pool, "httpx", "ttfb_httpx_client", asynchronous=False)


@pytest.fixture(scope="session")
def ttfb_httpx_async_client(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The async twin of ``ttfb_httpx_client`` (``httpx.AsyncClient``)."""
    from .clients import session_client

    pool = request.config.stash[_SESSION].settings.pool
    name = "ttfb_httpx_async_client (and the async SDK clients on httpx)"
    yield from session_client(pool, "httpx", name, asynchronous=True)


@pytest.fixture(scope="session")
def anthropic_client(request: pytest.FixtureRequest) -> Any:
    """``anthropic.Anthropic`` on the pooled client of the installed SDK's stack
    (``ttfb_client``; ``ttfb_httpx_client`` for anthropic 0.x)."""
    from .clients import anthropic_client

    return anthropic_client(request, request.config.stash[_SESSION].settings, asynchronous=False)


@pytest.fixture(scope="session")
def async_anthropic_client(request: pytest.FixtureRequest) -> Any:
    """``anthropic.AsyncAnthropic`` on the pooled async client of the SDK's stack."""
    from .clients import anthropic_client

    return anthropic_client(request, request.config.stash[_SESSION].settings, asynchronous=True)


@pytest.fixture(scope="session")
def openai_client(request: pytest.FixtureRequest) -> Any:
    """``openai.OpenAI`` on the pooled client of the installed SDK's stack
    (``ttfb_client``; ``ttfb_httpx_client`` for openai 1.x and 2.x)."""
    from .clients import openai_client

    return openai_client(request, request.config.stash[_SESSION].settings, asynchronous=False)


@pytest.fixture(scope="session")
def async_openai_client(request: pytest.FixtureRequest) -> Any:
    """``openai.AsyncOpenAI`` on the pooled async client of the SDK's stack."""
    from .clients import openai_client

    return openai_client(request, request.config.stash[_SESSION].settings, asynchronous=True)
