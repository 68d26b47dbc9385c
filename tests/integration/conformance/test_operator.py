"""Operator actions: retry and cancel, each a compare-and-set on the current state."""

from __future__ import annotations

import pytest
from support.conformance import (
    EMAIL,
    RESIZE,
    Email,
    Listener,
    Report,
    Resize,
    claim,
    claim_id,
    failure,
    make_job,
    settle,
)

from service.jobs import (
    InvalidTransition,
    JobAdmin,
    JobNotFound,
    JobState,
    JobStore,
    ServiceError,
    TaskRegistry,
)

RETRYABLE_BY_OPERATOR = [
    JobState.COMPLETED,
    JobState.CANCELLED,
    JobState.DISCARDED,
    JobState.SCHEDULED,
    JobState.RETRYABLE,
]
CANCELLABLE = [JobState.SCHEDULED, JobState.AVAILABLE, JobState.RUNNING, JobState.RETRYABLE]
FINISHED = [JobState.COMPLETED, JobState.CANCELLED, JobState.DISCARDED]


@pytest.mark.parametrize("state", RETRYABLE_BY_OPERATOR)
async def test_retry_makes_a_finished_or_waiting_job_available_now(
    backend: JobStore, state: JobState
) -> None:
    job_id = await make_job(backend, state)
    now = backend.clock.now() + 7

    row = await backend.job_retry(job_id, now)

    assert row.id == job_id
    assert row.state == JobState.AVAILABLE
    assert row.run_at == now
    assert row.finished_at is None
    assert row.result is None
    assert row.lease_owner is None
    assert row.lease_expires_at is None
    assert await backend.job_get(job_id) == row
    [claimed] = await claim(backend, now=now)
    assert claimed.id == job_id


async def test_retry_of_a_job_out_of_attempts_grants_one_more(backend: JobStore) -> None:
    job_id = await make_job(backend, JobState.DISCARDED, Resize(image="a.png"))
    assert (await backend.job_get(job_id)).max_attempts == 1
    now = backend.clock.now()

    row = await backend.job_retry(job_id, now)

    assert row.attempt == 1
    assert row.max_attempts > row.attempt
    [claimed] = await claim(backend, RESIZE, now=now)
    assert claimed.attempt == 2
    assert claimed.attempt <= claimed.max_attempts


async def test_retry_keeps_max_attempts_while_attempts_remain(backend: JobStore) -> None:
    job_id = await make_job(backend, JobState.COMPLETED, Report(month=1))

    row = await backend.job_retry(job_id, backend.clock.now())

    assert row.attempt == 1
    assert row.max_attempts == 3


async def test_the_admin_retry_says_when_it_raised_max_attempts(backend: JobStore) -> None:
    admin = JobAdmin(backend, TaskRegistry([Resize, Report]))
    out_of_attempts = await make_job(backend, JobState.DISCARDED, Resize(image="a.png"))
    attempts_left = await make_job(backend, JobState.COMPLETED, Report(month=1))

    raised = await admin.retry_explained(out_of_attempts)
    kept = await admin.retry_explained(attempts_left)

    assert (raised.row.state, raised.row.attempt, raised.row.max_attempts) == (
        JobState.AVAILABLE, 1, 2)
    assert raised.raised_from == 1
    assert raised.notice is not None
    assert "max_attempts raised from 1 to 2" in raised.notice
    assert (kept.row.max_attempts, kept.raised_from, kept.notice) == (3, None, None)


async def test_retry_keeps_the_error_history(backend: JobStore) -> None:
    job_id = await make_job(backend, JobState.DISCARDED)

    row = await backend.job_retry(job_id, backend.clock.now())

    assert row.errors == [failure("give up")]


@pytest.mark.parametrize("state", [JobState.AVAILABLE, JobState.RUNNING])
async def test_retry_of_an_available_or_running_job_is_an_invalid_transition(
    backend: JobStore, state: JobState
) -> None:
    job_id = await make_job(backend, state)
    before = await backend.job_get(job_id)

    with pytest.raises(InvalidTransition) as info:
        await backend.job_retry(job_id, backend.clock.now() + 5)

    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, ServiceError)
    assert await backend.job_get(job_id) == before


