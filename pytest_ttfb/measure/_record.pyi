from typing import Any

def bind(
    flight: type,
    connection: type,
    record: type,
    methods: dict[str, str],
    versions: dict[bytes, str],
    /,
) -> None: ...
def build(flight: Any, clock_offset: float, /) -> Any: ...
