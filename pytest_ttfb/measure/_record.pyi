from collections.abc import Callable
from typing import Any

def bind(
    flight: type,
    connection: type,
    record: type,
    methods: dict[str, str],
    versions: dict[bytes, str],
    url_texts: dict[Any, str],
    url_text: Callable[[Any], str],
    attempt: Callable[[Any], int | None],
    clock: Callable[[], float],
    /,
) -> None: ...
def new_flight(request: Any, pool: Any, when: str, /) -> Any: ...
def build(flight: Any, clock_offset: float, /) -> Any: ...
def write_stamper(
    current: Any, write: Callable[..., Any], connection: Any, /
) -> Callable[..., Any]: ...
def first_chunk(flight: Any, chunk: bytes, /) -> Any: ...
