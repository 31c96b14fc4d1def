"""Fixtures for pytest-ttfb's own tests: a real TLS + HTTP/2 server on loopback."""

from __future__ import annotations

import importlib
import pkgutil
import textwrap
from collections.abc import Iterator
from pathlib import Path

# Imported here, before any pytester run: pytester's in-process runs restore
# sys.modules afterwards, and a re-imported cryptography (under trustme) or httpx would
# no longer match the objects made from the first import.
import anthropic  # noqa: F401
import httpcore  # noqa: F401
import httpcore2  # noqa: F401
import httpx  # noqa: F401
import httpx2  # noqa: F401
import hypercorn.asyncio  # noqa: F401
import pytest
import respx  # noqa: F401
import trustme  # noqa: F401

import pytest_ttfb
from pytest_ttfb.modes.server import LocalServer

# pytest-ttfb's own modules too: the plugin imports most of them lazily, and one first
# imported inside a pytester run would be dropped after it and imported anew by the
# next, while the modules kept from before still hold the first copy's state (the
# emulated network a transport reads, say). Users' processes never unload modules.
for _module in pkgutil.walk_packages(pytest_ttfb.__path__, "pytest_ttfb."):
    importlib.import_module(_module.name)


@pytest.fixture
def local_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalServer]:
    """A fresh server per test, so its connection count is the test's alone. Its URL
    and CA file are exported for the pytester runs as TTFB_TEST_URL / TTFB_TEST_CA."""
    with LocalServer() as server:
        monkeypatch.setenv("TTFB_TEST_URL", server.url)
        monkeypatch.setenv("TTFB_TEST_CA", server.ca_file)
        yield server


@pytest.fixture
def http1_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalServer]:
    """The same server offering only HTTP/1.1 in ALPN."""
    with LocalServer(http2=False) as server:
        monkeypatch.setenv("TTFB_TEST_URL", server.url)
        monkeypatch.setenv("TTFB_TEST_CA", server.ca_file)
        yield server


_LOOP_SCOPE = "asyncio_default_fixture_loop_scope = function"


@pytest.fixture
def pytester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """pytester, whose runs always have an ini naming pytest-asyncio's loop scope, so
    that pytest-asyncio's "loop scope unset" warning about the scaffolding does not
    reach this run's own warning summary; and a wide terminal, so the summary table
    keeps every column (the tests of narrow terminals set COLUMNS themselves)."""
    monkeypatch.setenv("COLUMNS", "200")
    make_ini = pytester.makeini

    def makeini(source: str) -> Path:
        text = textwrap.dedent(source)
        if "asyncio_default_fixture_loop_scope" not in text:
            text = text.replace("[pytest]", f"[pytest]\n{_LOOP_SCOPE}", 1)
        return make_ini(text)

    pytester.makeini = makeini  # type: ignore[method-assign]
    makeini(f"[pytest]\n{_LOOP_SCOPE}\n")
    return pytester
