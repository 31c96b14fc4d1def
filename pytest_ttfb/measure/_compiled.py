"""_compiled: the package's optional compiled modules, or their Python twins' turn."""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable
from types import ModuleType

__all__ = ["compiled"]


def compiled(name: str, names: Iterable[str]) -> ModuleType | None:
    """``pytest_ttfb.measure.<name>`` where a C compiler built it at install time, else
    None, and the Python twins run: when it was not built, when a checkout's build is
    stale (it lacks one of ``names``), or when PYTEST_TTFB_NO_EXTENSIONS is set to
    anything but empty, "0" included (as aio-libs read their *_NO_EXTENSIONS:
    ``bool(os.environ.get(...))``)."""
    if os.environ.get("PYTEST_TTFB_NO_EXTENSIONS"):
        return None
    try:
        module = importlib.import_module(f"{__package__}.{name}")
    except ImportError:  # installed without a compiler
        return None
    return module if all(hasattr(module, each) for each in names) else None
