"""session: the run-wide state of one pytest session, and what each hook does with it.

``TtfbSession`` owns the resolved settings, every test's result (this process's, or
on the pytest-xdist controller every worker's), and the process-wide switches the hot
path reads (first-token rule, active recorder), which it resets when the session
closes. The plugin module (``_wire``) only hands hooks and fixtures to it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from .budgets.judge import judge
from .budgets.kinds import KINDS, Budget
from .budgets.parse import budgets_for
from .errors import BudgetError, plugin_error_in
from .measure.active import set_active_sink
from .measure.recorder import Recorder
from .measure.scanner import DEFAULT_RULE, use_first_token_rule
from .modes import needs_mock
from .report.failure import failure_text
from .report.junit import junit_properties
from .results import TestResult
from .settings import Settings, resolve

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
    }
)

_RECORDER = pytest.StashKey[Recorder]()
_BUDGETS = pytest.StashKey[list[Budget]]()


def marker_lines() -> list[str]:
    """``config.addinivalue_line("markers", ...)`` lines for every budget kind."""
    return [f"{kind.marker}: {kind.description}" for kind in KINDS.values()]


class TtfbSession:
    """One pytest session's pytest-ttfb state."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.settings: Settings = resolve(config)
        self.results: list[TestResult] = []
        self.is_worker = hasattr(config, "workerinput")  # a pytest-xdist worker
        use_first_token_rule(self.settings.first_token)

    def close(self) -> None:
        """Put the process-wide switches back, for whatever runs next in this process."""
        use_first_token_rule(DEFAULT_RULE)
        set_active_sink(None)

    # -- collection -----------------------------------------------------------------

    def collect_budgets(self, items: Iterable[pytest.Item]) -> None:
        """Parse every item's budget markers; all bad ones in one usage error."""
        problems = []
        for item in items:
            try:
                item.stash[_BUDGETS] = budgets_for(item.iter_markers())
            except BudgetError as exc:
                problems.append(f"{item.nodeid}: {exc}")
        if problems:
            raise pytest.UsageError("pytest-ttfb: invalid budget marker\n" + "\n".join(problems))

    def uses_plugin(self, item: pytest.Item, fixturenames: list[str]) -> bool:
        """Whether this test's requests go to the mock (mock and emulate modes)."""
        has_budgets = bool(item.stash.get(_BUDGETS, []))
        return needs_mock(self.settings.mode, fixturenames, PLUGIN_FIXTURES, has_budgets)

    # -- one test -------------------------------------------------------------------

    def start_test(self, item: pytest.Item) -> None:
        recorder = Recorder(item.nodeid)
        item.stash[_RECORDER] = recorder
        set_active_sink(recorder)

    def end_test(self, item: pytest.Item) -> None:
        set_active_sink(None)

    def recorder(self, item: pytest.Item) -> Recorder:
        return item.stash[_RECORDER]

    def enter_phase(self, item: pytest.Item, when: str) -> None:
        item.stash[_RECORDER].when = when

    def begin_call(self, item: pytest.Item) -> TestResult:
        recorder = item.stash[_RECORDER]
        recorder.when = "call"
        result = TestResult(
            item.nodeid,
            recorder.requests,
            item.stash.get(_BUDGETS, []),
            enforced=self.settings.enforce_budgets,
            unmatched=recorder.unmatched,
        )
        self.results.append(result)
        return result

    def end_call(
        self, item: pytest.Item, result: TestResult, body_error: BaseException | None
    ) -> None:
        """Judge the test's budgets when its body ended; fail it on a breach (or add the
        breach to the report when the body already failed)."""
        # A test that skipped itself (or was interrupted) has nothing to be judged on.
        if body_error is not None and not isinstance(body_error, Exception | pytest.fail.Exception):
            return
        recorder = item.stash[_RECORDER]
        scale = self.settings.budget_scale
        result.verdicts = judge(result.budgets, recorder.requests, scale)
        failure = failure_text(result, recorder.failures, scale, settings=self.settings)
        if failure and body_error is None:
            pytest.fail(failure, pytrace=False)
        elif failure and plugin_error_in(body_error) is None:
            item.add_report_section("call", "ttfb", failure)

    def make_report(self, item: pytest.Item, call: pytest.CallInfo[None], report: Any) -> None:
        own_error = plugin_error_in(call.excinfo.value if call.excinfo else None)
        if own_error is not None:
            # Our message says all there is; the traceback through httpx and respx would
            # add nothing but request objects whose reprs carry the raw URL.
            report.longrepr = str(own_error)
        if report.when == "call":
            results = self.results
            if results and results[-1].nodeid == item.nodeid and results[-1].reportable:
                item.user_properties.extend(junit_properties(results[-1]))
                if self.is_worker:  # pytest-xdist: send it home on the report
                    report.ttfb_result = results[-1].to_data()

    # -- pytest-xdist controller ----------------------------------------------------

    def collect_worker_report(self, report: pytest.TestReport) -> None:
        """On the controller: each test a worker ran, as its report brings it. (Only
        workers put results on reports, so a run without xdist counts nothing twice.)"""
        data = report.__dict__.get("ttfb_result")
        if data is not None:
            self.results.append(TestResult.from_data(data))

    # -- the end --------------------------------------------------------------------

    def terminal_summary(self, terminalreporter: Any) -> None:
        from .report.terminal import doctor_lines, summary_lines

        lines = summary_lines(self.results, self.settings)
        if lines:
            terminalreporter.write_sep("-", "pytest-ttfb")
            for line in lines:
                terminalreporter.write_line(line)
        doctor = doctor_lines(self.results)
        if doctor:
            terminalreporter.write_sep("-", "pytest-ttfb doctor: settings that defeat the recipe")
            for line in doctor:
                terminalreporter.write_line(line)

    def write_reports(self, session: pytest.Session) -> None:
        """The JSON report, written once by the process that saw every test."""
        path = self.settings.json_path
        if path is None or self.is_worker:  # a pytest-xdist worker: never clobber the file
            return
        from .report.json import write_json

        settings = self.settings
        try:
            write_json(
                path,
                self.results,
                mode=settings.mode,
                scale=settings.budget_scale,
                enforced=settings.enforce_budgets,
            )
        except OSError as exc:
            self.config.get_terminal_writer().line(
                f"pytest-ttfb: could not write the JSON report to {path}: {exc}", red=True
            )
            if session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
