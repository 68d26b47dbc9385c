"""Two worker processes run one schedule on one SQLite file, and on PostgreSQL: each tick once.

No leader: both processes wake for every tick; the CAS on the stored last tick lets one push it.
Their clocks run 60 times fast (one virtual minute a real second), so an every-minute schedule
ticks every second.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from typing import TYPE_CHECKING

import pytest
import trio
from support.postgres import schema_store
from support.processes import TESTS

if TYPE_CHECKING:
    import subprocess
    from pathlib import Path

pytestmark = pytest.mark.slow

RATE = 60.0
SECONDS = 8.0
#: Store time at T0: 30 s before a minute boundary.
START = 1_800_000_000.0 - 30.0


async def run_two(url: str, out: Path) -> list[tuple[int, int]]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), *sys.path])}
    t0 = time.time()
    command = [sys.executable, "-m", "support.schedule_process", url, str(START), str(t0),
               str(RATE), str(SECONDS), str(out)]
    results: list[subprocess.CompletedProcess[bytes]] = []

    async def one() -> None:
        results.append(await trio.run_process(command, env=env, capture_stdout=True,
                                              capture_stderr=True, check=False))

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(one)
            nursery.start_soon(one)
    for result in results:
        assert result.returncode == 0, result.stderr.decode()[-2000:]
    lines = read_words(out)
    return [(int(tick), int(pid)) for tick, pid in zip(lines[::2], lines[1::2], strict=True)]


def read_words(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def assert_each_tick_once(runs: list[tuple[int, int]]) -> None:
    ticks = Counter(tick for tick, _ in runs)
    assert ticks, "no tick ran"
    assert max(ticks.values()) == 1, f"ticks pushed twice: {ticks.most_common(3)}"
    first, last = min(ticks), max(ticks)
    assert sorted(ticks) == list(range(first, last + 60, 60)), "a tick was lost"
    assert len(ticks) >= 4


async def test_two_processes_on_one_sqlite_file_push_each_tick_once(tmp_path: Path) -> None:
    runs = await run_two(f"sqlite:///{tmp_path / 'jobs.db'}", tmp_path / "ticks.txt")
    assert_each_tick_once(runs)


async def test_two_processes_on_postgresql_push_each_tick_once(
    tmp_path: Path, pg_url: str,
) -> None:
    async with schema_store() as store:
        runs = await run_two(f"postgresql-schema:{store.schema}", tmp_path / "ticks.txt")
    assert_each_tick_once(runs)
