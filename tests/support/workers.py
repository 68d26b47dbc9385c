"""Test support: run a TaskWorker inside a nursery for the length of a block."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import trio

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from service.jobs import TaskWorker


@asynccontextmanager
async def running(worker: TaskWorker, grace: float | None = None) -> AsyncIterator[TaskWorker]:
    async with trio.open_nursery() as nursery:
        await nursery.start(worker.run)
        yield worker
        await worker.shutdown(grace)
