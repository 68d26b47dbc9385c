"""A child function in a module that imports nothing but the standard library.

The memory scenario measures what a bare interpreter, and one that imports only trio or only
the engine, costs; the child must not drag the harness's own imports in.
"""

from __future__ import annotations

import importlib
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable


def child_import(args: dict[str, Any], ready: Callable[..., None]) -> dict[str, Any]:
    """Import ``modules`` (none: a bare interpreter) and stay a moment so psutil sees it."""
    for name in args["modules"]:
        importlib.import_module(name)
    time.sleep(0.3)
    return {}
