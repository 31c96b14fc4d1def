"""pytest --ttfb-probe: which base URL is fastest from here."""

import socket

import pytest

from pytest_ttfb.modes.server import LocalServer


def test_probe_on_the_emulated_network_recommends_the_near_region(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini("[pytest]\nttfb_regions = near-1:10 far-1:150\n")
    # A fresh process: this one's heap could stall a sample past the 80 ms line.
    result = pytester.runpytest_subprocess(
        "--ttfb-mode=emulate",
        "--ttfb-probe-samples=2",
        "--ttfb-probe",
        "https://far-1.api.test",
        "https://near-1.api.test",
    )
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            "pytest-ttfb probe: median of 2 sample(s), ms from the start of each request "
            "(curl -w: time_namelookup, time_connect, time_appconnect, time_starttransfer, "
            "time_total)",
            "url * dns * connect * tls * ttfb * total  http",
            "https://far-1.api.test  * cold * HTTP/2",
            "* warm * - * - * - * HTTP/2",
            "https://near-1.api.test * cold * HTTP/2",
            "* warm * HTTP/2",
            "fastest: https://near-1.api.test (warm TTFB * ms, cold * ms): pin it with "
            "ANTHROPIC_BASE_URL=https://near-1.api.test or --ttfb-base-url=*",
            "warning: TCP connect to https://far-1.api.test takes * ms (over 80 ms)*",
        ]
    )
    assert "near-1.api.test takes" not in result.stdout.str()
    assert "collected" not in result.stdout.str()  # no test session ran


def test_probe_against_a_real_server_reports_what_fails(
    pytester: pytest.Pytester, local_server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", local_server.ca_file)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"https://127.0.0.1:{s.getsockname()[1]}"
    result = pytester.runpytest(
        "--ttfb-probe-samples=3", "--ttfb-probe", f"{local_server.url}/ok", dead
    )
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            f"{local_server.url}/ok  cold * HTTP/2",
            f"{dead} * error: ConnectError*",
            f"fastest: {local_server.url}/ok *",
        ]
    )
    # 3 cold samples, one connection each; 1 more for the warm ones, which reuse it.
    assert len(local_server.connections) == 4
    assert local_server.requests == 3 + 1 + 3


def test_probe_with_nothing_reachable_exits_1(pytester: pytest.Pytester) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    result = pytester.runpytest("--ttfb-probe-samples=1", "--ttfb-probe", dead)
    assert result.ret == 1
    result.stdout.fnmatch_lines([f"{dead} * error: ConnectError*"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--ttfb-probe", "ftp://files.test"],
            "--ttfb-probe: 'ftp://files.test' is not an http:// or https:// URL",
        ),
        (
            ["--ttfb-probe-samples=0", "--ttfb-probe", "https://a.test"],
            "--ttfb-probe-samples: expected a whole number in [1, 1000], got 0",
        ),
    ],
)
def test_probe_usage_errors(pytester: pytest.Pytester, args: list[str], message: str) -> None:
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])
