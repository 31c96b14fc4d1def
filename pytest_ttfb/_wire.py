"""wire: the pytest plugin (entry point ``ttfb``): options, markers, hooks, fixtures.

It connects the other modules and decides nothing itself: options are resolved in
``_settings``, budgets judged in ``_judge``, modes set up in ``_route``, records kept
in ``_store``, reports drawn in ``_show``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Generator, Iterator
from typing import Any

import pytest

from . import _clients, _judge, _probe, _route, _settings, _show
from ._emulate import Emulator
from ._measure import use_first_token_rule
from ._store import Recorder, set_active_recorder

_SETTINGS = pytest.StashKey[_settings.Settings]()
_RESULTS = pytest.StashKey[list[_show.TestResult]]()
_RECORDER = pytest.StashKey[Recorder]()
_BUDGETS = pytest.StashKey[list[_judge.Budget]]()

# A test that uses one of these (or has a budget) runs against the mock in mock mode.
_PLUGIN_FIXTURES = frozenset(
    {
        "ttfb",
        "ttfb_mock",
        "ttfb_client",
        "ttfb_async_client",
        "ttfb_httpx_client",
        "anthropic_client",
        "async_anthropic_client",
    }
)


def pytest_addoption(parser: pytest.Parser) -> None:
    _settings.add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    for name, description in _judge.MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {description}")
    settings = _settings.resolve(config)
    config.stash[_SETTINGS] = settings
    use_first_token_rule(settings.first_token)
    config.stash[_RESULTS] = []
    if not hasattr(config, "workerinput"):
        config.pluginmanager.register(_WorkerResults(config.stash[_RESULTS]), "ttfb-workers")


def pytest_cmdline_main(config: pytest.Config) -> int | None:
    urls = config.getoption("ttfb_probe")
    if not urls:
        return None
    # Like pytest's own --markers: configure, do the one thing, unconfigure.
    config._do_configure()
    try:
        return _probe.main(
            urls,
            config.getoption("ttfb_probe_samples"),
            config.stash[_SETTINGS],
            config.get_terminal_writer().line,
        )
    finally:
        config._ensure_unconfigure()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    problems = []
    for item in items:
        try:
            item.stash[_BUDGETS] = _judge.budgets_for(item.iter_markers())
        except _judge.BudgetError as exc:
            problems.append(f"{item.nodeid}: {exc}")
    if problems:
        raise pytest.UsageError("pytest-ttfb: invalid budget marker\n" + "\n".join(problems))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    recorder = Recorder(item.nodeid)
    item.stash[_RECORDER] = recorder
    set_active_recorder(recorder)
    try:
        return (yield)
    finally:
        set_active_recorder(None)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    item.stash[_RECORDER].when = "setup"


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    item.stash[_RECORDER].when = "teardown"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    settings = item.config.stash[_SETTINGS]
    recorder = item.stash[_RECORDER]
    recorder.when = "call"
    budgets = item.stash.get(_BUDGETS, [])
    result = _show.TestResult(
        item.nodeid,
        recorder.requests,
        budgets,
        enforced=settings.enforce_budgets,
        unmatched=recorder.unmatched,
    )
    item.config.stash[_RESULTS].append(result)
    body_error: BaseException | None = None
    try:
        return (yield)
    except BaseException as error:
        body_error = error
        raise
    finally:
        # A test that skipped itself (or was interrupted) has nothing to be judged on.
        if body_error is None or isinstance(body_error, Exception | pytest.fail.Exception):
            result.verdicts = _judge.judge(budgets, recorder.requests, settings.budget_scale)
            failure = _show.failure_text(result, recorder.failures, settings.budget_scale)
            if failure and body_error is None:
                pytest.fail(failure, pytrace=False)
            elif failure and _route.plugin_error_in(body_error) is None:
                item.add_report_section("call", "ttfb", failure)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    own_error = _route.plugin_error_in(call.excinfo.value if call.excinfo else None)
    if own_error is not None:
        # Our message says all there is; the traceback through httpx and respx would
        # add nothing but request objects whose reprs carry the raw URL.
        report.longrepr = str(own_error)
    if report.when == "call":
        results = item.config.stash[_RESULTS]
        if results and results[-1].nodeid == item.nodeid and results[-1].reportable:
            item.user_properties.extend(_show.junit_properties(results[-1]))
            if hasattr(item.config, "workerinput"):  # pytest-xdist: send it home
                report.ttfb_result = results[-1].to_wire()
    return report


class _WorkerResults:
    """On the pytest-xdist controller: each test a worker ran, as its report brings it.
    (Only workers put results on reports, so a run without xdist counts nothing twice.)"""

    def __init__(self, results: list[_show.TestResult]) -> None:
        self.results = results

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        data = report.__dict__.get("ttfb_result")
        if data is not None:
            self.results.append(_show.TestResult.from_wire(data))


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if _SETTINGS not in config.stash:
        return
    settings = config.stash[_SETTINGS]
    results: list[_show.TestResult] = config.stash[_RESULTS]
    lines = _show.summary_lines(results, settings)
    if lines:
        terminalreporter.write_sep("-", "pytest-ttfb")
        for line in lines:
            terminalreporter.write_line(line)
    doctor = _show.doctor_lines(results)
    if doctor:
        terminalreporter.write_sep("-", "pytest-ttfb doctor: settings that defeat the recipe")
        for line in doctor:
            terminalreporter.write_line(line)


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    if _SETTINGS not in config.stash or config.stash[_SETTINGS].json_path is None:
        return
    if hasattr(config, "workerinput"):  # a pytest-xdist worker: never clobber the file
        return
    settings = config.stash[_SETTINGS]
    path = settings.json_path
    assert path is not None
    results: list[_show.TestResult] = config.stash[_RESULTS]
    try:
        _show.write_json(
            path,
            results,
            mode=settings.mode,
            scale=settings.budget_scale,
            enforced=settings.enforce_budgets,
        )
    except OSError as exc:
        config.get_terminal_writer().line(
            f"pytest-ttfb: could not write the JSON report to {path}: {exc}", red=True
        )
        if session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


# -- fixtures ---------------------------------------------------------------------------


@pytest.fixture
def ttfb(request: pytest.FixtureRequest) -> Recorder:
    """The recorder: ``ttfb.requests`` lists this test's requests; ``ttfb.watch(client)``
    instruments a client you built."""
    recorder: Recorder = request.node.stash[_RECORDER]
    return recorder


@pytest.fixture(scope="session", autouse=True)
def _ttfb_network(pytestconfig: pytest.Config) -> Iterator[Emulator | None]:
    with _route.emulated_network(pytestconfig.stash[_SETTINGS]) as emulator:
        yield emulator


@pytest.fixture(scope="session")
def ttfb_emulator(_ttfb_network: Emulator | None) -> Emulator:
    """The emulated network of emulate mode: ``rtt_ms``, ``regions``, ``connections``
    (accepted by its server so far). Tests asking for it are skipped in other modes."""
    if _ttfb_network is None:
        pytest.skip("ttfb_emulator exists in emulate mode only (--ttfb-mode=emulate)")
    return _ttfb_network


@pytest.fixture
def ttfb_mock(
    request: pytest.FixtureRequest, _ttfb_network: Emulator | None
) -> Iterator[_route.TtfbRouter]:
    """The router with the Anthropic Messages route declared. It answers in-process in
    mock mode, from the emulated server in emulate mode, and not at all in live mode."""
    mode = request.config.stash[_SETTINGS].mode
    with _route.serving(_route.TtfbRouter(), mode, _ttfb_network) as router:
        yield router


@pytest.fixture(autouse=True)
def _ttfb_mode(request: pytest.FixtureRequest) -> None:
    settings = request.config.stash[_SETTINGS]
    has_budgets = bool(request.node.stash.get(_BUDGETS, []))
    if _route.needs_mock(settings.mode, request.fixturenames, _PLUGIN_FIXTURES, has_budgets):
        request.getfixturevalue("ttfb_mock")


@pytest.fixture(scope="session")
def ttfb_client(pytestconfig: pytest.Config) -> Generator[Any, None, None]:
    """Pooled, instrumented ``httpx2.Client`` with the recipe's settings."""
    import httpx2

    with _clients.pooled_client(httpx2, pytestconfig.stash[_SETTINGS].pool) as client:
        yield client


