"""Code that builds its own clients: watch them and the same budgets apply."""

import os

import anthropic
import httpx
import httpx2
import pytest


@pytest.fixture
def inventory_api(ttfb_mock):
    if ttfb_mock.mode == "live":
        pytest.skip("inventory.example exists only as a ttfb_mock route (mock and emulate modes)")
    ttfb_mock.get("https://inventory.example/items", latency=40).respond(
        200, json={"items": ["a", "b"]}
    )
    return "https://inventory.example"


@pytest.mark.max_ttfb(400)
def test_httpx_028_code_path(ttfb, inventory_api):
    with ttfb.watch(httpx.Client(base_url=inventory_api)) as client:
        assert client.get("/items").json() == {"items": ["a", "b"]}
    (request,) = ttfb.requests
    assert request.status == 200


@pytest.fixture
def api_key(ttfb_mock):
    if ttfb_mock.mode != "live":
        return "placeholder"  # mock and emulate modes never send it anywhere
    key = os.environ.get("ANTHROPIC_API_KEY")
    if not key:
        pytest.skip("ANTHROPIC_API_KEY is not set: live mode would call the real API")
    return key


# The SDK's own stack: anthropic 0.x runs on httpx, 1.x and later on httpx2.
SDK_HTTP = httpx if anthropic.__version__.startswith("0.") else httpx2


@pytest.mark.max_ttfb(1000)
def test_an_sdk_client_built_by_the_application(ttfb, api_key):
    # The application's own client, with the recipe's pool: watch() it, don't replace it.
    client = ttfb.watch(
        anthropic.Anthropic(
            api_key=api_key,
            http_client=SDK_HTTP.Client(
                http2=True,
                limits=SDK_HTTP.Limits(
                    max_connections=20, max_keepalive_connections=20, keepalive_expiry=60
                ),
                timeout=SDK_HTTP.Timeout(connect=5, read=120, write=10, pool=10),
            ),
        )
    )
    client.messages.create(
        model="claude-sonnet-5-5", max_tokens=16, messages=[{"role": "user", "content": "hi"}]
    )
    assert ttfb.requests[0].url.endswith("/v1/messages")
