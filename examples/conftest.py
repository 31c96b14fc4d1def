"""The example suite's shared setup: what a project adopting pytest-ttfb writes.

In mock mode (the default) the Anthropic route answers in-process; giving it a server
latency makes the budgets below mean something offline. In live mode the same tests
go to the real API (and are skipped without ANTHROPIC_API_KEY).
"""

import pytest

# What the API's own processing costs before the first byte, as the mock plays it.
SERVER_LATENCY_MS = 120


@pytest.fixture(autouse=True)
def realistic_latency(ttfb_mock):
    ttfb_mock.messages(latency=SERVER_LATENCY_MS)
    return ttfb_mock