async def test_retry_of_a_missing_job_raises_job_not_found(backend: JobStore) -> None:
    with pytest.raises(JobNotFound):
        await backend.job_retry(424242, backend.clock.now())


async def test_retry_wakes_push_listeners(backend: JobStore) -> None:
    job_id = await make_job(backend, JobState.COMPLETED)
    listener = Listener()
    backend.add_push_listener(listener)
    now = backend.clock.now()

    await backend.job_retry(job_id, now)

    assert listener.calls == [(frozenset({EMAIL}), now)]


async def test_retry_while_a_newer_job_holds_the_unique_key_is_refused(
    backend: JobStore,
) -> None:
    old = await make_job(backend, JobState.COMPLETED, unique_key="k")
    new = await backend.push(Email(to="new@example.com"), unique_key="k")
    before = await backend.job_get(old)

    with pytest.raises(InvalidTransition):
        await backend.job_retry(old, backend.clock.now())

    assert await backend.job_get(old) == before
    assert (await backend.job_get(new)).state == JobState.AVAILABLE


async def test_retry_of_a_finished_job_takes_its_free_unique_key_back(backend: JobStore) -> None:
    job_id = await make_job(backend, JobState.CANCELLED, unique_key="k")

    await backend.job_retry(job_id, backend.clock.now())

    assert await backend.push(Email(to="x@example.com"), unique_key="k") == job_id


@pytest.mark.parametrize("state", CANCELLABLE)
async def test_cancel_stops_an_unfinished_job_and_records_the_reason(
    backend: JobStore, state: JobState
) -> None:
    job_id = await make_job(backend, state)
    errors_before = (await backend.job_get(job_id)).errors
    now = backend.clock.now() + 11

    row = await backend.job_cancel(job_id, now, "customer closed the account")

    assert row.id == job_id
    assert row.state == JobState.CANCELLED
    assert row.finished_at == now
    assert row.lease_owner is None
    assert row.lease_expires_at is None
    assert row.errors[:-1] == errors_before
    assert row.errors[-1].kind == "cancelled"
    assert row.errors[-1].message == "customer closed the account"
    assert await backend.job_get(job_id) == row
    assert await claim(backend, limit=10, now=now) == []


async def test_cancel_frees_the_unique_key(backend: JobStore) -> None:
    job_id = await make_job(backend, JobState.AVAILABLE, unique_key="k")

    await backend.job_cancel(job_id, backend.clock.now(), "superseded")

    assert await backend.push(Email(to="x@example.com"), unique_key="k") != job_id


async def test_a_cancelled_running_job_loses_its_lease(backend: JobStore) -> None:
    job_id = await make_job(backend, JobState.RUNNING, owner="w1")
    now = backend.clock.now()

    await backend.job_cancel(job_id, now, "stop")

    assert await backend.job_renew_leases("w1", [job_id], now + 60) == []
    assert await backend.job_rescue_expired(now + 3600, max_rescues=5) == []
    assert (await backend.job_get(job_id)).state == JobState.CANCELLED


@pytest.mark.parametrize("state", FINISHED)
async def test_cancel_of_a_finished_job_is_an_invalid_transition(
    backend: JobStore, state: JobState
) -> None:
    job_id = await make_job(backend, state)
    before = await backend.job_get(job_id)

    with pytest.raises(InvalidTransition):
        await backend.job_cancel(job_id, backend.clock.now() + 5, "too late")

    assert await backend.job_get(job_id) == before


async def test_cancel_of_a_missing_job_raises_job_not_found(backend: JobStore) -> None:
    with pytest.raises(JobNotFound) as info:
        await backend.job_cancel(424242, backend.clock.now(), "nope")

    assert info.value.job_id == 424242
    assert isinstance(info.value, LookupError)


async def test_a_retried_cancelled_job_runs_again(backend: JobStore) -> None:
    job_id = await make_job(backend, JobState.RUNNING)
    now = backend.clock.now()
    await backend.job_cancel(job_id, now, "oops")
    await backend.job_retry(job_id, now + 1)

    row = await claim_id(backend, job_id, owner="w2", now=now + 2)

    assert row.attempt == 2
    assert await settle(backend, job_id, JobState.COMPLETED, owner="w2", finished_at=now + 3)
