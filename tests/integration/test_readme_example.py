"""The README's end-to-end example for task authors runs exactly as printed.

Every fenced block after an ``<!-- example: own-app -->`` line is joined, in order, into one
module; its ``main`` runs as a process would (under an autojumping MockClock, in a temporary
directory) and each of its ``test_*`` functions runs as pytest-trio would run it.
"""

from __future__ import annotations

import importlib.util
import inspect
import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import trio
from trio.testing import MockClock

if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import ModuleType

ROOT = next(p for p in Path(__file__).parents if (p / "pyproject.toml").exists())
README = ROOT / "README.md"
MARKER = "<!-- example: own-app -->"
BLOCK = re.compile(re.escape(MARKER) + r"\n```python\n(.*?)\n```", re.DOTALL)


def example_source() -> str:
    text = README.read_text()
    blocks = BLOCK.findall(text)
    assert len(blocks) == text.count(MARKER), "every marker must open a ```python block"
    return "\n\n".join(blocks) + "\n"


@pytest.fixture
def example(tmp_path: Path) -> Iterator[ModuleType]:
    path = tmp_path / "readme_example.py"
    path.write_text(example_source())
    spec = importlib.util.spec_from_file_location("readme_example", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # attrs and cattrs look classes up by module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


def test_the_readme_has_the_example_in_blocks() -> None:
    source = example_source()
    for name in ("Migration(", "async with store.transaction() as tx", "TaskWorker(",
                 "async def test_", "drain(", "run_task(", "assert_pushed("):
        assert name in source


def test_the_example_process_sends_the_reminder(
    example: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    sent = trio.run(example.main, clock=MockClock(autojump_threshold=0))
    assert sent == ["ada@example.com"]
    assert (tmp_path / "data" / "app.db").exists()


def example_tests() -> list[str]:
    return re.findall(r"^async def (test_\w+)\(", example_source(), re.MULTILINE)


@pytest.mark.parametrize("name", example_tests())
def test_the_example_tests_pass(example: ModuleType, tmp_path: Path, name: str) -> None:
    test = getattr(example, name)
    clock = MockClock(autojump_threshold=0)
    fixtures: dict[str, Any] = {"autojump_clock": clock, "tmp_path": tmp_path}
    kwargs = {param: fixtures[param] for param in inspect.signature(test).parameters}
    trio.run(lambda: test(**kwargs), clock=clock)


def test_the_example_is_clean_under_mypy_strict(tmp_path: Path) -> None:
    path = tmp_path / "readme_example.py"
    path.write_text(example_source())
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", str(path)],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
