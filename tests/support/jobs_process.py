"""A second process for the two-process tests.

    python -m support.jobs_process push DB N      push jobs 0..N-1 of append_line
    python -m support.jobs_process work DB N OUT  run a worker until N append_line jobs completed
"""

from __future__ import annotations

import sys

import trio

from service.jobs import JobState, SQLiteStore, TaskWorker

from .append_line import AppendLine


async def push(db: str, count: int) -> None:
    async with SQLiteStore(db) as store:
        for start in range(0, count, 50):
            await store.push_many(AppendLine(n=n) for n in range(start, min(count, start + 50)))


async def work(db: str, count: int, out: str) -> None:
    async with SQLiteStore(db) as store:
        worker = TaskWorker(store, [AppendLine], state=out)
        async with trio.open_nursery() as nursery:
            await nursery.start(worker.run)
            print("ready", flush=True)
            completed = 0
            with trio.move_on_after(120):  # the parent gives up after 30 s; never outlive it
                while completed < count:
                    counts = await store.job_count_by_state()
                    completed = counts.get(("append_line", JobState.COMPLETED), 0)
                    if completed < count:
                        await trio.sleep(0.05)
            await worker.shutdown()
            if completed < count:
                sys.exit(f"timed out after 120 s waiting for {count} completed append_line jobs;"
                         f" last seen: {completed}")


def main() -> None:
    command, db, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if command == "push":
        trio.run(push, db, count)
    else:
        trio.run(work, db, count, sys.argv[4])


if __name__ == "__main__":
    main()
