"""Pruning finished jobs: one state, older than a cutoff, in bounded batches."""

from __future__ import annotations

import pytest
from support.conformance import Email, all_jobs, claim_id, jobs_in_states, make_job, settle

from service.jobs import JobNotFound, JobState, JobStore, Retention, Workflow
from service.jobs._pruner import prune_finished

UNFINISHED = [JobState.SCHEDULED, JobState.AVAILABLE, JobState.RUNNING, JobState.RETRYABLE]


async def finished_at(backend: JobStore, state: JobState, at: float) -> int:
    """A job that reached the finished ``state`` at ``at``."""
    job_id = await backend.push(Email(to=f"{state}-{at}@example.com"))
    if state == JobState.CANCELLED:
        await backend.job_cancel(job_id, at, "pruning test")
    else:
        await claim_id(backend, job_id, now=at - 1)
        assert await settle(backend, job_id, state, finished_at=at)
    return job_id


async def test_delete_finished_removes_only_that_state_older_than_the_cutoff(
    backend: JobStore,
) -> None:
    now = backend.clock.now()
    old = [await finished_at(backend, JobState.COMPLETED, now - age) for age in (300, 200)]
    recent = await finished_at(backend, JobState.COMPLETED, now - 10)
    old_cancelled = await finished_at(backend, JobState.CANCELLED, now - 300)
    old_discarded = await finished_at(backend, JobState.DISCARDED, now - 300)
    unfinished = (await jobs_in_states(backend, UNFINISHED)).values()

    deleted = await backend.job_delete_finished(JobState.COMPLETED, now - 100, limit=100)

    assert deleted == 2
    for job_id in old:
        with pytest.raises(JobNotFound):
            await backend.job_get(job_id)
    remaining = {row.id for row in await all_jobs(backend)}
    assert remaining == {recent, old_cancelled, old_discarded, *unfinished}


@pytest.mark.parametrize("state", [JobState.CANCELLED, JobState.DISCARDED])
async def test_delete_finished_prunes_each_finished_state(
    backend: JobStore, state: JobState
) -> None:
    now = backend.clock.now()
    job_id = await finished_at(backend, state, now - 300)
    kept = await finished_at(backend, JobState.COMPLETED, now - 300)

    assert await backend.job_delete_finished(state, now - 100, limit=100) == 1

    assert [row.id for row in await all_jobs(backend)] == [kept]
    assert job_id != kept


async def test_delete_finished_deletes_at_most_limit_jobs(backend: JobStore) -> None:
    now = backend.clock.now()
    ids = [await finished_at(backend, JobState.COMPLETED, now - 500 + n) for n in range(5)]

    assert await backend.job_delete_finished(JobState.COMPLETED, now, limit=2) == 2
    assert len(await all_jobs(backend)) == 3
    assert await backend.job_delete_finished(JobState.COMPLETED, now, limit=2) == 2
    assert await backend.job_delete_finished(JobState.COMPLETED, now, limit=2) == 1
    assert await backend.job_delete_finished(JobState.COMPLETED, now, limit=2) == 0
    assert await all_jobs(backend) == []
    assert len(ids) == 5


@pytest.mark.parametrize("state", UNFINISHED)
async def test_delete_finished_refuses_an_unfinished_state(
    backend: JobStore, state: JobState
) -> None:
    job_id = await make_job(backend, state)

    with pytest.raises(ValueError, match="only finished jobs are pruned"):
        await backend.job_delete_finished(state, backend.clock.now() + 86_400, limit=100)

    assert (await backend.job_get(job_id)).state == state


async def test_ids_are_not_reused_after_pruning(backend: JobStore) -> None:
    now = backend.clock.now()
    newest = await finished_at(backend, JobState.COMPLETED, now - 300)
    assert await backend.job_delete_finished(JobState.COMPLETED, now, limit=10) == 1

    assert await backend.push(Email(to="a@example.com")) > newest


async def test_the_pruner_deletes_what_retention_no_longer_keeps_batch_by_batch(
    backend: JobStore,
) -> None:
    now = backend.clock.now()
    old = [await finished_at(backend, JobState.COMPLETED, now - 500 + n) for n in range(5)]
    recent = await finished_at(backend, JobState.COMPLETED, now - 10)
    old_cancelled = await finished_at(backend, JobState.CANCELLED, now - 500)
    ancient_discarded = await finished_at(backend, JobState.DISCARDED, now - 5000)
    wf = Workflow("kept")
    needed = wf.add(Email(to="needed@example.com"))
    wf.add(Email(to="dependent@example.com"), after=[needed])
    needed_id, dependent_id = await backend.push_workflow(wf)
    await claim_id(backend, needed_id, now=now - 600)
    assert await settle(backend, needed_id, JobState.COMPLETED, finished_at=now - 600)

    deleted = await prune_finished(
        backend, Retention(completed=100, cancelled=1000, discarded=1000), now, batch=2)

    assert deleted == {JobState.COMPLETED: 5, JobState.DISCARDED: 1}
    remaining = {row.id for row in await all_jobs(backend)}
    # The member a dependent still needs stays, however old: the dependent reads its result.
    assert remaining == {recent, old_cancelled, needed_id, dependent_id}
    assert not remaining & {*old, ancient_discarded}
