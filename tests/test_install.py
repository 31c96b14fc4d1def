"""The plugin as pip installs it: entry point, options, markers, opting out."""

import pytest

from pytest_ttfb.settings import OPTIONS


def test_help_lists_every_option_in_the_ttfb_group(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    text = result.stdout.str()
    group = text[text.index("pytest-ttfb: HTTP latency budgets:") :]
    design = {
        "--ttfb-mode",
        "--ttfb-live",
        "--ttfb-rtt",
        "--ttfb-base-url",
        "--ttfb-json",
        "--ttfb-budget-scale",
        "--ttfb-no-budgets",
    }
    assert design <= {option.flag for option in OPTIONS}
    for option in OPTIONS:
        assert option.flag in group, option.flag
    for ini in (
        "ttfb_mode",
        "ttfb_max_connections",
        "ttfb_keepalive_expiry",
        "ttfb_http2",
        "ttfb_regions",
    ):
        assert f"{ini} (" in text, ini


def test_markers_lists_the_five_budgets(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    for name in ("max_ttfb", "max_first_token", "max_connect", "max_total", "max_new_connections"):
        result.stdout.fnmatch_lines([f"@pytest.mark.{name}: {name}(*): *"])


def test_entry_point_named_ttfb_can_be_turned_off(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        def test_uses_plugin(ttfb):
            assert ttfb.requests == []
    """)
    assert pytester.runpytest().ret == 0
    result = pytester.runpytest("-p", "no:ttfb")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'ttfb' not found*"])


def test_package_ships_type_information() -> None:
    import importlib.resources

    assert importlib.resources.files("pytest_ttfb").joinpath("py.typed").is_file()
