"""network: where instrumented clients open new connections.

Nothing (the real network) unless emulate mode has put its emulated network here for
the session; read only when a connection is opened, never per request.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import ssl

__all__ = ["Network", "emulation", "resolve", "resolve_async", "use_network"]


class Network(Protocol):
    """Where instrumented clients connect instead, in emulate mode."""

    def address_for(self, host: str) -> tuple[str, int, float]:
        """``(host, port, rtt in seconds)`` to connect to instead of ``host``; any
        preparation it does counts within the connect's round trip."""
        ...

    def trust(self, context: ssl.SSLContext) -> None:
        """Make ``context`` trust the emulated server's certificates."""
        ...

    def raised(self, response: Any) -> BaseException | None:
        """The exception the emulated server's route raised for ``response``'s
        request, which the transport raises to the caller instead of the response."""
        ...


class _Emulation:
    __slots__ = ("network",)

    def __init__(self) -> None:
        self.network: Network | None = None


emulation = _Emulation()


def use_network(network: Network | None) -> None:
    """Send every new connection of every instrumented client through ``network``
    (``None``: back to the real network)."""
    emulation.network = network


def resolve(host: str, port: int) -> list[str]:
    """The addresses of ``host``, in the resolver's order, without repeats."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def resolve_async(host: str, port: int) -> list[str]:
    """``resolve`` without blocking the event loop (anyio: asyncio and trio alike)."""
    import anyio

    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))