@pytest.fixture(scope="session")
def ttfb_async_client(pytestconfig: pytest.Config) -> Generator[Any, None, None]:
    """The async twin of ``ttfb_client`` (``httpx2.AsyncClient``)."""
    import httpx2

    client = _clients.pooled_client(
        httpx2,
        pytestconfig.stash[_SETTINGS].pool,
        asynchronous=True,
        name="ttfb_async_client (and async_anthropic_client, which shares it)",
    )
    yield client
    _close_async(client)


@pytest.fixture(scope="session")
def ttfb_httpx_client(pytestconfig: pytest.Config) -> Generator[Any, None, None]:
    """``ttfb_client`` on httpx 0.28 (``httpx.Client``)."""
    import httpx

    with _clients.pooled_client(httpx, pytestconfig.stash[_SETTINGS].pool) as client:
        yield client


@pytest.fixture(scope="session")
def anthropic_client(pytestconfig: pytest.Config, ttfb_client: Any) -> Any:
    """``anthropic.Anthropic`` on the pooled ``ttfb_client``."""
    import anthropic

    return anthropic.Anthropic(http_client=ttfb_client, **_anthropic_options(pytestconfig))


@pytest.fixture(scope="session")
def async_anthropic_client(pytestconfig: pytest.Config, ttfb_async_client: Any) -> Any:
    """``anthropic.AsyncAnthropic`` on the pooled ``ttfb_async_client``."""
    import anthropic

    return anthropic.AsyncAnthropic(
        http_client=ttfb_async_client, **_anthropic_options(pytestconfig)
    )


def _anthropic_options(config: pytest.Config) -> dict[str, Any]:
    settings = config.stash[_SETTINGS]
    options, skip = _route.anthropic_client_options(
        settings.mode, settings.base_url, dict(os.environ)
    )
    if skip:
        pytest.skip(skip)
    return options


def _close_async(client: Any) -> None:
    # The session's event loops are gone by now; close the pool on a loop of its own,
    # and let a connection bound to a closed loop go with the garbage.
    with contextlib.suppress(Exception):
        asyncio.run(client.aclose())
