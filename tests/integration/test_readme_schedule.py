"""The README's schedule example runs as printed: its MockClock test passes, mypy-strict clean.

The fenced block after ``<!-- example: schedule -->`` is one module.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import trio
from trio.testing import MockClock

ROOT = next(p for p in Path(__file__).parents if (p / "pyproject.toml").exists())
MARKER = "<!-- example: schedule -->"


def example_source() -> str:
    text = (ROOT / "README.md").read_text()
    [block] = re.findall(re.escape(MARKER) + r"\n```python\n(.*?)\n```", text, re.DOTALL)
    return str(block) + "\n"


def test_the_readme_schedule_example_passes_its_own_test(tmp_path: Path) -> None:
    path = tmp_path / "readme_schedule.py"
    path.write_text(example_source())
    spec = importlib.util.spec_from_file_location("readme_schedule", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # attrs and cattrs look classes up by module
    try:
        spec.loader.exec_module(module)
        trio.run(module.test_the_report_runs_at_3_am_in_paris_every_day, tmp_path,
                 clock=MockClock(autojump_threshold=0))
    finally:
        del sys.modules[spec.name]


def test_the_readme_schedule_example_is_clean_under_mypy_strict(tmp_path: Path) -> None:
    path = tmp_path / "readme_schedule.py"
    path.write_text(example_source())
    result = subprocess.run([sys.executable, "-m", "mypy", "--strict", str(path)],
                            cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
