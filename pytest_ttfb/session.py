"""session: the run-wide state of one pytest session, and what each hook does with it.

``TtfbSession`` owns the resolved settings, every test's result (this process's, or
on the pytest-xdist controller every worker's), and the process-wide switches the hot
path reads (first-token rule, active recorder), which it resets when the session
closes. The plugin module (``_wire``) only hands hooks and fixtures to it.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterable, Iterator
from time import perf_counter
from typing import TYPE_CHECKING, Any

import pytest

from .budgets.kinds import KINDS, Budget
from .errors import BudgetError, plugin_error_in
from .measure.active import active_sink, set_active_sink
from .measure.recorder import Recorder
from .measure.scanner import DEFAULT_RULE, use_first_token_rule
from .modes import needs_mock
from .settings import Settings, resolve

if TYPE_CHECKING:
    from .results import TestResult

# Loaded when first needed (a budget marker, a test that uses the plugin), not by a
# suite that never does: ``budgets.parse`` and ``results``.

__all__ = ["PLUGIN_FIXTURES", "TtfbSession"]

# A test that uses one of these (or has a budget) runs against the mock in mock mode.
PLUGIN_FIXTURES = frozenset(
    {
        "ttfb",
        "ttfb_mock",
        "ttfb_client",
        "ttfb_async_client",
        "ttfb_httpx_client",
        "ttfb_httpx_async_client",
        "anthropic_client",
        "async_anthropic_client",
        "openai_client",
        "async_openai_client",
    }
)

_ANTHROPIC_FIXTURES = frozenset({"anthropic_client", "async_anthropic_client"})
_ATTEMPT = pytest.StashKey["_Attempt"]()
_BUDGETS = pytest.StashKey[list[Budget]]()
_STATE = pytest.StashKey["_ItemState"]()


def marker_lines() -> list[str]:
    """``config.addinivalue_line("markers", ...)`` lines for every budget kind."""
    return [f"{kind.marker}: {kind.description}" for kind in KINDS.values()]


_LATE_KEY = "ttfb_late"  # in a pytest-xdist worker's workeroutput


class _ItemState:
    """What collection learnt of one test, and how many times its setup began: one
    stash entry, read once a run of the test (every hook of a quiet test is cheap)."""

    __slots__ = ("markers", "quiet", "runs")

    def __init__(self, quiet: bool, markers: int) -> None:
        self.quiet = quiet  # no plugin fixture in its closure, no budget
        # len(own_markers) at collection: applymarker() adds to it, so a change means
        # budgets added at run time (-1: unknown, always checked).
        self.markers = markers
        self.runs = 0  # how many times its setup began (pytest-rerunfailures reruns)


class _QuietRun:
    """A test that uses no plugin fixture and declares no budget, while it runs: it
    records into a recorder kept for such tests, and becomes an ``_Attempt`` only if
    something lands there (a client it watched itself, a budget marker added at run
    time), so the rest of a suite pays for nothing but a few attribute writes.
    (Plain classes here, not dataclasses: each dataclass costs the plugin's start-up.)"""

    __slots__ = ("called", "item", "markers", "number", "outcome", "started_at")

    def __init__(self, item: pytest.Item, state: _ItemState, started_at: float) -> None:
        self.item = item
        self.number = state.runs  # which attempt of the test (reruns)
        self.markers = state.markers
        self.started_at = started_at
        self.called = False
        self.outcome: str | None = None  # of its call phase, or of a setup that did not pass


class _QuietWindow:
    """A quiet test that recorded nothing by its end, kept only once some client was
    instrumented: a request of its may still be in flight. Its recorder is its own from
    then on (the next quiet test gets a new one), so what arrives there later is its;
    a request still waiting for its headers at the session's end is given to the test
    during which it started, quiet or not."""

    __slots__ = ("called", "ended_at", "nodeid", "number", "outcome", "recorder", "started_at")

    def __init__(self, quiet: _QuietRun, ended_at: float, recorder: Recorder) -> None:
        self.nodeid = quiet.item.nodeid
        self.number = quiet.number
        self.started_at = quiet.started_at
        self.ended_at = ended_at
        self.outcome = quiet.outcome
        self.called = quiet.called
        self.recorder = recorder


class _Attempt:
    """One run of one test in this process, and what settles its late requests."""

    __slots__ = ("ended_at", "open", "recorder", "result", "settled", "started_at")

    def __init__(
        self,
        result: TestResult,
        recorder: Recorder,
        started_at: float,
        ended_at: float | None = None,
    ) -> None:
        self.result = result
        self.recorder = recorder
        self.started_at = started_at  # when its setup began
        self.ended_at = ended_at  # perf_counter() after its teardown
        self.settled = 0  # how many of the recorder's records existed then
        self.open: list[Any] = []  # of those, the in-flight ones not ended


def _instrumented_any() -> bool:
    """Whether any client was instrumented in this process, without loading the HTTP
    stacks to ask (they are loaded by the first instrumented client)."""
    if "pytest_ttfb.measure.stacks" not in sys.modules:
        return False
    from .measure.stacks import instrumented_any

    return instrumented_any()


def _budgets_for(marks: Iterable[Any], mode: str) -> list[Budget]:
    from .budgets.parse import budgets_for

    return budgets_for(marks, mode)


def _outcome(report: pytest.TestReport) -> str:
    """One phase's outcome as the results name it."""
    if hasattr(report, "wasxfail"):
        return "xfailed" if report.skipped else "xpassed"
    if report.when != "call" and report.failed:
        return "error"
    return str(report.outcome)


class TtfbSession:
    """One pytest session's pytest-ttfb state."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.settings: Settings = resolve(config)
        self.results: list[TestResult] = []
        self._attempts: list[_Attempt] = []  # this process's, for the late requests
        self._running: dict[str, _Attempt] = {}  # by nodeid, until its teardown is logged
        self._quiet_recorder = Recorder("")  # shared by the quiet tests, one at a time
        self._quiet: _QuietRun | None = None  # the quiet test running now
        self._quiet_windows: list[_QuietWindow] = []
        self.emulator: Any = None  # emulate mode: the session's network, while tests run
        self._network_error: Exception | None = None  # why it could not start
        self.is_worker = hasattr(config, "workerinput")  # a pytest-xdist worker
        # A pytest-xdist controller (xdist has set ``dist`` by configure): runs no test.
        self.is_controller = not self.is_worker and getattr(config.option, "dist", "no") != "no"
        # --setup-only (and --setup-plan) run no call phase: teardown follows setup.
        self._setup_only = bool(getattr(config.option, "setuponly", False))
        # Called once, when the first test that uses the plugin starts (``_wire`` then
        # registers the per-report hook, which a suite of quiet tests never pays for).
        self.on_first_attempt: Any = None
        self.started = time.time()
        self.order: dict[str, int] = {}  # node id -> position in the collected tests
        self.after_run: list[str] = []  # what the reports and the comparison said
        self.baseline: dict[str, Any] | None = None
        self.baseline_path: str | None = None
        use_first_token_rule(self.settings.first_token)
        if self.is_worker:  # connection ids unique across the workers' reports
            from .measure.inflight import connection_prefix

            connection_prefix.text = f"{config.workerinput['workerid']}-c"  # type: ignore[attr-defined]
        else:
            self._find_baseline()

    def close(self) -> None:
        """Put the process-wide switches back, for whatever runs next in this process."""
        use_first_token_rule(DEFAULT_RULE)
        set_active_sink(None)
        if "pytest_ttfb.measure.inflight" in sys.modules:
            from .measure.inflight import connection_prefix

            connection_prefix.text = "c"

    def _find_baseline(self) -> None:
        """The run to compare with (``--ttfb-compare``, or for the gates the latest
        saved), found now so that a spec naming nothing fails before any test runs."""
        settings = self.settings
        if settings.compare is None and not settings.gates:
            return
        from .baseline.storage import BaselineError, find, load
        from .report.document import machine_id

        spec = settings.compare or None
        try:
            path = find(spec, settings.storage, machine_id())
            if path is not None:
                self.baseline, self.baseline_path = load(path), str(path)
        except BaselineError as error:
            raise pytest.UsageError(f"--ttfb-compare: {error}") from None
        if path is None and spec is not None:
            raise pytest.UsageError(
                f"--ttfb-compare={spec}: no saved run of that number or name under "
                f"{settings.storage} for this machine ({machine_id()})"
            )

    @contextlib.contextmanager
    def network(self) -> Iterator[None]:
        """While the tests run, in emulate mode: the emulated network, up for the whole
        run as the mode says (every instrumented client's new connections go through
        it, whichever test opens them and in whatever order the tests run). Not on a
        pytest-xdist controller, which runs no test. A network that cannot start fails
        the tests that use the plugin (``emulator_for_test``), not the session."""
        if self.settings.mode != "emulate" or self.is_controller:
            yield
            return
        from .modes import emulated_network

        with contextlib.ExitStack() as stack:
            try:
                self.emulator = stack.enter_context(emulated_network(self.settings))
            except Exception as error:  # hypercorn or trustme missing, no loopback...
                self._network_error = error
            try:
                yield
            finally:
                self.emulator = None

    def emulator_for_test(self) -> Any:
        """The emulated network for a test that uses the plugin (None outside emulate
        mode); raises why it could not start."""
        if self._network_error is not None:
            raise self._network_error
        return self.emulator

    def collection_finished(self, items: Iterable[pytest.Item]) -> None:
        self.order = {item.nodeid: index for index, item in enumerate(items)}

    # -- collection -----------------------------------------------------------------

    def collect_budgets(self, items: Iterable[pytest.Item]) -> None:
        """Parse every item's budget markers (all bad ones in one usage error), and have
        the tests that use the plugin ask for ``ttfb_mock`` (mock and emulate modes)."""
        problems = []
        for item in items:
            marks = [mark for mark in item.iter_markers() if mark.name in KINDS]
            try:
                budgets = _budgets_for(marks, self.settings.mode) if marks else []
            except BudgetError as exc:
                problems.append(f"{item.nodeid}: {exc}")
                continue
            stash = item.stash
            if budgets:
                stash[_BUDGETS] = budgets
            names = getattr(item, "fixturenames", ())
            uses = bool(budgets) or not PLUGIN_FIXTURES.isdisjoint(names)
            stash[_STATE] = _ItemState(not uses, len(item.own_markers))
            if uses:  # the others never run against the mock
                self._route_to_mock(item, bool(budgets))
        if problems:
            raise pytest.UsageError("pytest-ttfb: invalid budget marker\n" + "\n".join(problems))

    def _route_to_mock(self, item: pytest.Item, has_budgets: bool) -> None:
        """Mock (and emulate) mode answers only the tests that use the plugin: for those,
        ``ttfb_mock`` joins the test's fixtures, where an autouse fixture would stand
        (after the wider-scoped ones), instead of an autouse fixture in every test."""
        names = getattr(item, "fixturenames", None)
        info = getattr(item, "_fixtureinfo", None)
        if names is None or info is None:
            return
        if not needs_mock(self.settings.mode, names, PLUGIN_FIXTURES, has_budgets):
            return
        wanted = list(names)  # a copy: a function's parametrized items share their list
        if "ttfb_mock" not in wanted:
            position = len(wanted)
            for index, name in enumerate(wanted):
                definitions = info.name2fixturedefs.get(name)
                if definitions and definitions[-1].scope == "function":
                    position = index
                    break
            wanted.insert(position, "ttfb_mock")
        if wanted != names:
            item.fixturenames = wanted  # type: ignore[attr-defined]

    # -- one test: each attempt (pytest-rerunfailures runs a test again) ----------

    def start_attempt(self, item: pytest.Item) -> None:
        """The test's setup begins: a new attempt, with a recorder and a result of its
        own, so a rerun is judged on its own requests only. A test that does not use
        the plugin runs quiet (``_QuietRun``) until it records something."""
        if self._quiet is not None:  # a quiet test that never reached its teardown
            self.end_interrupted()
        stash = item.stash
        state = stash.get(_STATE, None)
        if state is None:  # not seen at collection: treated as a test that uses the plugin
            state = stash[_STATE] = _ItemState(False, -1)
        state.runs += 1
        if state.runs > 1:
            previous = stash.get(_ATTEMPT, None)
            if previous is not None:
                previous.result.final = False
                del stash[_ATTEMPT]
        if not state.quiet:
            attempt = self._new_attempt(item, Recorder(item.nodeid), state.runs, perf_counter())
            attempt.recorder.when = "setup"
            set_active_sink(attempt.recorder)
            return
        # The shared recorder is named after the test only if it keeps it (promotion).
        recorder = self._quiet_recorder
        recorder.when = "setup"
        self._quiet = _QuietRun(item, state, perf_counter())
        set_active_sink(recorder)

    def _new_attempt(
        self, item: pytest.Item, recorder: Recorder, number: int, started_at: float
    ) -> _Attempt:
        from .results import TestResult

        result = TestResult(
            item.nodeid,
            recorder.requests,
            item.stash.get(_BUDGETS, []),
            enforced=self.settings.enforce_budgets,
            unmatched=recorder.unmatched,
            attempt=number,
            uses_anthropic=not _ANTHROPIC_FIXTURES.isdisjoint(getattr(item, "fixturenames", ())),
        )
        attempt = _Attempt(result, recorder, started_at)
        item.stash[_ATTEMPT] = attempt
        self._attempts.append(attempt)
        if self.on_first_attempt is not None:
            self.on_first_attempt()
            self.on_first_attempt = None
        self._running[item.nodeid] = attempt
        self.results.append(result)
        return attempt

    def _quiet_run(self, item: pytest.Item) -> _QuietRun | None:
        quiet = self._quiet
        return quiet if quiet is not None and quiet.item is item else None

    def _quiet_recorded(self, quiet: _QuietRun) -> bool:
        """Whether the quiet test has anything to report or judge."""
        recorder = self._quiet_recorder
        return bool(
            recorder.pending
            or recorder.requests
            or recorder.unmatched
            or recorder.failures
            or len(quiet.item.own_markers) != quiet.markers
        )

    def _promote(self, quiet: _QuietRun) -> _Attempt:
        """The quiet test recorded something: from now on an attempt like any other,
        with the shared recorder as its own (the next quiet test gets a new one)."""
        recorder = self._quiet_recorder
        recorder.nodeid = quiet.item.nodeid
        self._quiet_recorder = Recorder("")
        self._quiet = None
        attempt = self._new_attempt(quiet.item, recorder, quiet.number, quiet.started_at)
        attempt.result.called = quiet.called
        attempt.result.outcome = quiet.outcome
        return attempt

    def end_interrupted(self) -> None:
        """A quiet test whose teardown never reported (Ctrl-C, ``pytest.exit``): keep
        what it recorded. Called when the next test starts and at the session's end."""
        quiet = self._quiet
        if quiet is not None:
            if self._quiet_recorded(quiet):
                self._promote(quiet)
            else:  # nothing of it is kept: the next quiet test starts afresh
                self._quiet_recorder = Recorder("")
            self._quiet = None
        set_active_sink(None)

    def recorder(self, item: pytest.Item) -> Recorder:
        """The ``ttfb`` fixture's recorder; a quiet test asking for it at run time
        (``request.getfixturevalue("ttfb")``) stops being quiet."""
        attempt = item.stash.get(_ATTEMPT, None)
        if attempt is None:
            quiet = self._quiet_run(item)
            if quiet is None:
                raise RuntimeError(f"pytest-ttfb: {item.nodeid} has not started")
            attempt = self._promote(quiet)
        return attempt.recorder

    def begin_call(self, item: pytest.Item) -> TestResult | None:
        """The test's body begins: its result (``None`` for a quiet test)."""
        quiet = self._quiet_run(item)
        if quiet is not None:
            quiet.called = True
            self._quiet_recorder.when = "call"
            return None
        attempt = item.stash.get(_ATTEMPT, None)
        if attempt is None:
            return None
        attempt.recorder.when = "call"
        attempt.result.called = True
        return attempt.result

    def end_call(
        self, item: pytest.Item, result: TestResult | None, body_error: BaseException | None
    ) -> None:
        """Judge the test's budgets when its body ended; fail it on a breach (or add the
        breach to the report when the body already failed)."""
        # A test that skipped itself (or was interrupted) has nothing to be judged on.
        if body_error is not None and not isinstance(body_error, Exception | pytest.fail.Exception):
            return
        if result is None:  # a quiet test: judged only if it recorded something
            quiet = self._quiet_run(item)
            if quiet is None or not self._quiet_recorded(quiet):
                return
            result = self._promote(quiet).result
        recorder = item.stash[_ATTEMPT].recorder
        if body_error is not None:
            own = plugin_error_in(body_error)
            if own is None:
                result.failed_by.append("test")
            elif not result.unmatched:
                result.failed_by.append("plugin")
        # Markers added while the test ran (request.applymarker) count like static ones;
        # static ones were checked at collection, so a bad one here is a runtime mark.
        try:
            state = item.stash.get(_STATE, None)
            if state is None or len(item.own_markers) != state.markers:
                result.budgets = _budgets_for(item.iter_markers(), self.settings.mode)
        except BudgetError as exc:
            message = f"pytest-ttfb: invalid budget marker added at run time: {exc}"
            result.failed_by.append("marker")
            if body_error is None:
                pytest.fail(message, pytrace=False)
            item.add_report_section("call", "ttfb", message)
            return
        from .budgets.judge import judge
        from .report.failure import failure_text

        scale = self.settings.budget_scale
        result.verdicts = judge(result.budgets, recorder.requests, scale)
        if result.unmatched:
            result.failed_by.insert(0, "unmatched")
        if recorder.failures:
            result.failed_by.append("plugin")
        if result.enforced and any(v.status == "fail" for v in result.verdicts):
            result.failed_by.insert(0, "budget")
        result.failed_by[:] = dict.fromkeys(result.failed_by)
        failure = failure_text(result, recorder.failures, scale, settings=self.settings)
        if failure and body_error is None:
            pytest.fail(failure, pytrace=False)
        elif failure and plugin_error_in(body_error) is None:
            item.add_report_section("call", "ttfb", failure)

    def make_report(self, item: pytest.Item, call: pytest.CallInfo[None], report: Any) -> None:
        """Each phase's report: the attempt's outcome, and the phase that comes next
        (teardown follows the call, or a setup that did not pass): the records made
        from now on are the teardown's."""
        if call.excinfo is not None:
            own_error = plugin_error_in(call.excinfo.value)
            if own_error is not None:
                # Our message says all there is; the traceback through httpx and respx
                # would add nothing but request objects whose reprs carry the raw URL.
                report.longrepr = str(own_error)
        when = report.when
        quiet = self._quiet_run(item)
        if quiet is not None:
            if when != "teardown":
                if when == "call" or report.outcome != "passed":
                    quiet.outcome = _outcome(report)
                    self._quiet_recorder.when = "teardown"
                elif self._setup_only:
                    self._quiet_recorder.when = "teardown"
                return
            if not self._quiet_recorded(quiet):
                self._end_quiet(quiet)
                return
            attempt = self._promote(quiet)
        else:
            found = item.stash.get(_ATTEMPT, None)
            if found is None:
                return
            attempt = found
        result = attempt.result
        if when == "call" or (when == "setup" and report.outcome != "passed"):
            result.outcome = _outcome(report)
            attempt.recorder.when = "teardown"
        elif when == "teardown":
            if report.failed and result.outcome in (None, "passed", "xpassed"):
                result.outcome = "error"
            self._end_attempt(attempt)
        elif self._setup_only:
            attempt.recorder.when = "teardown"

    def _end_quiet(self, quiet: _QuietRun) -> None:
        """A quiet test that recorded nothing ended: nothing to keep, but its window
        once a client was instrumented (a request of its may still be waiting)."""
        self._quiet = None
        if active_sink() is self._quiet_recorder:
            set_active_sink(None)
        if _instrumented_any():
            window = _QuietWindow(quiet, perf_counter(), self._quiet_recorder)
            window.recorder.nodeid = window.nodeid
            self._quiet_windows.append(window)
            self._quiet_recorder = Recorder("")

    def _end_attempt(self, attempt: _Attempt) -> None:
        """After the teardown: the attempt's records are complete; anything that ends
        later is a late request (``settle``)."""
        recorder = attempt.recorder
        recorder.requests  # noqa: B018  (reading builds the records)
        attempt.ended_at = perf_counter()
        attempt.settled = len(recorder.requests)
        # Only the requests still open need watching from now on; the rest are done.
        attempt.open = [flight for flight in recorder.flights if flight.end is None]
        recorder.flights.clear()
        if active_sink() is recorder:
            set_active_sink(None)

    def log_report(self, report: pytest.TestReport) -> None:
        """Each report as pytest logs it (after pytest-rerunfailures has marked the
        attempts it runs again ``rerun``): the final attempt's JUnit properties, and
        under pytest-xdist the attempt's result, sent home on its teardown report."""
        attempt = self._running.get(report.nodeid)
        if attempt is None:  # the controller, or a test that never started
            return
        result = attempt.result
        if str(report.outcome) == "rerun":  # set by pytest-rerunfailures
            result.final = False
        if report.when != "teardown":
            return
        del self._running[report.nodeid]
        if not result.reportable:
            return
        if result.final:
            from .report.junit import junit_properties

            report.user_properties.extend(junit_properties(result))
        if self.is_worker:  # pytest-xdist: send it home on the report
            data = result.to_data()
            data["order"] = self.order.get(report.nodeid)  # for the controller's table
            report.ttfb_result = data  # type: ignore[attr-defined]

    def settle(self) -> list[TestResult]:
        """At the session's end: requests that ended after their test (or never) join
        the test that started them, marked ``late`` (``error="unfinished"`` when still
        running); a record whose end was stamped while it was being built gets its
        total. Returns the results that changed."""
        changed = []
        for window in list(self._quiet_windows):  # a request that ended after its test
            recorder = window.recorder
            if recorder.pending or recorder.requests:
                self._window_attempt(window)
        self._adopt_strays()
        for attempt in self._attempts:
            if attempt.ended_at is None:
                continue
            recorder = attempt.recorder
            records = recorder.requests  # builds what arrived since the test ended
            ended_at = attempt.ended_at
            touched = False
            for flight in attempt.open:  # open when the test ended
                record = flight.timing()
                end = flight.end
                if end is None:
                    record.late = True
                    record.error = record.error or "unfinished"
                else:
                    if record.total_ms is None:
                        record.total_ms = (end - flight.start) * 1000.0
                        record.error = flight.error
                    record.late = end > ended_at
                touched = True
            still_open = {id(flight.timing()) for flight in recorder.flights if flight.end is None}
            for record in records[attempt.settled :]:  # handed over after the test ended
                if id(record) in still_open:
                    record.late = True
                    record.error = record.error or "unfinished"
                else:
                    record.late = record.ended_at > ended_at
                touched = True
            attempt.open = []
            recorder.flights.clear()
            attempt.settled = len(records)
            if touched:
                changed.append(attempt.result)
        return changed

    def _adopt_strays(self) -> None:
        """Requests still waiting for their response headers now were never handed to
        a recorder (the transports hand them over when the headers arrive): find them
        among the live objects, once, at the session's end, and give each to the test
        during which it started (one test runs at a time in a process)."""
        if not (self._attempts or self._quiet_windows):
            return
        if not _instrumented_any():
            return  # no client was ever instrumented: no request can be in flight
        import gc

        from .measure.inflight import InFlight

        known = {
            id(flight)
            for attempt in self._attempts
            for flight in (*attempt.recorder.flights, *attempt.recorder.pending)
        }
        for candidate in gc.get_objects():
            if not isinstance(candidate, InFlight) or id(candidate) in known:
                continue
            if candidate.end is not None:
                continue
            for attempt in self._attempts:
                ended = attempt.ended_at
                if attempt.started_at <= candidate.start and (
                    ended is None or candidate.start <= ended
                ):
                    attempt.recorder.pending.append(candidate)
                    break
            else:
                for window in self._quiet_windows:
                    if window.started_at <= candidate.start <= window.ended_at:
                        self._window_attempt(window).recorder.pending.append(candidate)
                        break

    def _window_attempt(self, window: _QuietWindow) -> _Attempt:
        """The attempt of a quiet test that turns out to have started a request after
        all (one that ended after the test, or found in flight at the session's end):
        made now, once."""
        self._quiet_windows.remove(window)
        recorder = window.recorder
        later = [a.result.attempt for a in self._attempts if a.result.nodeid == window.nodeid]
        later += [w.number for w in self._quiet_windows if w.nodeid == window.nodeid]
        from .results import TestResult

        result = TestResult(
            window.nodeid,
            recorder.requests,
            enforced=self.settings.enforce_budgets,
            unmatched=recorder.unmatched,
            attempt=window.number,
            final=all(number < window.number for number in later),
            outcome=window.outcome,
            called=window.called,
        )
        attempt = _Attempt(result, recorder, window.started_at, window.ended_at)
        self._attempts.append(attempt)
        self.results.append(result)
        return attempt

    # -- pytest-xdist ---------------------------------------------------------------

    def collect_worker_report(self, report: pytest.TestReport) -> None:
        """On the controller: each test a worker ran, as its report brings it. (Only
        workers put results on reports, so a run without xdist counts nothing twice.)"""
        data = report.__dict__.get("ttfb_result")
        if data is not None:
            from .results import TestResult

            data = dict(data)
            order = data.pop("order", None)
            if isinstance(order, int):
                self.order.setdefault(data["nodeid"], order)
            self.results.append(TestResult.from_data(data))

    def send_late(self, workeroutput: dict[str, Any]) -> None:
        """On a worker at the session's end: the results whose records changed since
        their teardown report went home (late requests), for ``collect_late``."""
        workeroutput[_LATE_KEY] = [result.to_data() for result in self.settle()]

    def collect_late(self, workeroutput: dict[str, Any]) -> None:
        """On the controller: a worker's late records replace its results' records (or
        bring a test that had recorded nothing before it ended)."""
        from .results import TestResult

        for data in workeroutput.get(_LATE_KEY, []):
            update = TestResult.from_data(data)
            for result in self.results:
                if result.nodeid == update.nodeid and result.attempt == update.attempt:
                    result.requests = update.requests
                    break
            else:
                self.results.append(update)

    # -- the end --------------------------------------------------------------------

    def ordered_results(self) -> list[TestResult]:
        """The results in test order (pytest-xdist's workers finish in any order)."""
        last = len(self.order)
        return sorted(self.results, key=lambda r: self.order.get(r.nodeid, last))

    def terminal_summary(self, terminalreporter: Any) -> None:
        if not self.after_run and not any(result.reportable for result in self.results):
            return  # nothing recorded, nothing to say (and the report modules stay unloaded)
        from .report.terminal import doctor_lines, short_lines, summary_lines, wrap

        style = self.settings.report_style
        width = terminalreporter._tw.fullwidth
        results = self.ordered_results()
        if style != "none":
            table = summary_lines if style == "full" else short_lines
            lines = table(results, self.settings, width)
            if lines:
                terminalreporter.write_sep("-", "pytest-ttfb")
                for line in lines:
                    terminalreporter.write_line(line)
        doctor = doctor_lines(results) if style == "full" else []
        if doctor:
            terminalreporter.write_sep("-", "pytest-ttfb doctor: settings that defeat the recipe")
            for line in wrap(doctor, width):
                terminalreporter.write_line(line)
        if self.after_run:
            terminalreporter.write_sep("-", "pytest-ttfb reports")
            for line in wrap(self.after_run, width):
                terminalreporter.write_line(line)

    def finish(self, session: pytest.Session) -> None:
        """The session's end: late requests settled (a pytest-xdist worker sends them
        home), then the reports written."""
        self.end_interrupted()
        workeroutput = getattr(self.config, "workeroutput", None)
        if workeroutput is not None:
            self.send_late(workeroutput)
        else:
            self.settle()
        self.write_reports(session)

    def write_reports(self, session: pytest.Session) -> None:
        """The file reports, the saved run and the comparison with the baseline, by
        the process that saw every test (never a pytest-xdist worker). A report that
        cannot be written, or a regression the gates find, fails the session."""
        settings = self.settings
        wanted = (
            settings.json_path
            or settings.har_path
            or settings.html_path
            or settings.save_name
            or settings.autosave
            or settings.compare is not None
            or settings.gates
        )
        if self.is_worker or not wanted:
            return
        from . import __version__
        from .report.build import run_document

        workers = getattr(self.config.option, "numprocesses", None)
        document = run_document(
            self.ordered_results(),
            settings,
            started=self.started,
            ended=time.time(),
            version=__version__,
            workers=workers if isinstance(workers, int) else 0,
        )
        failed = self._compare(document)
        failed = self._write_files(document) or failed
        if failed and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def _compare(self, document: dict[str, Any]) -> bool:
        settings = self.settings
        if settings.compare is None and not settings.gates:
            return False
        if self.baseline is None:
            self.after_run.append(
                f"WARNING: no saved run to compare with under {settings.storage}: save one "
                "with --ttfb-save=NAME or --ttfb-autosave (the gates are not judged)"
            )
            return False
        from .baseline.report import comparison

        width = self.config.get_terminal_writer().fullwidth
        lines, regressions = comparison(self.baseline, document, settings.gates, width=width)
        self.after_run += [f"compared with {self.baseline_path}", *lines]
        if regressions:
            enforced = settings.enforce_budgets
            self.after_run.append(
                f"pytest-ttfb: {len(regressions)} regression(s) against {self.baseline_path}"
                + ("" if enforced else " (not enforced: --ttfb-no-budgets)")
            )
            return enforced
        return False

    def _write_files(self, document: dict[str, Any]) -> bool:
        settings = self.settings
        from .baseline.storage import autosave_name, save
        from .report.document import write_document
        from .report.har import write_har
        from .report.html import write_html

        failed = False
        writers = [
            (settings.json_path, "JSON report", write_document),
            (settings.har_path, "HAR file", write_har),
            (settings.html_path, "HTML report", write_html),
        ]
        for path, what, write in writers:
            if path is None:
                continue
            try:
                write(path, document)
                self.after_run.append(f"{what}: {path}")
            except OSError as exc:
                self.config.get_terminal_writer().line(
                    f"pytest-ttfb: could not write the {what} to {path}: {exc}", red=True
                )
                failed = True
        name = settings.save_name or (autosave_name() if settings.autosave else None)
        if name:
            try:
                self.after_run.append(f"saved as {save(document, settings.storage, name)}")
            except OSError as exc:
                self.config.get_terminal_writer().line(
                    f"pytest-ttfb: could not save the run under {settings.storage}: {exc}",
                    red=True,
                )
                failed = True
        return failed
