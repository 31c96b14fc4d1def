"""The example suite in every mode: each example passes, or skips with its reason;
and live mode's summary and skip reasons say where the Anthropic calls would go."""

import shutil
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture
def examples(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    for source in EXAMPLES.glob("*.py"):
        shutil.copy(source, pytester.path / source.name)
    return pytester


@pytest.mark.parametrize("mode", [(), ("--ttfb-mode=emulate",), ("--ttfb-live",)])
def test_every_example_passes_or_skips_with_a_reason(
    examples: pytest.Pytester, mode: tuple[str, ...]
) -> None:
    collected = len(list(EXAMPLES.glob("test_*.py")))
    assert collected >= 2
    result = examples.runpytest_subprocess("-rs", "-p", "no:cacheprovider", *mode)
    outcomes = result.parseoutcomes()
    assert result.ret == pytest.ExitCode.OK
    assert set(outcomes) <= {"passed", "skipped", "warnings"}
    total = outcomes.get("passed", 0) + outcomes.get("skipped", 0)
    assert total == 7
    skipped_lines = [line for line in result.outlines if line.startswith("SKIPPED")]
    assert len(skipped_lines) == outcomes.get("skipped", 0)
    for line in skipped_lines:
        reason = line.split(": ", 1)[1]
        assert len(reason) > 20, line  # a reason a person can act on
    if mode == ("--ttfb-live",):
        # No key, no network: every example skips before sending anything.
        assert outcomes == {"skipped": 7, **{k: v for k, v in outcomes.items() if k == "warnings"}}
        assert "inventory.example exists only as a ttfb_mock route" in result.stdout.str()


def test_live_skip_reason_names_the_base_url_redacted(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "https://user:hunter2@proxy.test:8443/?key=SECRETQ")
    pytester.makepyfile("""
        def test_sdk(anthropic_client):
            pass
    """)
    result = pytester.runpytest("--ttfb-live", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(
        [
            "SKIPPED *ANTHROPIC_API_KEY is not set: live mode sends real requests to "
            "https://proxy.test:8443/?key=*** and needs a key"
        ]
    )
    assert "SECRETQ" not in result.stdout.str()
    assert "hunter2" not in result.stdout.str()


def test_live_base_url_line_only_when_a_test_used_the_anthropic_fixtures(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test-not-sent")
    pytester.makepyfile("""
        import pytest

        @pytest.mark.max_ttfb(100)
        def test_own_client(ttfb):
            pass  # records nothing: the budget fails, the row is listed
    """)
    result = pytester.runpytest("--ttfb-live")
    assert "- pytest-ttfb -" in result.stdout.str()
    assert "base URL" not in result.stdout.str()
