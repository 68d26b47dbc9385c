"""Expiry: a job whose next attempt has not started by its ``expires_at`` is discarded unrun."""

from __future__ import annotations

import datetime as dt

import pytest
import trio
import trio.testing
from support.conformance import (
    EMAIL,
    REPORT,
    Email,
    Listener,
    Report,
    all_jobs,
    claim,
    claim_id,
    failure,
    make_job,
    settle,
)

from service.jobs import ErrorKind, JobState, JobStore, Push
from service.jobs._states import FINISHED


async def test_a_job_is_stored_with_its_expiry(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    now = backend.clock.now()
    after = await backend.push(Email(to="a@example.com"), expire_after=90)
    at = await backend.push(Email(to="b@example.com"), expires_at=now + 120)
    aware = await backend.push(
        Email(to="c@example.com"),
        expires_at=dt.datetime.fromtimestamp(now + 150, tz=dt.timezone(dt.timedelta(hours=2))),
    )
    never = await backend.push(Email(to="d@example.com"))

    assert (await backend.job_get(after)).expires_at == now + 90
    assert (await backend.job_get(at)).expires_at == now + 120
    assert (await backend.job_get(aware)).expires_at == now + 150
    assert (await backend.job_get(never)).expires_at is None


async def test_push_many_push_result_and_transactions_take_the_expiry(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    now = backend.clock.now()
    [many] = await backend.push_many([Push(task=Email(to="a@example.com"), expire_after=10)])
    result = await backend.push_result(Email(to="b@example.com"), expires_at=now + 20)
    async with backend.transaction() as tx:
        in_tx = await tx.push(Email(to="c@example.com"), expire_after=30)
        [tx_many] = await tx.push_many([Push(task=Email(to="d@example.com"), expire_after=40)])
        tx_result = await tx.push_result(Email(to="e@example.com"), expire_after=50)

    assert (await backend.job_get(many)).expires_at == now + 10
    assert result.row.expires_at == now + 20
    assert (await backend.job_get(in_tx)).expires_at == now + 30
    assert (await backend.job_get(tx_many)).expires_at == now + 40
    assert tx_result.row.expires_at == now + 50


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"expires_at": 1.0, "expire_after": 1.0}, "expires_at or expire_after"),
        ({"expire_after": -1}, "expire_after must be >= 0"),
        ({"expire_after": float("nan")}, "expire_after must be a finite number"),
        ({"expire_after": True}, "expire_after must be a finite number"),
        ({"expires_at": "tomorrow"}, "expires_at must be a datetime or epoch seconds"),
        ({"expires_at": dt.datetime(2030, 1, 1)}, "expires_at must be an aware datetime"),
        ({"expires_at": float("inf")}, "expires_at must be finite"),
        ({"expires_at": -5.0}, "expires_at must be from 1970 to 9999"),
    ],
)
async def test_an_invalid_expiry_is_refused_naming_the_option(
    backend: JobStore, options: dict[str, object], words: str
) -> None:
    with pytest.raises(ValueError, match=words):
        await backend.push(Email(to="a@example.com"), **options)  # type: ignore[arg-type]
    assert await all_jobs(backend) == []


