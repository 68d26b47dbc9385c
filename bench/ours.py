"""The engine as a user drives it: tasks, opening a store, pushing, and running a TaskWorker.

Everything goes through the public API of ``service.jobs`` (``SQLiteStore``/``PostgresStore``,
``push``/``push_many``, ``TaskWorker`` with default ``WorkerConfig``) and the production runner
(one dedicated DB thread for SQLite, the psycopg pool for PostgreSQL), on the system clock.

A store is described by a JSON-able spec, so a child process can open the same one:
``{"backend": "sqlite", "path": ..., "synchronous": "FULL" | None}`` or
``{"backend": "postgresql", "url": ..., "schema": ...}``.

``pragmas``: statements run the same way right after opening (the memory scenario's
what-if with a smaller page cache). ``synchronous``: the engine opens SQLite with
``synchronous=NORMAL``. To measure it at ``FULL``
(Huey's durability) without touching the engine, the harness runs ``PRAGMA synchronous = FULL``
through the store's own public ``query()`` right after opening: it goes through the store's
runner onto its one connection, and every later statement of that store runs at FULL.
"""

from __future__ import annotations

import time
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeAlias

import attrs
import trio

from service.jobs import (
    JobContext,
    SQLiteStore,
    Task,
    TaskOptions,
    TaskWorker,
)

from .common import Tally

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from service.jobs import PostgresStore

Store: TypeAlias = "SQLiteStore | PostgresStore"
SYNCHRONOUS = {"OFF": 0, "NORMAL": 1, "FULL": 2, "EXTRA": 3}


class TrioTally(Tally):
    """A :class:`~bench.common.Tally` whose ``done`` is a trio event (the worker's state)."""

    def __init__(self, target: int) -> None:
        self.done = trio.Event()
        super().__init__(target, self.done.set)


@attrs.frozen(kw_only=True)
class NoOp(Task):
    options = TaskOptions(name="bench.noop", concurrency=10)
    n: int

    async def run(self, ctx: JobContext) -> None:
        ctx.state.hit()


@attrs.frozen(kw_only=True)
class Timed(Task):
    """A no-op that reports how long after its push (wall clock, any process) it started."""

    options = TaskOptions(name="bench.timed", concurrency=10)
    pushed_at: float

    async def run(self, ctx: JobContext) -> None:
        ctx.state.hit(self.pushed_at)


TASKS: dict[str, type[Task]] = {"noop": NoOp, "timed": Timed}


def task_class(name: str, concurrency: int = 10) -> type[Task]:
    """The bench task ``name`` with ``concurrency`` slots (one value per child process)."""
    cls = TASKS[name]
    cls.options = attrs.evolve(cls.options, concurrency=concurrency)  # type: ignore[misc]
    return cls


def make_store(spec: dict[str, Any]) -> Store:
    if spec["backend"] == "sqlite":
        return SQLiteStore(spec["path"])
    from service.jobs import PostgresStore  # a SQLite child never loads psycopg, as in production

    return PostgresStore(spec["url"], schema=spec["schema"])


@asynccontextmanager
async def opened(spec: dict[str, Any]) -> AsyncIterator[Store]:
    """The store of ``spec``, open (schema migrated), at the requested ``synchronous``."""
    async with make_store(spec) as store:
        for pragma in spec.get("pragmas", ()):
            await store.query(pragma)
        level = spec.get("synchronous")
        if level is not None:
            assert isinstance(store, SQLiteStore)
            await store.query(f"PRAGMA synchronous = {level}")
            [(now,)] = await store.query("PRAGMA synchronous")
            assert now == SYNCHRONOUS[level], (level, now)
        yield store


async def push_jobs(store: Store, mode: str, jobs: int, first: int = 0) -> float:
    """Push ``jobs`` no-op jobs; the seconds it took.

    ``one``: one ``push`` at a time from one task; ``tasks10``: ten tasks pushing one at a time
    concurrently; ``many``: ``push_many`` in batches of 1,000.
    """
    start = time.perf_counter()
    if mode == "one":
        for n in range(first, first + jobs):
            await store.push(NoOp(n=n))
    elif mode == "tasks10":
        async def pusher(numbers: range) -> None:
            for n in numbers:
                await store.push(NoOp(n=n))

        async with trio.open_nursery() as nursery:
            for k in range(10):
                nursery.start_soon(pusher, range(first + k, first + jobs, 10))
    elif mode == "many":
        for start_n in range(first, first + jobs, 1000):
            await store.push_many(NoOp(n=n) for n in range(start_n, min(first + jobs,
                                                                        start_n + 1000)))
    else:
        raise ValueError(mode)
    return time.perf_counter() - start


async def push_steadily(store: Store, rate: float, seconds: float) -> int:
    """Push ``Timed`` jobs at ``rate`` per second for ``seconds``; how many were pushed."""
    count = int(rate * seconds)
    start = trio.current_time()
    for k in range(count):
        await trio.sleep_until(start + k / rate)
        await store.push(Timed(pushed_at=time.time()))
    return count


async def work_until_done(store: Store, cls: type[Task], tally: TrioTally, within: float,
                          *, started: Callable[[], object] | None = None) -> float:
    """Run a TaskWorker until ``tally`` is done and every outcome is written; seconds from its
    start to the end of its shutdown (which writes the outcomes still in flight: a worker whose
    jobs ran but whose outcomes were not yet recorded has not finished them). Gives up (raising)
    after ``within`` seconds. ``started()`` (if given) is called once the worker is claiming.
    """
    worker = TaskWorker(store, [cls], state=tally)
    async with trio.open_nursery() as nursery:
        start = time.perf_counter()
        await nursery.start(worker.run)
        if started is not None:
            started()
        with trio.move_on_after(within):
            await tally.done.wait()
        await worker.shutdown()
        elapsed = time.perf_counter() - start
    if not tally.done.is_set():
        raise RuntimeError(f"worker saw {tally.count} of {tally.target} jobs in {within} s")
    return elapsed


async def prefill(spec: dict[str, Any], jobs: int) -> None:
    """Put ``jobs`` no-op jobs in the store of ``spec`` (``push_many``, 1,000 per call)."""
    async with opened(spec) as store:
        await push_jobs(store, "many", jobs)
