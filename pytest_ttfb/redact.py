"""redact: URLs as every report shows them, with nothing secret left in them.

The rule (``redact_url``):

- user info (``user:password@``) is dropped, and so is the fragment (``#...``);
- a query parameter's value becomes ``***`` when its name is secret-looking: split
  into words at every character that is not a letter or digit and where a lowercase
  letter meets an uppercase one (``X-Amz-Credential`` → x, amz, credential;
  ``apiKey`` → api, key), compared case-insensitively, one word is, or ends with, one
  of ``SECRET_WORDS`` (so ``apikey``, ``access_token``, ``oauth``, ``sessionid`` are
  caught, and ``author``, ``keyword``, ``model``, ``page`` stay readable);
- a URL that cannot be parsed still loses its user info, fragment and secret values.
"""

from __future__ import annotations

import functools
import re
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit

__all__ = ["SECRET_WORDS", "is_secret_name", "redact_url", "scrub"]

SECRET_WORDS = (
    "key",
    "token",
    "secret",
    "password",
    "passwd",
    "pwd",
    "pass",
    "signature",
    "sig",
    "auth",
    "authorization",
    "credential",
    "credentials",
    "session",
    "sessionid",
    "sid",
    "jwt",
    "assertion",
    "code",
    "otp",
)
_SECRET_WORDS = frozenset(SECRET_WORDS)
_WORD = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z0-9]+(?![a-z])")


@functools.lru_cache(maxsize=256)
def is_secret_name(name: str) -> bool:
    """Whether a query parameter named ``name`` carries a secret (see the module)."""
    for word in _WORD.findall(name):
        word = word.lower()
        if word in _SECRET_WORDS or word.endswith(SECRET_WORDS):
            return True
    return False


def _mask_query(query: str) -> str:
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode([(k, "***" if is_secret_name(k) else v) for k, v in pairs], safe="*")


def _fallback(url: str) -> str:
    """What can be kept of a URL ``urlsplit`` rejects (``http://[::1``): no user info,
    no fragment, no secret values."""
    url = url.split("#", 1)[0]
    url = re.sub(r"(?<=//)[^/?@]*@", "", url)
    base, mark, query = url.partition("?")
    return base + mark + _mask_query(query) if mark else base


@functools.lru_cache(maxsize=1024)  # a suite calls few URLs, many times: parse each once
def redact_url(url: str) -> str:
    """Return ``url`` without user info and fragment, secret query values masked."""
    try:
        parts = urlsplit(url)
        port = parts.port  # ValueError when out of range or not a number
    except ValueError:
        return _fallback(url)
    netloc = parts.hostname or ""
    if ":" in netloc:  # IPv6 literal
        netloc = f"[{netloc}]"
    if port is not None:
        netloc = f"{netloc}:{port}"
    query = _mask_query(parts.query) if parts.query else ""
    return SplitResult(parts.scheme, netloc, parts.path, query, "").geturl()


def _secrets_in(url: str) -> list[str]:
    """The secret parts of ``url``: its user info and its secret query values."""
    head = url.split("#", 1)[0]
    found = []
    match = re.search(r"//([^/?@]*)@", head)
    if match:
        found += [part for part in re.split(r"[:]", match.group(1)) if part]
    _, mark, query = head.partition("?")
    if mark:
        for name, value in parse_qsl(query, keep_blank_values=True):
            if value and is_secret_name(name):
                found += [value, urlencode({"": value})[1:]]
    # Shorter than 4 characters is no secret, and masking it would mangle the text.
    return sorted({part for part in found if len(part) >= 4}, key=len, reverse=True)


def scrub(text: str, url: str) -> str:
    """``text`` (an error message, say) with ``url`` redacted wherever it appears, and
    any secret part of it (user info, secret query values) masked on its own."""
    text = text.replace(url, redact_url(url))
    for secret in _secrets_in(url):
        text = text.replace(secret, "***")
    return text
