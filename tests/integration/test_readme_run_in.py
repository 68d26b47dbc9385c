"""The README's "Blocking and CPU-bound work" example registers and runs as printed.

The fenced block after ``<!-- example: run-in -->`` is one module.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
import sys
from pathlib import Path

from service.jobs import TaskRegistry
from service.jobs.testing import run_task

ROOT = next(p for p in Path(__file__).parents if (p / "pyproject.toml").exists())
MARKER = "<!-- example: run-in -->"


def example_source() -> str:
    text = (ROOT / "README.md").read_text()
    [block] = re.findall(re.escape(MARKER) + r"\n```python\n(.*?)\n```", text, re.DOTALL)
    return str(block) + "\n"


async def test_the_readme_process_task_registers_and_returns_the_digest(tmp_path: Path) -> None:
    path = tmp_path / "readme_run_in.py"
    path.write_text(example_source())
    spec = importlib.util.spec_from_file_location("readme_run_in", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # attrs, cattrs and the registry look classes up by module
    try:
        spec.loader.exec_module(module)
        assert TaskRegistry([module.Fingerprint]).names() == ["fingerprint"]
        assert module.Fingerprint.options.run_in == "process"
        data = tmp_path / "photo.bin"
        data.write_bytes(b"\x89PNG" * 1000)
        result = await run_task(module.Fingerprint(path=str(data)))
    finally:
        del sys.modules[spec.name]
    assert result.outcome == "completed", result.error
    assert result.value == {"sha256": hashlib.sha256(data.read_bytes()).hexdigest()}
