"""A task shared by the two-process tests: appends its number and the worker's pid to a file."""

from __future__ import annotations

import os

import attrs
import trio

from service.jobs import JobContext, Task, TaskOptions


@attrs.frozen(kw_only=True)
class AppendLine(Task):
    options = TaskOptions(name="append_line", concurrency=8)
    n: int

    async def run(self, ctx: JobContext) -> int:
        path: str = ctx.state
        line = f"{self.n} {os.getpid()}\n"
        await trio.to_thread.run_sync(_append, path, line)
        return self.n


def _append(path: str, line: str) -> None:
    with open(path, "a") as f:
        f.write(line)
