"""Huey with ``SqliteHuey``: its defaults (WAL, SQLite's default ``synchronous=FULL``, 8 MiB
cache), tasks enqueued through task calls, run by its own consumer with thread workers.

Durability differs from ours: Huey deletes a task's row when a worker takes it (one write per
job), so a task whose worker dies mid-run is lost; we claim, run, then record (two writes), and
a job whose worker dies runs again.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from itertools import cycle, islice
from typing import TYPE_CHECKING, Any

from ..common import Tally, chunks, rate, stopwatch

if TYPE_CHECKING:
    from collections.abc import Callable


class Run:
    """The tally of this process's consumer; its tasks run on the worker threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset(0)

    def reset(self, target: int) -> None:
        self.done = threading.Event()
        self.tally = Tally(target, self.done.set)

    def hit(self, pushed_at: float | None = None) -> None:
        with self._lock:
            self.tally.hit(pushed_at)


RUN = Run()


def build(path: str) -> tuple[Any, Any, Any]:
    """A ``SqliteHuey`` on ``path`` with its defaults, and its two bench tasks."""
    from huey import SqliteHuey

    huey = SqliteHuey(name="bench", filename=path)

    @huey.task(name="noop")
    def noop(n: int) -> None:
        RUN.hit()

    @huey.task(name="timed")
    def timed(pushed_at: float) -> None:
        RUN.hit(pushed_at)

    return huey, noop, timed


def synchronous(huey: Any) -> int:
    [(level,)] = huey.storage.sql("PRAGMA synchronous", results=True)
    return int(level)


def fill(path: str, count: int) -> None:
    """Put ``count`` noop tasks in the queue fast: serialized messages inserted by executemany.

    The rows are those ``enqueue`` writes; at most 10,000 distinct messages are cycled (task ids
    repeat beyond that, which a no-op without stored results does not notice).
    """
    huey, noop, _ = build(path)
    blobs = [huey.serialize_task(noop.s(n)) for n in range(min(count, 10_000))]
    huey.storage.close()
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        source = islice(cycle(blobs), count)
        for part in chunks(count, 10_000):
            conn.execute("BEGIN")
            conn.executemany("INSERT INTO task (queue, data, priority) VALUES ('bench', ?, 0)",
                             ((blob,) for blob in islice(source, len(part))))
            conn.execute("COMMIT")
    finally:
        conn.close()


def child_fill(args: dict[str, Any], ready: Callable[..., None]) -> dict[str, Any]:
    fill(args["path"], args["count"])
    return {}


def child_enqueue(args: dict[str, Any], ready: Callable[..., None]) -> dict[str, Any]:
    """Enqueue ``jobs`` noop tasks from ``threads`` threads."""
    huey, noop, _ = build(args["path"])
    jobs, threads = args["jobs"], args["threads"]

    def enqueue(numbers: range) -> None:
        for n in numbers:
            noop(n)

    with stopwatch() as elapsed:
        if threads == 1:
            enqueue(range(jobs))
        else:
            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(enqueue, [range(k, jobs, threads) for k in range(threads)]))
    assert huey.storage.queue_size() == jobs
    return {"rate": rate(jobs, elapsed[0]), "synchronous": synchronous(huey)}


def _consumer(huey: Any, threads: int) -> Any:
    return huey.create_consumer(workers=threads, worker_type="thread")


def child_consume(args: dict[str, Any], ready: Callable[..., None]) -> dict[str, Any]:
    """Drain ``jobs`` pre-inserted noop tasks with a consumer of ``threads`` thread workers."""
    jobs = args["jobs"]
    fill(args["path"], jobs)
    huey, _, _ = build(args["path"])
    RUN.reset(jobs)
    consumer = _consumer(huey, args["threads"])
    start = time.perf_counter()
    consumer.start()
    finished = RUN.done.wait(args.get("timeout", 300))
    elapsed = time.perf_counter() - start
    consumer.stop(graceful=True)
    if not finished:
        raise RuntimeError(f"huey ran {RUN.tally.count} of {jobs} tasks")
    return {"rate": rate(jobs, elapsed)}


def child_worker(args: dict[str, Any], ready: Callable[..., None]) -> dict[str, Any]:
    """A consumer that runs until ``expect`` tasks started or ``seconds`` passed."""
    huey, _, _ = build(args["path"])
    RUN.reset(args.get("expect", 0))
    consumer = _consumer(huey, args["threads"])
    consumer.start()
    ready()
    RUN.done.wait(args["seconds"])
    consumer.stop(graceful=True)
    return RUN.tally.report(args.get("warmup", 0))


def child_pusher(args: dict[str, Any], ready: Callable[..., None]) -> dict[str, Any]:
    """Enqueue ``timed`` tasks at ``rate`` per second for ``seconds``."""
    _, _, timed = build(args["path"])
    count = int(args["rate"] * args["seconds"])
    start = time.monotonic()
    for k in range(count):
        delay = start + k / args["rate"] - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        timed(time.time())
    return {"pushed": count}
