"""Redaction: no secret of a URL reaches any output (records, summary, probe)."""

from __future__ import annotations

import socket

import pytest

from pytest_ttfb.modes.server import LocalServer
from pytest_ttfb.redact import is_secret_name, redact_url, scrub

SECRET_NAMES = [
    "key",
    "api_key",
    "apikey",
    "api-key",
    "apiKey",
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "secret",
    "client_secret",
    "password",
    "passwd",
    "pwd",
    "signature",
    "sig",
    "auth",
    "oauth",
    "authorization",
    "code",
    "session",
    "sessionid",
    "jwt",
    "assertion",
    "credential",
    "X-Amz-Credential",
    "X-Amz-Signature",
    "X-Amz-Security-Token",
    "X-Goog-Signature",
    "Key-Pair-Id",
]

PLAIN_NAMES = ["q", "page", "model", "limit", "author", "keyword", "region", "X-Amz-Date", "sort"]


@pytest.mark.parametrize("name", SECRET_NAMES)
@pytest.mark.parametrize("case", [str.lower, str.upper, str])
def test_secret_query_values_are_masked_in_any_case(name: str, case: object) -> None:
    assert callable(case)
    shown = case(name)
    url = f"https://api.test/v1?page=2&{shown}=hunter2value&model=m"
    assert is_secret_name(shown)
    redacted = redact_url(url)
    assert "hunter2value" not in redacted
    assert redacted == f"https://api.test/v1?page=2&{shown}=***&model=m"


@pytest.mark.parametrize("name", PLAIN_NAMES)
def test_other_query_values_stay_readable(name: str) -> None:
    assert not is_secret_name(name)
    assert (
        redact_url(f"https://api.test/v1?{name}=visible") == f"https://api.test/v1?{name}=visible"
    )


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:pass@host.test/p", "https://host.test/p"),
        ("https://token@host.test:8443/p?q=1", "https://host.test:8443/p?q=1"),
        ("https://host.test/p#access_token=abc", "https://host.test/p"),
        ("http://[::1]:8080/p?key=k", "http://[::1]:8080/p?key=***"),
        ("http://user:pw@[2001:db8::1]/p", "http://[2001:db8::1]/p"),
        # urlsplit refuses these; their secrets go all the same.
        ("http://user:pw@[::1/p?key=k#frag", "http://[::1/p?key=***"),
        ("http://user:pw@host.test:99999/?token=t", "http://host.test:99999/?token=***"),
    ],
)
def test_user_info_fragments_and_odd_hosts(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_scrub_masks_the_url_and_its_secrets_in_free_text() -> None:
    url = "https://alice:pa55word@h.test/?key=a%2Fb-secret&q=1"
    text = f"failed {url}; password pa55word; key a/b-secret"
    scrubbed = scrub(text, url)
    assert "pa55word" not in scrubbed
    assert "a/b-secret" not in scrubbed
    assert "a%2Fb-secret" not in scrubbed
    assert "https://h.test/?key=***&q=1" in scrubbed


def test_live_summary_redacts_the_base_url_and_still_finds_its_connect_cost(
    pytester: pytest.Pytester, local_server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-api03-SECRETSECRET")
    monkeypatch.setenv("SSL_CERT_FILE", local_server.ca_file)  # the pooled client trusts it
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    host = local_server.url.removeprefix("https://")
    base = f"https://user:secretpw@{host}/?key=abc123xyz"
    pytester.makepyfile("""
        import anthropic
        import pytest

        def test_call(anthropic_client, ttfb):
            # The SDK appends its path after the base URL's query: the server says 404,
            # but the connection was opened, and that is what the summary reports.
            with pytest.raises(anthropic.NotFoundError):
                anthropic_client.messages.create(
                    model="m", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
                )
            assert ttfb.new_connections == 1
    """)
    result = pytester.runpytest("--ttfb-mode=live", f"--ttfb-base-url={base}")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            f"base URL https://{host}/?key=[*][*][*]: connect p50 * ms, max * ms "
            "over 1 new connection(s)"
        ]
    )
    output = result.stdout.str() + result.stderr.str()
    assert "secretpw" not in output
    assert "abc123xyz" not in output
    assert len(local_server.connections) == 1


def test_probe_prints_no_secret_of_its_urls(
    pytester: pytest.Pytester, local_server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", local_server.ca_file)
    host = local_server.url.removeprefix("https://")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"https://user:deadpass1@127.0.0.1:{s.getsockname()[1]}/?token=deadtok1"
    live = f"https://user:livepass1@{host}/ok?api_key=livekey1&x=1"
    result = pytester.runpytest("--ttfb-probe-samples=1", "--ttfb-probe", live, dead)
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            f"https://{host}/ok?api_key=[*][*][*]&x=1  cold * HTTP/2",
            "https://127.0.0.1:*/?token=[*][*][*] * error: ConnectError*",
            f"fastest: https://{host}/ok?api_key=[*][*][*]&x=1 *",
        ]
    )
    output = result.stdout.str() + result.stderr.str()
    for secret in ("deadpass1", "deadtok1", "livepass1", "livekey1"):
        assert secret not in output


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://[::1", "--ttfb-probe: 'http://[::1' is not a URL: Invalid IPv6 URL"),
        (
            "http://user:pw@[::1/?key=probekey",
            "--ttfb-probe: 'http://[::1/?key=***' is not a URL: Invalid IPv6 URL",
        ),
        (
            "https://user:pw@host.test:99999/?sig=probesig",
            "--ttfb-probe: 'https://host.test:99999/?sig=***' is not a URL: "
            "Port out of range 0-65535",
        ),
        (
            "ftp://user:pw@files.test/?key=probekey",
            "--ttfb-probe: 'ftp://files.test/?key=***' is not an http:// or https:// URL",
        ),
    ],
)
def test_probe_bad_urls_are_usage_errors_naming_the_url_redacted(
    pytester: pytest.Pytester, url: str, message: str
) -> None:
    result = pytester.runpytest("--ttfb-probe", url)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = result.stderr.str()
    assert f"ERROR: {message}" in errors, errors
    assert "Traceback" not in errors + result.stdout.str()
    for secret in ("probekey", "probesig", ":pw@"):
        assert secret not in errors
