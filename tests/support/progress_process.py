"""A worker process for the progress rescue test, killed by the test with SIGKILL.

    python -m support.progress_process STORE_URL

Prints ``ready`` once its worker runs. Its :class:`ResumablePages` jobs report pages 1 to 3,
each with a checkpoint, then hang until the process is killed. Short leases and renewals: the
checkpoint reaches the store within 0.3 s, and a killed process's job is rescued within about
1.5 s.
"""

from __future__ import annotations

import sys
from typing import Any

import attrs
import trio

from service.jobs import JobContext, Task, TaskOptions, TaskWorker, WorkerConfig, open_store

CONFIG = WorkerConfig(lease_ttl=1.0, lease_renew_interval=0.3, rescue_interval=0.2,
                      poll_max=0.2, shutdown_grace=0.5)
#: The page after which a worker given ``state=HANG`` stops and waits to be killed.
HANG_AFTER = 3
HANG = "hang"


@attrs.frozen(kw_only=True)
class ResumablePages(Task):
    options = TaskOptions(name="resumable_pages", max_attempts=5)
    pages: int = 10

    async def run(self, ctx: JobContext) -> dict[str, Any]:
        start = 0 if ctx.checkpoint is None else ctx.checkpoint["page"]
        for page in range(start + 1, self.pages + 1):
            await ctx.progress(page / self.pages, f"page {page} of {self.pages}",
                               checkpoint={"page": page})
            if ctx.state == HANG and page == HANG_AFTER:
                await trio.sleep_forever()
        return {"resumed_after": start, "attempt": ctx.attempt}


async def work(url: str) -> None:
    async with open_store(url) as store:
        worker = TaskWorker(store, [ResumablePages], state=HANG, config=CONFIG)
        async with trio.open_nursery() as nursery:
            await nursery.start(worker.run)
            print("ready", flush=True)
            await trio.sleep(120)  # the test kills it long before; never outlive it
            nursery.cancel_scope.cancel()


if __name__ == "__main__":
    trio.run(work, sys.argv[1])
