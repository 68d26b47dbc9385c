"""Tasks for the fault tests (chaos, contention, poison), registered by ``support.run_service``.

Their side effects are lines appended to a file with one ``write`` on an ``O_APPEND`` descriptor,
so a line is either wholly there or not at all even when the process is killed, and the lines
of one job can be counted: two lines for one job mean it ran twice.
"""

from __future__ import annotations

import os

import attrs
import trio

from service.jobs import JobContext, Task, TaskOptions


def append_line(path: str, line: str) -> None:
    """Append ``line`` (plus a newline) to ``path`` with one write: all of it or nothing."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


@attrs.frozen(kw_only=True)
class Append(Task):
    """Appends ``"<n> <job id> <pid>"`` to ``path``, pausing before and after the write.

    The pauses keep jobs in flight, so a kill can land between the side effect and the record of
    the outcome: the one way a side effect happens twice.
    """

    options = TaskOptions(name="append", concurrency=8, max_attempts=25)
    path: str
    n: int
    pause: float = 0.0

    async def run(self, ctx: JobContext) -> int:
        await trio.sleep(self.pause / 2)
        append_line(self.path, f"{self.n} {ctx.job_id} {os.getpid()}")
        await trio.sleep(self.pause / 2)
        return self.n


@attrs.frozen(kw_only=True)
class KillProcess(Task):
    """A poison job: notes that it ran, then ends its own process with ``os._exit``."""

    options = TaskOptions(name="kill_process", concurrency=1, max_attempts=25)
    path: str

    async def run(self, ctx: JobContext) -> None:
        append_line(self.path, f"{ctx.job_id} {os.getpid()}")
        os._exit(70)
