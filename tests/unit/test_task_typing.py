"""``JobContext[StateT]`` as a type checker sees it: mypy --strict on a module of task code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
ROOT = next(p for p in HERE.parents if (p / "pyproject.toml").exists())


def test_a_task_reads_its_app_state_typed_without_a_cast() -> None:
    # Strict mode also fails on every "type: ignore" in that module that hides no error, so
    # the errors it expects (a missing attribute, a wrong state type) must still be reported.
    result = subprocess.run(
        [sys.executable, "-m", "mypy", str(HERE / "typecheck_task_context.py")],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
