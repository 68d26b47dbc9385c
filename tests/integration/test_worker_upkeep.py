"""The worker's upkeep loops as README.md documents them, on a real SQLite file in virtual time.

README, "Retention": "The worker's pruner deletes finished jobs every minute, 1,000 per
statement: ``completed`` after 1 day, ``cancelled`` and ``discarded`` after 7 days". And: jobs of
tasks no worker registered "are discarded after ``unknown_task_grace`` (60 s); set
``discard_unknown_tasks=False`` in" the worker's config to keep them. The numbers are written
out here on purpose.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs
import trio
from support.waiting import wait_for_job_state
from support.workers import running

from service.jobs import (
    JobContext,
    JobNotFound,
    JobState,
    Retention,
    SQLiteStore,
    Task,
    TaskOptions,
    TaskWorker,
    WorkerConfig,
)
from service.jobs._store import JobInsert, SetStateIfRunning

if TYPE_CHECKING:
    from trio.testing import MockClock

DAY = 86_400.0


@attrs.frozen(kw_only=True)
class Noop(Task):
    options = TaskOptions(name="upkeep.noop")
    n: int = 0

    async def run(self, ctx: JobContext) -> None:
        return None


async def exists(store: SQLiteStore, job_id: int) -> bool:
    try:
        await store.job_get(job_id)
    except JobNotFound:
        return False
    return True


async def finished_job(store: SQLiteStore, state: JobState, finished_at: float) -> int:
    """A job of ``Noop`` that reached ``state`` at ``finished_at`` (claimed by hand, not by a
    worker)."""
    job_id = await store.push(Noop())
    if state is JobState.CANCELLED:
        await store.job_cancel(job_id, finished_at, "made for a test")
        assert (await store.job_get(job_id)).finished_at == finished_at
        return job_id
    now = store.clock.now()
    [claimed] = await store.job_claim(Noop.options.name, "by-hand", 1, now, now + 60)
    assert claimed.id == job_id
    assert await store.job_set_state_if_running_many([SetStateIfRunning(
        id=job_id, owner="by-hand", attempt=claimed.attempt, state=state, finished_at=finished_at,
    )]) == [True]
    return job_id


def test_the_documented_retention_and_pruning_defaults() -> None:
    config = WorkerConfig()
    assert config.retention == Retention(completed=1 * DAY, cancelled=7 * DAY,
                                         discarded=7 * DAY)
    assert config.prune_interval == 60
    assert config.prune_batch == 1000
    assert config.discard_unknown_tasks is True
    assert config.unknown_task_grace == 60


async def test_the_pruner_deletes_finished_jobs_past_their_retention_every_minute(
    autojump_clock: MockClock, store: SQLiteStore,
) -> None:
    now = store.clock.now()
    old = {
        state: await finished_job(store, state, now - keep - 1)
        for state, keep in ((JobState.COMPLETED, DAY), (JobState.CANCELLED, 7 * DAY),
                            (JobState.DISCARDED, 7 * DAY))
    }
    completed_in_30_s = await finished_job(store, JobState.COMPLETED, now - DAY + 30)
    young = [
        await finished_job(store, JobState.COMPLETED, now - 1),
        await finished_job(store, JobState.CANCELLED, now - 6.9 * DAY),
        await finished_job(store, JobState.DISCARDED, now - 6.9 * DAY),
    ]

    async with running(TaskWorker(store, [Noop])):
        await trio.sleep(1)
        gone = {state.value: not await exists(store, job_id) for state, job_id in old.items()}
        assert gone == {"completed": True, "cancelled": True, "discarded": True}, \
            "the pruner's first round runs at start"
        assert await exists(store, completed_in_30_s)
        await trio.sleep(55)
        assert await exists(store, completed_in_30_s), "the next round is a minute later"
        await trio.sleep(10)
        assert not await exists(store, completed_in_30_s), "pruned by the round at 60 s"
        assert [await exists(store, job_id) for job_id in young] == [True, True, True]


async def test_the_pruner_keeps_deleting_in_batches_until_nothing_is_left(
    autojump_clock: MockClock, store: SQLiteStore,
) -> None:
    now = store.clock.now()
    ids = [await finished_job(store, JobState.COMPLETED, now - 2 * DAY) for _ in range(7)]
    config = WorkerConfig(prune_batch=3)

    async with running(TaskWorker(store, [Noop], config=config)):
        await trio.sleep(1)
        assert [await exists(store, job_id) for job_id in ids] == [False] * 7


async def test_with_discard_unknown_tasks_off_jobs_of_unknown_tasks_stay_available(
    autojump_clock: MockClock, store: SQLiteStore,
) -> None:
    now = store.clock.now()
    [orphan] = await store.job_insert_many([
        JobInsert(task="served_by_another_worker", args="{}", state=JobState.AVAILABLE,
                  priority=0, max_attempts=5, run_at=now - 3600, created_at=now - 3600)
    ])
    config = WorkerConfig(discard_unknown_tasks=False)

    async with running(TaskWorker(store, [Noop], config=config)):
        await trio.sleep(config.unknown_task_grace * 5)
        known = await store.push(Noop(n=1))
        await wait_for_job_state(store, known, JobState.COMPLETED, poll=0.1)

    row = await store.job_get(orphan.id)
    assert row.state is JobState.AVAILABLE, row
    assert row.errors == []
