"""A task for the cancel-latency tests: runs until cancelled, and appends to a file when it
starts and when it sees ``trio.Cancelled`` (wall-clock times, compared across processes)."""

from __future__ import annotations

import time

import attrs
import trio

from service.jobs import JobContext, Task, TaskOptions


@attrs.frozen(kw_only=True)
class Hang(Task):
    options = TaskOptions(name="hang", concurrency=10, max_attempts=3)
    marker: str

    async def run(self, ctx: JobContext) -> None:
        _append(self.marker, f"started {ctx.job_id} {time.time()!r}\n")
        try:
            await trio.sleep_forever()
        except trio.Cancelled:
            _append(self.marker, f"cancelled {ctx.job_id} {time.time()!r}\n")
            raise


def _append(path: str, line: str) -> None:
    """One short append: the time is taken first, the write does not delay it."""
    with open(path, "a", encoding="utf-8") as file:
        file.write(line)


def read_marks(path: str) -> dict[tuple[str, int], float]:
    """(what, job id) -> wall-clock time, from the marker file (empty if there is none yet)."""
    try:
        with open(path, encoding="utf-8") as file:
            lines = file.read().splitlines()
    except FileNotFoundError:
        return {}
    marks = {}
    for line in lines:
        what, job_id, at = line.split()
        marks[(what, int(job_id))] = float(at)
    return marks
