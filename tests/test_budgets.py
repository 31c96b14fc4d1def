"""Budget markers, judged when the call phase ends, in mock mode (route latencies).

Every breach below comes from a server delay at least ten times the budget, and
every pass from a budget at least ten times the delay: no wall-clock flakiness.
"""

import pytest

SLOW_ROUTE = """
import pytest

@pytest.fixture
def slow(ttfb_mock):
    ttfb_mock.get("https://api.test/slow", latency=300).respond(200, json={"ok": True})
    ttfb_mock.get("https://api.test/fast").respond(200, json={"ok": True})
    return ttfb_mock
"""


@pytest.fixture
def conftest(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(SLOW_ROUTE)
    return pytester


@pytest.mark.parametrize(
    ("marker", "path", "passes"),
    [
        ("max_ttfb(3000)", "slow", True),
        ("max_ttfb(30)", "slow", False),
        ("max_total(3000)", "slow", True),
        ("max_total(30)", "slow", False),
    ],
)
def test_time_budget_passes_and_fails(
    conftest: pytest.Pytester, marker: str, path: str, passes: bool
) -> None:
    conftest.makepyfile(f"""
        import pytest

        @pytest.mark.{marker}
        def test_call(slow, ttfb_client):
            assert ttfb_client.get("https://api.test/{path}").status_code == 200
    """)
    result = conftest.runpytest()
    if passes:
        result.assert_outcomes(passed=1)
    else:
        result.assert_outcomes(failed=1)
        name = marker.split("(")[0]
        result.stdout.fnmatch_lines(
            [
                f"*pytest-ttfb: {name}(30 ms) breached*",
                "*#1 GET https://api.test/slow*mocked: no connection*",
                "*wait for first byte*|*#*|*ms",
            ]
        )


def test_breach_is_a_failure_of_the_call_not_an_error(conftest: pytest.Pytester) -> None:
    conftest.makepyfile("""
        import pytest

        @pytest.mark.max_ttfb(30)
        def test_call(slow, ttfb_client):
            ttfb_client.get("https://api.test/slow")
    """)
    result = conftest.runpytest()
    result.assert_outcomes(failed=1, errors=0)
    result.stdout.fnmatch_lines(["*_ test_call _*", "pytest-ttfb: max_ttfb(30 ms) breached"])


def test_percentile_judges_the_nearest_rank(conftest: pytest.Pytester) -> None:
    conftest.makepyfile("""
        import pytest

        def calls(client):
            client.get("https://api.test/slow")
            for _ in range(9):
                client.get("https://api.test/fast")

        @pytest.mark.max_ttfb(30, percentile=90)
        def test_p90_ignores_one_slow_call_in_ten(slow, ttfb_client):
            calls(ttfb_client)

        @pytest.mark.max_ttfb(30, percentile=95)
        def test_p95_sees_it(slow, ttfb_client):
            calls(ttfb_client)

        @pytest.mark.max_ttfb(30)
        def test_every_call_sees_it(slow, ttfb_client):
            calls(ttfb_client)
    """)
    result = conftest.runpytest()
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*max_ttfb(30 ms, p95): p95 of 10: * ms > 30 ms (1 of 10 request(s) over budget)*",
        ]
    )


def test_first_token_budget_on_a_stream(conftest: pytest.Pytester) -> None:
    conftest.makepyfile("""
        import pytest

        def stream(client):
            with client.messages.stream(model="claude-test", max_tokens=5,
                                        messages=[{"role": "user", "content": "hi"}]) as s:
                return "".join(s.text_stream)

        @pytest.mark.max_first_token(3000)
        def test_fast_enough(anthropic_client, ttfb_mock, ttfb):
            ttfb_mock.messages(latency=30)
            assert stream(anthropic_client) == "Hello from pytest-ttfb."
            (record,) = ttfb.requests
            assert record.ttfb_ms <= record.first_token_ms <= record.total_ms

        @pytest.mark.max_first_token(3)
        def test_too_slow(anthropic_client, ttfb_mock):
            ttfb_mock.messages(latency=30)
            stream(anthropic_client)

        @pytest.mark.max_first_token(3000)
        def test_no_stream_to_judge(anthropic_client):
            anthropic_client.messages.create(model="claude-test", max_tokens=5,
                                             messages=[{"role": "user", "content": "hi"}])
    """)
    result = conftest.runpytest()
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*max_first_token(3 ms): max of 1: * ms > 3 ms*",
            "*max_first_token(3000 ms): no request streamed a first token*",
        ]
    )


