"""Jobs pushed for the future, as a user sees them from push to run.

SQLite keeps them in a table of their own until they are due (``scheduled_jobs``); nothing of
that may show: the id given at push is the job's id for life, and every read, operator action,
unique key and expiry sees them as any other job.
"""

from __future__ import annotations

import pytest
import trio
import trio.testing
from support.conformance import EMAIL, Email, all_jobs, claim

from service.jobs import JobFilter, JobNotFound, JobState, JobStore, Push


class Boom(Exception):
    pass


async def test_a_future_job_keeps_the_id_its_push_returned_until_it_has_run(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    before = await backend.push(Email(to="a@example.com"))
    later = await backend.push(Email(to="b@example.com"), delay=60)
    after = await backend.push(Email(to="c@example.com"))
    assert before < later < after, "one id space, in push order"

    assert [r.id for r in await claim(backend, limit=10)] == [before, after]
    await trio.sleep(60)
    assert set(await backend.job_promote_due(backend.clock.now())) == {EMAIL}
    [claimed] = await claim(backend)

    assert claimed.id == later
    row = await backend.job_get(later)
    assert (row.id, row.state, row.attempt) == (later, JobState.RUNNING, 1)


async def test_a_future_job_is_listed_counted_and_read_while_it_waits(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    now = backend.clock.now()
    due = await backend.push(Email(to="a@example.com"))
    later = await backend.push(Email(to="b@example.com"), delay=3600)
    newest = await backend.push(Email(to="c@example.com"))

    row = await backend.job_get(later)
    assert (row.state, row.run_at) == (JobState.SCHEDULED, now + 3600)
    assert [r.id for r in await all_jobs(backend)] == [newest, later, due], "newest first"
    assert [r.id for r in await all_jobs(backend, state=JobState.SCHEDULED)] == [later]
    assert [r.id for r in await all_jobs(backend, before_id=newest, task=EMAIL)] == [later, due]
    assert await backend.job_count(JobFilter(state=JobState.SCHEDULED)) == 1
    assert await backend.job_count(JobFilter()) == 3
    assert (await backend.job_count_by_state())[(EMAIL, JobState.SCHEDULED)] == 1
    stats = await backend.job_stats_by_state()
    assert (stats[(EMAIL, JobState.SCHEDULED)].count,
            stats[(EMAIL, JobState.SCHEDULED)].oldest_run_at) == (1, now + 3600)
    assert await backend.job_next_run_at() == now + 3600


async def test_push_many_mixing_due_and_future_jobs_gives_ids_in_order(
    backend: JobStore,
) -> None:
    ids = await backend.push_many([
        Email(to="a@example.com"),
        Push(task=Email(to="b@example.com"), delay=60),
        Push(task=Email(to="c@example.com"), delay=60, unique_key="c"),
        Email(to="d@example.com"),
        Push(task=Email(to="e@example.com"), delay=30),
    ])

    assert ids == sorted(set(ids))
    assert len(ids) == 5
    rows = [await backend.job_get(i) for i in ids]
    assert [r.state for r in rows] == [JobState.AVAILABLE, JobState.SCHEDULED,
                                       JobState.SCHEDULED, JobState.AVAILABLE,
                                       JobState.SCHEDULED]
    assert [r.id for r in rows] == ids


async def test_an_operator_cancels_a_future_job_and_it_never_runs(backend: JobStore) -> None:
    now = backend.clock.now()
    job_id = await backend.push(Email(to="a@example.com"), delay=60)

    row = await backend.job_cancel(job_id, now, "not needed")

    assert (row.id, row.state) == (job_id, JobState.CANCELLED)
    assert await backend.job_promote_due(now + 120) == []
    assert await claim(backend) == []
    assert (await backend.job_get(job_id)).state == JobState.CANCELLED
    assert await backend.job_count(JobFilter(state=JobState.SCHEDULED)) == 0


async def test_bulk_actions_reach_future_jobs(backend: JobStore) -> None:
    now = backend.clock.now()
    cancelled = await backend.push(Email(to="a@example.com"), delay=60)
    batch = await backend.job_cancel_many(JobFilter(state=JobState.SCHEDULED), now, "no")
    assert (batch.selected, batch.changed) == (1, 1)
    assert (await backend.job_get(cancelled)).state == JobState.CANCELLED

    retried = await backend.push(Email(to="b@example.com"), delay=60)
    batch = await backend.job_retry_many(JobFilter(state=JobState.SCHEDULED), now)
    assert batch.changed == 1
    assert (await backend.job_get(retried)).state == JobState.AVAILABLE

    deleted = await backend.push(Email(to="c@example.com"), delay=60)
    batch = await backend.job_delete_many(JobFilter(state=JobState.SCHEDULED))
    assert batch.changed == 1
    with pytest.raises(JobNotFound):
        await backend.job_get(deleted)
    assert [r.id for r in await claim(backend)] == [retried]


async def test_an_operator_retry_makes_a_future_job_due_now(backend: JobStore) -> None:
    now = backend.clock.now()
    job_id = await backend.push(Email(to="a@example.com"), delay=3600)

    row = await backend.job_retry(job_id, now)

    assert (row.id, row.state, row.run_at) == (job_id, JobState.AVAILABLE, now)
    assert [r.id for r in await claim(backend)] == [job_id]


async def test_a_future_job_holds_its_unique_key_against_due_pushes(backend: JobStore) -> None:
    later = await backend.push(Email(to="a@example.com"), delay=60, unique_key="k")

    assert await backend.push(Email(to="b@example.com"), unique_key="k") == later
    assert await backend.push(Email(to="c@example.com"), delay=30, unique_key="k") == later
    assert [r.id for r in await all_jobs(backend)] == [later]
    assert await claim(backend) == []


async def test_a_due_job_holds_its_unique_key_against_future_pushes(backend: JobStore) -> None:
    due = await backend.push(Email(to="a@example.com"), unique_key="k")

    assert await backend.push(Email(to="b@example.com"), delay=60, unique_key="k") == due
    assert [r.id for r in await all_jobs(backend)] == [due]
    assert await backend.job_count(JobFilter(state=JobState.SCHEDULED)) == 0


async def test_a_replacing_push_makes_a_future_holder_due_keeping_its_id(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    now = backend.clock.now()
    later = await backend.push(Email(to="a@example.com"), delay=60, unique_key="k")

    again = await backend.push(Email(to="b@example.com"), unique_key="k", on_conflict="replace")

    assert again == later
    row = await backend.job_get(later)
    assert (row.state, row.run_at) == (JobState.AVAILABLE, now)
    [claimed] = await claim(backend)
    assert claimed.id == later


async def test_a_replacing_push_for_later_moves_a_future_holder_keeping_its_id(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    now = backend.clock.now()
    later = await backend.push(Email(to="a@example.com"), delay=60, unique_key="k")

    again = await backend.push(Email(to="b@example.com"), delay=120, unique_key="k",
                               on_conflict="replace")

    assert again == later
    row = await backend.job_get(later)
    assert (row.state, row.run_at) == (JobState.SCHEDULED, now + 120)
    assert [r.id for r in await all_jobs(backend, state=JobState.SCHEDULED)] == [later]
    assert await backend.job_promote_due(now + 60) == []
    assert await backend.push(Email(to="c@example.com"), unique_key="k") == later
    await trio.sleep(120)
    assert await backend.job_promote_due(backend.clock.now()) == [EMAIL]
    [claimed] = await claim(backend)
    assert claimed.id == later


async def test_a_future_job_that_expires_before_its_run_at_is_discarded_not_run(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    job_id = await backend.push(Email(to="a@example.com"), delay=60, expire_after=30)
    assert await backend.job_next_run_at() == backend.clock.now() + 30

    await trio.sleep(61)
    assert await backend.job_promote_due(backend.clock.now()) == []

    row = await backend.job_get(job_id)
    assert row.state == JobState.DISCARDED
    assert row.errors[-1].error == "Expired"
    assert await claim(backend) == []


async def test_a_rolled_back_transaction_leaves_no_future_job(backend: JobStore) -> None:
    pushed: list[int] = []

    async def push_then_fail() -> None:
        async with backend.transaction() as tx:
            pushed.append(await tx.push(Email(to="a@example.com"), delay=60, unique_key="k"))
            await tx.push_many([Push(task=Email(to="b@example.com"), delay=120)])
            raise Boom

    with pytest.raises(Boom):
        await push_then_fail()

    [job_id] = pushed
    with pytest.raises(JobNotFound):
        await backend.job_get(job_id)
    assert await all_jobs(backend) == []
    assert await backend.job_next_run_at() is None
    fresh = await backend.push(Email(to="c@example.com"), delay=60, unique_key="k")
    assert [r.id for r in await all_jobs(backend)] == [fresh], "the key is free again"


async def test_a_committed_transaction_keeps_its_future_job(backend: JobStore) -> None:
    async with backend.transaction() as tx:
        job_id = await tx.push(Email(to="a@example.com"), delay=60)

    assert (await backend.job_get(job_id)).state == JobState.SCHEDULED
