"""A task for process tests: sleeps, then writes a marker file."""

from __future__ import annotations

from pathlib import Path

import attrs
import trio

from service.jobs import JobContext, Task, TaskOptions


@attrs.frozen(kw_only=True)
class Nap(Task):
    options = TaskOptions(name="nap", concurrency=4, max_attempts=3)
    seconds: float
    marker: str

    async def run(self, ctx: JobContext) -> str:
        await trio.sleep(self.seconds)
        await trio.Path(self.marker).write_text(f"attempt {ctx.attempt}\n")
        return Path(self.marker).name


@attrs.frozen(kw_only=True)
class Hog(Task):
    """Blocks the event loop (a bug a task author can make): the service must report it."""

    options = TaskOptions(name="hog", max_attempts=1)
    seconds: float

    async def run(self, ctx: JobContext) -> None:
        import time

        time.sleep(self.seconds)  # noqa: ASYNC251 - blocking on purpose
