"""options: what an SDK client is built with in each mode, for every provider alike."""

from __future__ import annotations

from typing import Any

__all__ = ["MOCK_API_KEY", "sdk_client_options"]

MOCK_API_KEY = "ttfb-mock-key"


def sdk_client_options(
    mode: str,
    base_url: str | None,
    environ: dict[str, str],
    *,
    key_variable: str,
    api_name: str,
) -> tuple[dict[str, Any], str | None]:
    """Keyword arguments for an SDK client in ``mode``, or a reason to skip.

    Mock and emulate modes never send the user's key anywhere, not even to the local
    server: they use a placeholder. Live mode needs the key in ``key_variable``; the
    reason to skip without it names where the requests would go (``base_url``,
    redacted, else ``api_name``).
    """
    options: dict[str, Any] = {}
    if base_url:
        options["base_url"] = base_url
    if mode != "live":
        options["api_key"] = MOCK_API_KEY
        return options, None
    key = environ.get(key_variable)
    if not key:
        from ..redact import redact_url

        where = redact_url(base_url) if base_url else api_name
        return options, (
            f"{key_variable} is not set: live mode sends real requests to {where} and needs a key"
        )
    options["api_key"] = key
    return options, None
