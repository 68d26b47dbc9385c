"""Tasks for the multi-process PostgreSQL tests: each run leaves lines in a shared file."""

from __future__ import annotations

import os
import time

import attrs
import trio

from service.jobs import JobContext, Task, TaskOptions


def append(path: str, line: str) -> None:
    """Append one line; O_APPEND keeps lines from several processes whole."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


@attrs.frozen(kw_only=True)
class Mark(Task):
    """Writes ``start <n> <pid> <time>``, sleeps ``seconds``, writes ``done <n> <pid> <time>``."""

    options = TaskOptions(name="pg.mark", concurrency=4, max_attempts=5)
    n: int
    seconds: float = 0.0

    async def run(self, ctx: JobContext) -> None:
        path: str = ctx.state
        await trio.to_thread.run_sync(append, path, f"start {self.n} {os.getpid()} {time.time()}\n")
        if self.seconds:
            await trio.sleep(self.seconds)
        await trio.to_thread.run_sync(append, path, f"done {self.n} {os.getpid()} {time.time()}\n")


def read_marks(path: str) -> list[tuple[str, int, int, float]]:
    """(what, n, pid, time) for each line written by :class:`Mark`."""
    if not os.path.exists(path):
        return []
    marks = []
    with open(path) as f:
        for line in f:
            what, n, pid, at = line.split()
            marks.append((what, int(n), int(pid), float(at)))
    return marks
