"""redact: URLs as every report shows them, with nothing secret left in them."""

from __future__ import annotations

import functools
import re
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit

__all__ = ["redact_url"]

_SECRET_QUERY_KEY = re.compile(r"(?i)(key|token|secret|password|passwd|signature|sig|auth)")


@functools.lru_cache(maxsize=1024)  # a suite calls few URLs, many times: parse each once
def redact_url(url: str) -> str:
    """Return ``url`` without user info and with secret-looking query values masked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    netloc = parts.hostname or ""
    if ":" in netloc:  # IPv6 literal
        netloc = f"[{netloc}]"
    if parts.port is not None:
        netloc = f"{netloc}:{parts.port}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [(k, "***" if _SECRET_QUERY_KEY.search(k) else v) for k, v in pairs], safe="*"
        )
    return SplitResult(parts.scheme, netloc, parts.path, query, "").geturl()
