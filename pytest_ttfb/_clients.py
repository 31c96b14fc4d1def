"""clients: the pooled, instrumented clients the session fixtures hand out.

The recipe: one shared client, ``Limits(max_connections=20,
max_keepalive_connections=20, keepalive_expiry=60)``, ``http2=True``,
``Timeout(connect=5, read=120, write=10, pool=10)``; each overridable by an ini key.
"""

from __future__ import annotations

from typing import Any

from ._measure import guard_event_loop, instrument
from ._settings import PoolConfig

__all__ = ["pooled_client"]


def pooled_client(
    module: Any, config: PoolConfig, *, asynchronous: bool = False, name: str = "client"
) -> Any:
    """An instrumented ``Client`` (or ``AsyncClient``) of ``module`` (httpx or httpx2).
    An async one refuses to run on a second event loop (it is shared by the session)."""
    limits = module.Limits(
        max_connections=config.max_connections,
        max_keepalive_connections=config.max_keepalive_connections,
        keepalive_expiry=config.keepalive_expiry,
    )
    timeout = module.Timeout(
        connect=config.connect_timeout,
        read=config.read_timeout,
        write=config.write_timeout,
        pool=config.pool_timeout,
    )
    client_class = module.AsyncClient if asynchronous else module.Client
    client = instrument(client_class(limits=limits, timeout=timeout, http2=config.http2))
    if asynchronous:
        guard_event_loop(client, name)
    return client