def test_a_budget_on_a_test_without_requests_fails_saying_so(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest

        @pytest.mark.max_ttfb(100)
        def test_nothing_sent(ttfb):
            pass
    """)
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*no request was recorded in the test*"])


def test_connection_budgets_are_not_applicable_in_mock_mode(conftest: pytest.Pytester) -> None:
    conftest.makepyfile("""
        import pytest

        @pytest.mark.max_new_connections(0)
        @pytest.mark.max_connect(1)
        def test_call(slow, ttfb_client):
            ttfb_client.get("https://api.test/fast")
    """)
    result = conftest.runpytest()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*test_call*max_connect(1 ms); max_new_connections(0)*n/a"])


def test_budget_scale_multiplies_time_budgets(conftest: pytest.Pytester) -> None:
    conftest.makepyfile("""
        import pytest

        @pytest.mark.max_ttfb(30)
        def test_call(slow, ttfb_client):
            ttfb_client.get("https://api.test/slow")
    """)
    conftest.runpytest().assert_outcomes(failed=1)
    scaled = conftest.runpytest("--ttfb-budget-scale=100")
    scaled.assert_outcomes(passed=1)
    scaled.stdout.fnmatch_lines(["*max_ttfb(3000 ms)*pass"])


def test_no_budgets_records_and_reports_without_failing(conftest: pytest.Pytester) -> None:
    conftest.makepyfile("""
        import pytest

        @pytest.mark.max_ttfb(30)
        def test_call(slow, ttfb_client):
            ttfb_client.get("https://api.test/slow")
    """)
    result = conftest.runpytest("--ttfb-no-budgets")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*test_call*max_ttfb(30 ms)*over (not enforced)"])


def test_function_mark_overrides_class_mark_of_the_same_kind(conftest: pytest.Pytester) -> None:
    conftest.makepyfile("""
        import pytest

        @pytest.mark.max_ttfb(30)
        class TestSlowEndpoint:
            @pytest.mark.max_ttfb(3000)
            def test_loosened(self, slow, ttfb_client):
                ttfb_client.get("https://api.test/slow")

            def test_inherits(self, slow, ttfb_client):
                ttfb_client.get("https://api.test/slow")
    """)
    result = conftest.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["FAILED *test_inherits*"])


def test_setup_requests_are_recorded_but_not_judged(conftest: pytest.Pytester) -> None:
    conftest.makepyfile("""
        import pytest

        @pytest.fixture
        def warmed(slow, ttfb_client):
            ttfb_client.get("https://api.test/slow")
            return ttfb_client

        @pytest.mark.max_ttfb(30)
        def test_call(warmed, ttfb):
            warmed.get("https://api.test/fast")
            assert [r.when for r in ttfb.requests] == ["setup", "call"]
    """)
    conftest.runpytest().assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("marker", "complaint"),
    [
        ("max_ttfb(-5)", "ms must be a number of milliseconds in (0, 86400000], got -5"),
        ("max_ttfb('fast')", "ms must be a number of milliseconds in (0, 86400000], got 'fast'"),
        ("max_ttfb()", "takes exactly one ms argument, got 0"),
        ("max_ttfb(100, percentile=150)", "percentile must be a number in (0, 100], got 150"),
        ("max_total(100, warm='yes')", "warm must be True or False, got 'yes'"),
        (
            "max_first_token(100, pct=95)",
            "unknown keyword pct "
            "(accepts cold, emulate, live, mock, percentile, rule, warm, warmup)",
        ),
        (
            "max_connect(100, warm=True)",
            "unknown keyword warm (accepts emulate, live, mock, percentile, warmup)",
        ),
        ("max_new_connections(1.5)", "n must be a whole number in [0, 1000000], got 1.5"),
        ("max_new_connections(True)", "n must be a whole number in [0, 1000000], got True"),
        # the stream, call and mode keywords
        ("max_itl('fast')", "ms must be a number of milliseconds in (0, 86400000], got 'fast'"),
        ("max_tpot('5 minutes')", "ms must be a number of milliseconds"),
        ("max_ttfb(100, live='soon')", "live must be a number of milliseconds"),
        ("max_call(100, percentile=0)", "percentile must be a number in (0, 100], got 0"),
        ("max_retries(-1)", "n must be a whole number in [0, 1000000], got -1"),
        ("max_retries(1, percentile=50)", "unknown keyword percentile"),
        ("min_tokens_per_s(0)", "n must be a number of tokens per second in (0, 1000000000]"),
        ("max_ttfb(100, warm=True, cold=True)", "warm=True and cold=True exclude each other"),
        ("max_ttfb(100, cold=1)", "cold must be True or False, got 1"),
        ("max_total(100, warmup=-1)", "warmup must be a whole number of requests"),
        ("max_total(100, warmup=1.5)", "warmup must be a whole number of requests"),
        ("max_first_token(100, rule='nope')", "rule must be one of auto, delta, visible"),
        ("max_ttfb(100, rule='delta')", "unknown keyword rule"),
    ],
)
def test_bad_marker_arguments_are_a_usage_error_naming_the_test(
    pytester: pytest.Pytester, marker: str, complaint: str
) -> None:
    pytester.makepyfile(f"""
        import pytest

        def test_fine():
            pass

        @pytest.mark.{marker}
        def test_broken():
            pass
    """)
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    name = marker.split("(")[0]
    result.stderr.fnmatch_lines(
        [
            "*pytest-ttfb: invalid budget marker*",
            f"*test_bad_marker_arguments_are_a_usage_error_naming_the_test.py::test_broken: "
            f"@pytest.mark.{name}: {complaint.replace('[', '[[]')}*",
        ]
    )
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()


def test_a_test_that_skips_itself_is_not_judged(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest

        @pytest.mark.max_ttfb(100)
        def test_skips(ttfb):
            pytest.skip("not today")
    """)
    result = pytester.runpytest("-rs")
    result.assert_outcomes(skipped=1)
    assert "no request was recorded" not in result.stdout.str()
    result.stdout.fnmatch_lines(["*::test_skips * max_ttfb(100 ms) * skipped"])
