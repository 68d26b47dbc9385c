"""``push_result``: a push that returns the stored row and whether it added the job."""

from __future__ import annotations

import pytest
import trio
import trio.testing
from support.conformance import EMAIL, REPORT, Email, Listener, Report, all_jobs, args_of, make_job

from service.jobs import JobState, JobStore, PayloadError, PushResult
from service.jobs._states import FINISHED, UNFINISHED


async def test_push_result_of_a_new_job_is_its_stored_row(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    now = backend.clock.now()

    result = await backend.push_result(Email(to="ann@example.com"))

    assert isinstance(result, PushResult)
    assert result.inserted
    assert result.row == await backend.job_get(result.row.id)
    assert result.row.task == EMAIL
    assert result.row.state == JobState.AVAILABLE
    assert result.row.run_at == now
    assert result.row.created_at == now
    assert result.row.attempt == 0
    assert result.row.errors == []
    assert args_of(result.row) == {"to": "ann@example.com", "subject": "hello"}


async def test_push_result_takes_every_push_option(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    now = backend.clock.now()

    result = await backend.push_result(
        Report(month=3), delay=90, priority=7, unique_key="march", max_attempts=9
    )

    row = result.row
    assert result.inserted
    assert (row.task, row.state, row.run_at) == (REPORT, JobState.SCHEDULED, now + 90)
    assert (row.priority, row.unique_key, row.max_attempts) == (7, "march", 9)
    assert row == await backend.job_get(row.id)

    at = await backend.push_result(Report(month=4), run_at=now + 30)
    assert at.row.run_at == now + 30
    assert at.row.state == JobState.SCHEDULED


#: A workflow member, the only pending job, takes no unique key.
@pytest.mark.parametrize("state", sorted(UNFINISHED - {JobState.PENDING}))
async def test_push_result_on_a_unique_hit_returns_the_holder_untouched(
    backend: JobStore, state: JobState
) -> None:
    first = await make_job(backend, state, Email(to="ann@example.com"), unique_key="welcome")
    holder = await backend.job_get(first)

    result = await backend.push_result(Email(to="someone-else@example.com"), unique_key="welcome")

    assert not result.inserted
    assert result.row == holder
    assert [row.id for row in await all_jobs(backend)] == [first]


@pytest.mark.parametrize("state", sorted(FINISHED))
async def test_push_result_inserts_when_the_key_holder_has_finished(
    backend: JobStore, state: JobState
) -> None:
    first = await make_job(backend, state, Email(to="ann@example.com"), unique_key="welcome")

    result = await backend.push_result(Email(to="ann@example.com"), unique_key="welcome")

    assert result.inserted
    assert result.row.id != first
    assert result.row.state == JobState.AVAILABLE
    assert result.row == await backend.job_get(result.row.id)


async def test_push_result_and_push_agree_on_a_unique_key(backend: JobStore) -> None:
    job_id = await backend.push(Email(to="ann@example.com"), unique_key="k")

    assert (await backend.push_result(Email(to="ann@example.com"), unique_key="k")).row.id == job_id
    result = await backend.push_result(Email(to="bob@example.com"), unique_key="k2")
    assert await backend.push(Email(to="bob@example.com"), unique_key="k2") == result.row.id


async def test_push_result_wakes_listeners_only_when_it_inserts(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    listener = Listener()
    backend.add_push_listener(listener)
    now = backend.clock.now()

    await backend.push_result(Email(to="ann@example.com"), unique_key="k", delay=5)
    await backend.push_result(Email(to="ann@example.com"), unique_key="k")

    assert listener.calls == [(frozenset([EMAIL]), now + 5)]


async def test_concurrent_push_results_of_one_unique_key_insert_once(backend: JobStore) -> None:
    results: list[PushResult] = []

    async def push(n: int) -> None:
        results.append(await backend.push_result(Email(to=f"u{n}@example.com"), unique_key="one"))

    async with trio.open_nursery() as nursery:
        for n in range(8):
            nursery.start_soon(push, n)

    assert sum(r.inserted for r in results) == 1
    assert len({r.row.id for r in results}) == 1
    assert len(await all_jobs(backend)) == 1


async def test_push_result_refuses_an_invalid_option_before_writing(backend: JobStore) -> None:
    with pytest.raises(ValueError, match="delay must be >= 0"):
        await backend.push_result(Email(to="ann@example.com"), delay=-1)
    with pytest.raises(ValueError, match="give delay or run_at, not both"):
        await backend.push_result(Email(to="ann@example.com"), delay=1, run_at=1.0)

    assert await all_jobs(backend) == []


async def test_push_result_refuses_a_task_that_does_not_encode(backend: JobStore) -> None:
    with pytest.raises(PayloadError):
        await backend.push_result(Email(to=object()))  # type: ignore[arg-type]

    assert await all_jobs(backend) == []
