"""``python -m support.run_service`` in an interpreter where OpenTelemetry cannot be imported,
as on an install without the ``otel`` extra: any ``import opentelemetry...`` fails."""

from __future__ import annotations

import importlib.abc
import runpy
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence
    from importlib.machinery import ModuleSpec
    from types import ModuleType


class BlockOpenTelemetry(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        if fullname == "opentelemetry" or fullname.startswith("opentelemetry."):
            raise ModuleNotFoundError(f"No module named {fullname!r} (blocked)", name=fullname)
        return None


sys.meta_path.insert(0, BlockOpenTelemetry())
runpy.run_module("support.run_service", run_name="__main__", alter_sys=True)
