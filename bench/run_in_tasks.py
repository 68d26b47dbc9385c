"""The tasks of ``bench.run_in``: a no-op and a CPU burner in each of the three ``run_in`` modes.

In a module of their own: a process task's class must be importable by the pool's children,
and ``python -m bench.run_in`` runs as ``__main__``.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import attrs

from service.jobs import JobContext, SyncJobContext, Task, TaskOptions

CONCURRENCY = 2  # the machine's cores: what a CPU-bound task would be given


def burn(seconds: float) -> int:
    """Hash in a loop for ``seconds`` of wall time (CPU-bound, holds the GIL in between)."""
    data, rounds = b"x" * 64, 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        for _ in range(200):
            data = hashlib.sha256(data).digest()
        rounds += 1
    return rounds


@attrs.frozen(kw_only=True)
class NoopLoop(Task):
    options = TaskOptions(name="bench.noop_loop", concurrency=CONCURRENCY)
    n: int

    async def run(self, ctx: JobContext) -> None:
        return None


@attrs.frozen(kw_only=True)
class NoopThread(Task):
    options = TaskOptions(name="bench.noop_thread", run_in="thread", concurrency=CONCURRENCY)
    n: int

    def run_sync(self, ctx: SyncJobContext) -> None:
        return None


@attrs.frozen(kw_only=True)
class NoopProcess(Task):
    options = TaskOptions(name="bench.noop_process", run_in="process", concurrency=CONCURRENCY)
    n: int

    def run_sync(self, ctx: SyncJobContext) -> None:
        return None


@attrs.frozen(kw_only=True)
class BurnLoop(Task):
    """The mistake ``run_in`` fixes: CPU-bound work in ``async def run``."""

    options = TaskOptions(name="bench.burn_loop", concurrency=1)
    seconds: float

    async def run(self, ctx: JobContext) -> Any:
        return burn(self.seconds)


@attrs.frozen(kw_only=True)
class BurnThread(Task):
    options = TaskOptions(name="bench.burn_thread", run_in="thread", concurrency=1)
    seconds: float

    def run_sync(self, ctx: SyncJobContext) -> Any:
        return burn(self.seconds)


@attrs.frozen(kw_only=True)
class BurnProcess(Task):
    options = TaskOptions(name="bench.burn_process", run_in="process", concurrency=1)
    seconds: float

    def run_sync(self, ctx: SyncJobContext) -> Any:
        return burn(self.seconds)
