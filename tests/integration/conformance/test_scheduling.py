"""Waiting jobs: promotion of due scheduled/retryable jobs, and the next run_at."""

from __future__ import annotations

import trio
import trio.testing
from support.conformance import (
    EMAIL,
    REPORT,
    Email,
    Report,
    all_jobs,
    claim,
    failure,
    jobs_in_states,
    make_job,
    settle,
)

from service.jobs import JobState, JobStore
from service.jobs._states import WAITING


async def test_promote_due_makes_due_scheduled_and_retryable_jobs_available(
    backend: JobStore,
) -> None:
    now = backend.clock.now()
    scheduled = await backend.push(Email(to="a@example.com"), delay=10)
    retryable = await make_job(backend, JobState.RUNNING, Report(month=1))
    assert await settle(
        backend, retryable, JobState.RETRYABLE, run_at=now + 20, error=failure("boom")
    )
    future_scheduled = await backend.push(Email(to="b@example.com"), delay=100)
    future_retryable = await make_job(backend, JobState.RUNNING, Report(month=2))
    assert await settle(backend, future_retryable, JobState.RETRYABLE, run_at=now + 100)

    promoted = await backend.job_promote_due(now + 30)

    assert set(promoted) == {EMAIL, REPORT}
    assert (await backend.job_get(scheduled)).state == JobState.AVAILABLE
    row = await backend.job_get(retryable)
    assert row.state == JobState.AVAILABLE
    assert row.attempt == 1, "promotion does not touch the attempt count"
    assert row.errors[-1].message == "boom"
    assert (await backend.job_get(future_scheduled)).state == JobState.SCHEDULED
    assert (await backend.job_get(future_retryable)).state == JobState.RETRYABLE


async def test_promote_due_names_each_task_that_got_jobs(backend: JobStore) -> None:
    await backend.push(Email(to="a@example.com"), delay=10)
    await backend.push(Email(to="b@example.com"), delay=10)
    now = backend.clock.now()

    assert set(await backend.job_promote_due(now + 60)) == {EMAIL}


async def test_promote_due_with_nothing_due_returns_no_tasks(backend: JobStore) -> None:
    now = backend.clock.now()
    assert await backend.job_promote_due(now) == []

    await backend.push(Email(to="a@example.com"), delay=60)

    assert await backend.job_promote_due(now + 30) == []


async def test_promote_due_leaves_jobs_in_other_states_alone(backend: JobStore) -> None:
    await jobs_in_states(backend, set(JobState) - WAITING)
    rows_before = await all_jobs(backend)

    assert await backend.job_promote_due(backend.clock.now() + 86_400) == []
    assert await all_jobs(backend) == rows_before


async def test_scheduled_jobs_become_due_as_the_clock_moves(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    job_id = await backend.push(Email(to="a@example.com"), delay=60)

    await trio.sleep(59)
    assert await backend.job_promote_due(backend.clock.now()) == []
    assert (await backend.job_get(job_id)).state == JobState.SCHEDULED

    await trio.sleep(2)
    assert await backend.job_promote_due(backend.clock.now()) == [EMAIL]
    assert [row.id for row in await claim(backend)] == [job_id]


async def test_next_run_at_is_none_without_waiting_jobs(backend: JobStore) -> None:
    assert await backend.job_next_run_at() is None

    await jobs_in_states(backend, set(JobState) - WAITING)

    assert await backend.job_next_run_at() is None


async def test_next_run_at_is_the_earliest_waiting_run_at(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    now = backend.clock.now()
    await backend.push(Email(to="a@example.com"), delay=50)
    await backend.push(Report(month=1), delay=40)
    retryable = await make_job(backend, JobState.RUNNING, Email(to="b@example.com"))
    assert await settle(backend, retryable, JobState.RETRYABLE, run_at=now + 20)
    assert await backend.job_next_run_at() == now + 20

    await backend.job_promote_due(now + 25)
    assert await backend.job_next_run_at() == now + 40

    await backend.job_promote_due(now + 45)
    assert await backend.job_next_run_at() == now + 50

    await backend.job_promote_due(now + 55)
    assert await backend.job_next_run_at() is None


async def test_next_run_at_ignores_cancelled_waiting_jobs(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    now = backend.clock.now()
    soon = await backend.push(Email(to="a@example.com"), delay=10)
    await backend.push(Email(to="b@example.com"), delay=70)

    await backend.job_cancel(soon, now, "not needed")

    assert await backend.job_next_run_at() == now + 70