async def test_an_expired_available_job_is_never_claimed_and_is_discarded_as_expired(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    pushed_at = backend.clock.now()
    job_id = await backend.push(Email(to="a@example.com"), expire_after=60)

    await trio.sleep(61)
    assert await claim(backend) == []
    now = backend.clock.now()
    [discarded] = await backend.job_discard_expired(now)

    assert (discarded.id, discarded.task, discarded.state) == (job_id, EMAIL, JobState.DISCARDED)
    row = await backend.job_get(job_id)
    assert row.state == JobState.DISCARDED
    assert row.finished_at == now
    assert row.attempt == 0
    assert row.attempted_at is None
    [error] = row.errors
    assert (error.kind, error.error, error.attempt, error.at) == (
        ErrorKind.EXPIRED, "Expired", 0, now)
    assert "expired" in error.message
    assert row.expires_at == pushed_at + 60
    assert await backend.job_discard_expired(now) == []


async def test_expiry_at_the_boundary_claims_before_and_discards_at_expires_at(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    now = backend.clock.now()
    early = await backend.push(Email(to="early@example.com"), expires_at=now + 60)
    late = await backend.push(Report(month=1), expires_at=now + 60)

    [claimed] = await claim(backend, EMAIL, now=now + 59.999)
    assert claimed.id == early
    assert await claim(backend, REPORT, now=now + 60) == [], "not started by then: expired"

    [discarded] = await backend.job_discard_expired(now + 60)
    assert discarded.id == late
    assert await backend.job_discard_expired(now + 600) == [], "a running job is not expired"
    assert (await backend.job_get(early)).state == JobState.RUNNING


async def test_a_scheduled_job_that_expires_before_its_run_at_never_becomes_available(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    now = backend.clock.now()
    job_id = await backend.push(Email(to="a@example.com"), delay=120, expire_after=60)

    assert await backend.job_discard_expired(now + 59) == []
    [discarded] = await backend.job_discard_expired(now + 60)

    assert discarded.id == job_id
    assert await backend.job_promote_due(now + 120) == []
    assert (await backend.job_get(job_id)).state == JobState.DISCARDED


async def test_a_job_due_and_expiring_at_once_never_runs(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    now = backend.clock.now()
    job_id = await backend.push(Email(to="a@example.com"), delay=30, expire_after=30)

    assert await claim(backend, now=now + 30) == []
    assert await backend.job_promote_due(now + 30) == [], "promotion discards it first"
    row = await backend.job_get(job_id)
    assert row.state == JobState.DISCARDED
    assert [e.kind for e in row.errors] == [ErrorKind.EXPIRED]


async def test_a_retryable_job_expires_before_its_next_attempt(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    now = backend.clock.now()
    job_id = await make_job(backend, JobState.RUNNING, Report(month=1), expire_after=100)
    assert await settle(backend, job_id, JobState.RETRYABLE, run_at=now + 3600,
                        error=failure("try again"))

    [discarded] = await backend.job_discard_expired(now + 100)

    assert discarded.id == job_id
    row = await backend.job_get(job_id)
    assert row.state == JobState.DISCARDED
    assert [e.kind for e in row.errors] == [ErrorKind.ERROR, ErrorKind.EXPIRED]
    assert row.errors[-1].attempt == 1


@pytest.mark.parametrize("state", [JobState.RUNNING, *sorted(FINISHED)])
async def test_an_expiry_leaves_started_and_finished_jobs_alone(
    backend: JobStore, autojump_clock: trio.testing.MockClock, state: JobState
) -> None:
    now = backend.clock.now()
    job_id = await make_job(backend, state, expire_after=10)
    before = await backend.job_get(job_id)

    assert await backend.job_discard_expired(now + 3600) == []
    assert await backend.job_get(job_id) == before


async def test_discard_expired_takes_at_most_limit_jobs_earliest_first(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    now = backend.clock.now()
    ids = [await backend.push(Email(to=f"u{n}@example.com"), expire_after=50 - n)
           for n in range(5)]

    first = await backend.job_discard_expired(now + 100, limit=2)
    rest = await backend.job_discard_expired(now + 100, limit=10)

    assert {r.id for r in first} == {ids[4], ids[3]}
    assert sorted(r.id for r in rest) == sorted(ids[:3])


async def test_next_run_at_counts_the_earliest_expiry_of_an_unstarted_job(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    now = backend.clock.now()
    await backend.push(Email(to="a@example.com"), delay=100)
    assert await backend.job_next_run_at() == now + 100

    available = await backend.push(Report(month=1), expire_after=40)
    assert await backend.job_next_run_at() == now + 40

    await backend.push(Email(to="b@example.com"), delay=200, expire_after=30)
    assert await backend.job_next_run_at() == now + 30

    await backend.job_discard_expired(now + 30)
    assert await backend.job_next_run_at() == now + 40
    await claim_id(backend, available, now=now + 1)
    assert await backend.job_next_run_at() == now + 100, "a running job's expiry is moot"


async def test_a_push_with_an_expiry_tells_listeners_when_it_expires(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    now = backend.clock.now()
    listener = Listener()
    backend.add_push_listener(listener)

    await backend.push(Email(to="a@example.com"), expire_after=45)

    assert listener.calls == [(frozenset([EMAIL]), now), (frozenset(), now + 45)]


async def test_an_operators_retry_of_an_expired_job_runs_it_regardless(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    now = backend.clock.now()
    job_id = await backend.push(Email(to="a@example.com"), expire_after=10)
    await backend.job_discard_expired(now + 10)

    row = await backend.job_retry(job_id, now + 20)

    assert row.state == JobState.AVAILABLE
    assert row.expires_at is None
    assert [c.id for c in await claim(backend, now=now + 21)] == [job_id]
