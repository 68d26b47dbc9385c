"""Discarding available jobs of tasks no worker knows, after a grace period."""

from __future__ import annotations

from typing import TYPE_CHECKING

from support.conformance import EMAIL, REPORT, Email, Report, jobs_in_states

from service.jobs import JobState, JobStore
from service.jobs._store import Rescued

if TYPE_CHECKING:
    import trio.testing


async def test_available_jobs_of_unknown_tasks_past_the_grace_are_discarded(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    now = backend.clock.now()
    old_unknown = await backend.push(Report(month=1), run_at=now - 120)
    fresh_unknown = await backend.push(Report(month=2), run_at=now - 10)
    known = await backend.push(Email(to="a@example.com"), run_at=now - 120)

    discarded = await backend.job_discard_unknown([EMAIL], now - 60, now)

    assert discarded == [Rescued(id=old_unknown, task=REPORT, state=JobState.DISCARDED)]
    row = await backend.job_get(old_unknown)
    assert row.state == JobState.DISCARDED
    assert row.finished_at == now
    assert REPORT in row.errors[-1].message
    assert (await backend.job_get(fresh_unknown)).state == JobState.AVAILABLE
    assert (await backend.job_get(known)).state == JobState.AVAILABLE


async def test_discard_unknown_leaves_jobs_that_are_not_available_alone(
    backend: JobStore,
) -> None:
    await jobs_in_states(backend, set(JobState) - {JobState.AVAILABLE}, lambda n: Report(month=n))
    now = backend.clock.now()

    assert await backend.job_discard_unknown([EMAIL], now + 86_400, now) == []


async def test_discard_unknown_takes_at_most_limit_jobs(backend: JobStore) -> None:
    await backend.push_many([Report(month=m) for m in range(1, 6)])
    now = backend.clock.now()

    first = await backend.job_discard_unknown([], now + 1, now, limit=2)
    rest = await backend.job_discard_unknown([], now + 1, now, limit=10)

    assert len(first) == 2
    assert len(rest) == 3
