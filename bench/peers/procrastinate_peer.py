"""Procrastinate on PostgreSQL, in a database of its own (created and dropped by the harness).

Jobs are deferred with ``task.defer`` / ``task.batch_defer`` from synchronous code (the app
opened with ``app.open()``, which uses its synchronous psycopg pool), and run by its asyncio
worker (``run_worker_async``) with async no-op tasks, LISTEN/NOTIFY on (its default). A fresh
table is ``ANALYZE``d by the harness before a drain (without statistics its first drain is slow).
Durability: PostgreSQL's (``synchronous_commit`` as the server has it), like our PostgreSQL
backend; it also claims (``doing``), runs, then records, two writes per job.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING, Any

from ..common import Tally, chunks, rate, stopwatch

if TYPE_CHECKING:
    from collections.abc import Callable


class Run:
    """The tally of this process's worker (reset inside the event loop)."""

    def __init__(self) -> None:
        self.reset(0)

    def reset(self, target: int) -> None:
        self.done = asyncio.Event()
        self.tally = Tally(target, self.done.set)

    def hit(self, pushed_at: float | None = None) -> None:
        self.tally.hit(pushed_at)


RUN = Run()


def build(url: str) -> tuple[Any, Any, Any]:
    from procrastinate import App, PsycopgConnector

    app = App(connector=PsycopgConnector(conninfo=url))

    @app.task(name="noop")
    async def noop(n: int) -> None:
        RUN.hit()

    @app.task(name="timed")
    async def timed(pushed_at: float) -> None:
        RUN.hit(pushed_at)

    return app, noop, timed


def child_defer(args: dict[str, Any], ready: Callable[..., None]) -> dict[str, Any]:
    """Apply the schema, then defer ``single`` jobs one by one and ``jobs`` in batches of 1,000."""
    app, noop, _ = build(args["url"])
    with app.open():
        app.schema_manager.apply_schema()
        with stopwatch() as one:
            for n in range(args["single"]):
                noop.defer(n=n)
        with stopwatch() as batched:
            for part in chunks(args["jobs"], 1000):
                noop.batch_defer(*({"n": n} for n in part))
    return {"defer": rate(args["single"], one[0]), "batch_defer": rate(args["jobs"], batched[0])}


def child_work(args: dict[str, Any], ready: Callable[..., None]) -> dict[str, Any]:
    """Drain the queue with one worker of ``concurrency`` (``wait=False``: stop when caught up)."""
    app, _, _ = build(args["url"])

    async def counts() -> dict[str, int]:
        rows = await app.connector.execute_query_all_async(
            "SELECT status::text, count(*) AS n FROM procrastinate_jobs GROUP BY status")
        return {row["status"]: row["n"] for row in rows}

    async def main() -> dict[str, Any]:
        async with app.open_async():
            with stopwatch() as elapsed:
                await app.run_worker_async(concurrency=args["concurrency"], wait=False,
                                           install_signal_handlers=False)
                # The worker can return before the last job's status is written: the drain
                # ends when every job is recorded as succeeded.
                for _ in range(100):
                    if set(found := await counts()) == {"succeeded"}:
                        break
                    await asyncio.sleep(0.05)
        assert set(found) == {"succeeded"}, found
        return {"rate": rate(found["succeeded"], elapsed[0]), "jobs": found["succeeded"]}

    return asyncio.run(main())


def child_worker(args: dict[str, Any], ready: Callable[..., None]) -> dict[str, Any]:
    """A worker (concurrency ``concurrency``) until ``expect`` tasks started or ``seconds``."""
    app, _, _ = build(args["url"])
    if args.get("schema"):
        with app.open():
            app.schema_manager.apply_schema()

    async def main() -> dict[str, Any]:
        RUN.reset(args.get("expect", 0))
        async with app.open_async():
            worker = asyncio.create_task(app.run_worker_async(
                concurrency=args["concurrency"], install_signal_handlers=False))
            await asyncio.sleep(0.5)  # it has registered and is listening by then
            ready()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(RUN.done.wait(), args["seconds"])
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        return RUN.tally.report(args.get("warmup", 0))

    return asyncio.run(main())


def child_pusher(args: dict[str, Any], ready: Callable[..., None]) -> dict[str, Any]:
    """Defer ``timed`` jobs at ``rate`` per second for ``seconds``."""
    app, _, timed = build(args["url"])
    count = int(args["rate"] * args["seconds"])
    with app.open():
        start = time.monotonic()
        for k in range(count):
            delay = start + k / args["rate"] - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            timed.defer(pushed_at=time.time())
    return {"pushed": count}
