"""A worker whose database fails for a while: its leases lapse under it, and it must survive that.

Found by tests/acceptance/test_storage_faults.py:
when lease renewals fail long enough (a full disk, a
database restart), the worker's own rescue returns its running job to the queue and its own
claim takes it again, while the first attempt is still running or recording its outcome. That
used to crash the whole worker (``KeyError`` freeing the job's slot twice).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs
import trio
from support.waiting import wait_for_job_state
from support.workers import running

from service.jobs import (
    JobContext,
    JobState,
    SQLiteStore,
    StoreUnavailable,
    Task,
    TaskOptions,
    TaskWorker,
    WorkerConfig,
)

if TYPE_CHECKING:
    from trio.testing import MockClock

RUNS: list[tuple[int, str]] = []  # (attempt, "started" | "finished" | "cancelled")


@attrs.frozen(kw_only=True)
class Slow(Task):
    options = TaskOptions(name="slow", concurrency=2, max_attempts=5)
    seconds: float

    async def run(self, ctx: JobContext) -> None:
        RUNS.append((ctx.attempt, "started"))
        try:
            await trio.sleep(self.seconds)
        except trio.Cancelled:
            RUNS.append((ctx.attempt, "cancelled"))
            raise
        RUNS.append((ctx.attempt, "finished"))


def setup_function() -> None:
    RUNS.clear()


def fail_renewals_until(store: SQLiteStore, until: float) -> None:
    """Lease renewals fail (a storage fault) until trio time ``until``; the rest works."""
    renew = store.job_renew_leases

    async def failing(*args: Any) -> list[int]:
        if trio.current_time() < until:
            raise StoreUnavailable("database or disk is full (SQLITE_FULL)")
        return await renew(*args)

    store.job_renew_leases = failing  # type: ignore[method-assign]


async def test_a_job_rescued_from_under_its_own_worker_and_claimed_again_runs_on(
    autojump_clock: MockClock, store: SQLiteStore
) -> None:
    config = WorkerConfig(lease_ttl=6, lease_renew_interval=2, rescue_interval=1)
    job_id = await store.push(Slow(seconds=30))
    fail_renewals_until(store, trio.current_time() + 9)
    worker = TaskWorker(store, [Slow], config=config)
    async with running(worker):
        await wait_for_job_state(store, job_id, JobState.COMPLETED, within=120, poll=1)
        assert worker.in_flight == 0
    job = await store.job_get(job_id)
    assert job.attempt == 2
    assert job.rescues == 1
    # The attempt whose lease lapsed stops when the job is claimed again; the new one finishes.
    assert [event for attempt, event in RUNS if attempt == 1] == ["started", "cancelled"]
    assert [event for attempt, event in RUNS if attempt == 2] == ["started", "finished"]
