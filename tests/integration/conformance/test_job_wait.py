"""``store.job_wait``: returns once the job is final, woken by the outcome (no poll step)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import trio
import trio.testing
from support.conformance import failure, make_job, settle

from service.jobs import JobNotFound, JobRow, JobState, JobStore

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

#: Real seconds all tasks must stay blocked before the mock clock jumps: far longer than any
#: query, so virtual time moves only when a waiter sleeps for nothing but time.
AUTOJUMP = 1.0


async def wait_while(
    backend: JobStore, job_id: int, outcome: Callable[[], Awaitable[object]]
) -> tuple[JobRow, float]:
    """Run ``job_wait`` while ``outcome`` is recorded; the row and the virtual time it took."""
    result: list[JobRow] = []

    async def waiter() -> None:
        result.append(await backend.job_wait(job_id, 30))

    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(waiter)
        await trio.testing.wait_all_tasks_blocked()
        await outcome()
    return result[0], trio.current_time() - start


async def test_wait_returns_a_completed_job_at_once(
    backend: JobStore, mock_clock: trio.testing.MockClock
) -> None:
    mock_clock.autojump_threshold = AUTOJUMP
    job_id = await make_job(backend, JobState.RUNNING)
    now = backend.clock.now()

    row, took = await wait_while(backend, job_id, lambda: settle(
        backend, job_id, JobState.COMPLETED, finished_at=now, result='"done"'))

    assert row.state == JobState.COMPLETED
    assert row.result == '"done"'
    assert took == 0


async def test_wait_returns_a_discarded_job(
    backend: JobStore, mock_clock: trio.testing.MockClock
) -> None:
    mock_clock.autojump_threshold = AUTOJUMP
    job_id = await make_job(backend, JobState.RUNNING)
    now = backend.clock.now()

    row, took = await wait_while(backend, job_id, lambda: settle(
        backend, job_id, JobState.DISCARDED, finished_at=now, error=failure("give up")))

    assert row.state == JobState.DISCARDED
    assert took == 0


async def test_wait_returns_a_cancelled_job(
    backend: JobStore, mock_clock: trio.testing.MockClock
) -> None:
    mock_clock.autojump_threshold = AUTOJUMP
    job_id = await make_job(backend, JobState.AVAILABLE)

    row, took = await wait_while(backend, job_id, lambda: backend.job_cancel(
        job_id, backend.clock.now(), "no longer needed"))

    assert row.state == JobState.CANCELLED
    assert took == 0


async def test_a_retry_is_not_an_outcome(
    backend: JobStore, mock_clock: trio.testing.MockClock
) -> None:
    mock_clock.autojump_threshold = AUTOJUMP
    job_id = await make_job(backend, JobState.RUNNING)
    now = backend.clock.now()

    async def retry_then_cancel() -> None:
        await settle(backend, job_id, JobState.RETRYABLE, run_at=now + 60, error=failure("again"))
        await trio.testing.wait_all_tasks_blocked()
        await backend.job_cancel(job_id, now, "enough")

    row, took = await wait_while(backend, job_id, retry_then_cancel)

    assert row.state == JobState.CANCELLED
    assert row.errors[0].detail == "again"
    assert took == 0


@pytest.mark.parametrize("state", [JobState.COMPLETED, JobState.DISCARDED, JobState.CANCELLED])
async def test_a_final_job_returns_at_once(
    backend: JobStore, mock_clock: trio.testing.MockClock, state: JobState
) -> None:
    job_id = await make_job(backend, state)

    start = trio.current_time()  # the mock clock never moves on its own here

    row = await backend.job_wait(job_id, 30)

    assert trio.current_time() == start

    assert row == await backend.job_get(job_id)


async def test_timeout_returns_the_job_as_it_is(
    backend: JobStore, mock_clock: trio.testing.MockClock
) -> None:
    mock_clock.autojump_threshold = 0.05
    job_id = await make_job(backend, JobState.AVAILABLE)
    start = trio.current_time()

    row = await backend.job_wait(job_id, 5)

    assert row.state == JobState.AVAILABLE
    assert row.id == job_id
    assert 5 <= trio.current_time() - start < 6


async def test_unknown_job_raises(backend: JobStore) -> None:
    with pytest.raises(JobNotFound):
        await backend.job_wait(999_999, 1)


@pytest.mark.parametrize("bad", [-1, float("nan")])
async def test_a_bad_timeout_is_refused(backend: JobStore, bad: float) -> None:
    job_id = await make_job(backend, JobState.AVAILABLE)
    with pytest.raises(ValueError, match="timeout"):
        await backend.job_wait(job_id, bad)
