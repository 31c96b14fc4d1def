"""Fixtures for pytest-ttfb's own tests: a real TLS + HTTP/2 server on loopback."""

from __future__ import annotations

from collections.abc import Iterator

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

import pytest_ttfb.modes.mock  # noqa: F401
from pytest_ttfb.modes.server import LocalServer


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
