"""Recording attempt outcomes: ``job_set_state_if_running_many`` is a compare-and-set."""

from __future__ import annotations

import json

import pytest
from support.conformance import (
    LEASE,
    Email,
    claim,
    claim_id,
    failure,
    make_job,
    settle,
)

from service.jobs import AttemptError, ErrorKind, JobState, JobStore, ServiceError, StoreUnavailable
from service.jobs._store import SetStateIfRunning


def first_attempt(job_id: int, owner: str, state: JobState, **change: float) -> SetStateIfRunning:
    """The outcome of a job's first attempt."""
    return SetStateIfRunning(id=job_id, owner=owner, attempt=1, state=state, **change)


async def test_outcome_by_another_owner_does_not_match(backend: JobStore) -> None:
    job_id = await make_job(backend, JobState.RUNNING, owner="w1")
    before = await backend.job_get(job_id)

    assert not await settle(
        backend, job_id, JobState.COMPLETED, owner="w2", finished_at=before.run_at
    )
    assert await backend.job_get(job_id) == before


@pytest.mark.parametrize("state", [s for s in JobState if s != JobState.RUNNING])
async def test_outcome_for_a_job_that_is_not_running_does_not_match(
    backend: JobStore, state: JobState
) -> None:
    job_id = await make_job(backend, state, owner="w1")
    before = await backend.job_get(job_id)

    assert not await settle(
        backend, job_id, JobState.COMPLETED, owner="w1", finished_at=before.run_at
    )
    assert await backend.job_get(job_id) == before


async def test_outcome_for_a_missing_job_does_not_match(backend: JobStore) -> None:
    job_id = await make_job(backend, JobState.RUNNING)

    assert not await settle(backend, job_id + 1000, JobState.COMPLETED, attempt=1)


async def test_a_stale_outcome_does_not_land_on_a_later_attempt_by_the_same_owner(
    backend: JobStore,
) -> None:
    [job_id] = await backend.push_many([Email(to="someone@example.com")])
    first = await claim_id(backend, job_id, owner="w1")
    later = backend.clock.now() + LEASE + 1
    assert [r.id for r in await backend.job_rescue_expired(later, max_rescues=5)] == [job_id]
    second = await claim_id(backend, job_id, owner="w1", now=later)
    assert (first.attempt, second.attempt) == (1, 2)

    assert not await settle(backend, job_id, JobState.COMPLETED, attempt=1, finished_at=later)
    row = await backend.job_get(job_id)
    assert (row.state, row.attempt, row.lease_owner) == (JobState.RUNNING, 2, "w1")
    assert await settle(backend, job_id, JobState.COMPLETED, attempt=2, finished_at=later)
    assert (await backend.job_get(job_id)).state == JobState.COMPLETED


async def test_an_outcome_applies_once(backend: JobStore) -> None:
    job_id = await make_job(backend, JobState.RUNNING)
    now = backend.clock.now()

    assert await settle(backend, job_id, JobState.COMPLETED, finished_at=now)
    assert not await settle(backend, job_id, JobState.DISCARDED, finished_at=now)
    assert (await backend.job_get(job_id)).state == JobState.COMPLETED


async def test_many_outcomes_return_one_flag_each_in_order(backend: JobStore) -> None:
    ids = await backend.push_many([Email(to=f"u{n}@example.com") for n in range(3)])
    await claim(backend, owner="w1", limit=2)
    now = backend.clock.now()

    matched = await backend.job_set_state_if_running_many(
        [
            first_attempt(ids[0], "w1", JobState.COMPLETED, finished_at=now),
            first_attempt(ids[2], "w1", JobState.COMPLETED, finished_at=now),
            first_attempt(ids[1], "w9", JobState.COMPLETED, finished_at=now),
            first_attempt(ids[1], "w1", JobState.RETRYABLE, run_at=now + 9),
        ]
    )

    assert matched == [True, False, False, True]
    states = [(await backend.job_get(i)).state for i in ids]
    assert states == [JobState.COMPLETED, JobState.RETRYABLE, JobState.AVAILABLE]


async def test_no_outcomes_return_no_flags(backend: JobStore) -> None:
    assert await backend.job_set_state_if_running_many([]) == []


async def test_completing_stores_the_result_and_clears_the_lease(backend: JobStore) -> None:
    job_id = await make_job(backend, JobState.RUNNING)
    now = backend.clock.now() + 3

    assert await settle(
        backend,
        job_id,
        JobState.COMPLETED,
        finished_at=now,
        result=json.dumps({"sent": True, "to": ["ann"]}),
    )

    row = await backend.job_get(job_id)
    assert row.state == JobState.COMPLETED
    assert row.finished_at == now
    assert row.result is not None
    assert json.loads(row.result) == {"sent": True, "to": ["ann"]}
    assert row.lease_owner is None
    assert row.lease_expires_at is None
    assert row.attempt == 1
    assert row.errors == []


async def test_a_failed_attempt_waits_as_retryable_until_its_run_at(backend: JobStore) -> None:
    job_id = await make_job(backend, JobState.RUNNING)
    now = backend.clock.now()

    assert await settle(
        backend, job_id, JobState.RETRYABLE, run_at=now + 45, error=failure("smtp down")
    )

    row = await backend.job_get(job_id)
    assert row.state == JobState.RETRYABLE
    assert row.run_at == now + 45
    assert row.finished_at is None
    assert row.attempt == 1
    assert row.lease_owner is None
    assert row.lease_expires_at is None
    assert row.errors == [failure("smtp down")]


async def test_an_outcome_without_run_at_keeps_the_run_at(backend: JobStore) -> None:
    job_id = await make_job(backend, JobState.RUNNING)
    run_at = (await backend.job_get(job_id)).run_at

    assert await settle(backend, job_id, JobState.DISCARDED, finished_at=run_at + 1)

    assert (await backend.job_get(job_id)).run_at == run_at


async def test_errors_accumulate_in_order_across_attempts(backend: JobStore) -> None:
    job_id = await backend.push(Email(to="a@example.com"))
    now = backend.clock.now()
    errors = [failure(f"failure {n}", attempt=n, at=now + n) for n in (1, 2, 3)]

    for n, error in enumerate(errors, start=1):
        claimed = await claim_id(backend, job_id, now=now + n)
        assert claimed.attempt == n
        assert (await backend.job_get(job_id)).errors == errors[: n - 1]
        if n < 3:
            assert await settle(backend, job_id, JobState.RETRYABLE, run_at=now, error=error)
            assert await backend.job_promote_due(now + n) != []
        else:
            assert await settle(
                backend, job_id, JobState.DISCARDED, finished_at=now + n, error=error
            )

    row = await backend.job_get(job_id)
    assert row.state == JobState.DISCARDED
    assert row.errors == errors


async def test_an_outcome_without_an_error_keeps_the_errors(backend: JobStore) -> None:
    job_id = await backend.push(Email(to="a@example.com"))
    now = backend.clock.now()
    await claim_id(backend, job_id, now=now)
    assert await settle(backend, job_id, JobState.RETRYABLE, run_at=now, error=failure("x"))
    await backend.job_promote_due(now + 1)
    await claim_id(backend, job_id, now=now + 1)

    assert await settle(backend, job_id, JobState.COMPLETED, finished_at=now)

    assert (await backend.job_get(job_id)).errors == [failure("x")]


async def test_a_snooze_refunds_the_attempt(backend: JobStore) -> None:
    job_id = await make_job(backend, JobState.RUNNING)
    now = backend.clock.now()

    assert await settle(backend, job_id, JobState.SCHEDULED, run_at=now + 30, refund_attempt=True)

    row = await backend.job_get(job_id)
    assert row.state == JobState.SCHEDULED
    assert row.attempt == 0
    assert row.run_at == now + 30
    assert row.lease_owner is None
    assert row.errors == []


async def test_an_interrupted_attempt_is_refunded_and_claimable_again(backend: JobStore) -> None:
    job_id = await make_job(backend, JobState.RUNNING)
    now = backend.clock.now()
    interruption = AttemptError(attempt=1, at=now, kind=ErrorKind.INTERRUPTED,
                                error="Interrupted", detail="worker shutting down")

    assert await settle(
        backend, job_id, JobState.AVAILABLE, run_at=now, refund_attempt=True, error=interruption
    )

    row = await backend.job_get(job_id)
    assert row.state == JobState.AVAILABLE
    assert row.attempt == 0
    assert row.errors == [interruption]
    [again] = await claim(backend, owner="w2", now=now)
    assert again.id == job_id
    assert again.attempt == 1


async def test_a_job_cancelled_while_running_rejects_the_workers_outcome(
    backend: JobStore,
) -> None:
    job_id = await make_job(backend, JobState.RUNNING)
    now = backend.clock.now()
    await backend.job_cancel(job_id, now, "operator said stop")

    assert not await settle(backend, job_id, JobState.COMPLETED, finished_at=now)

    row = await backend.job_get(job_id)
    assert row.state == JobState.CANCELLED
    assert row.result is None


async def test_an_outcome_whose_error_is_not_json_is_refused_and_none_of_the_batch_applies(
    backend: JobStore,
) -> None:
    ids = await backend.push_many([Email(to=f"u{n}@example.com") for n in range(2)])
    await claim(backend, owner="w1", limit=2)
    now = backend.clock.now()
    before = [await backend.job_get(i) for i in ids]

    with pytest.raises(ValueError, match="cannot be stored as JSON") as info:
        await backend.job_set_state_if_running_many(
            [
                first_attempt(ids[0], "w1", JobState.COMPLETED, finished_at=now),
                SetStateIfRunning(
                    id=ids[1],
                    owner="w1",
                    attempt=1,
                    state=JobState.RETRYABLE,
                    run_at=now + 5,
                    error=AttemptError(attempt=1, at=float("nan"), kind=ErrorKind.ERROR,
                                       error="ValueError", detail="bad number"),
                ),
            ]
        )

    assert isinstance(info.value, ServiceError)
    assert not isinstance(info.value, StoreUnavailable), "a bad value is not a store outage"
    assert [await backend.job_get(i) for i in ids] == before
