"""Leases: renewal by the owner, and rescue of running jobs whose lease expired."""

from __future__ import annotations

import trio
import trio.testing
from support.conformance import (
    EMAIL,
    LEASE,
    REPORT,
    RESIZE,
    Email,
    Report,
    Resize,
    claim,
    claim_id,
    jobs_in_states,
    make_job,
    settle,
)

from service.jobs import JobState, JobStore, SetStateIfRunning
from service.jobs._store import REPEAT_RESCUE_SPREAD_S, Rescued


async def test_renew_extends_the_leases_the_owner_still_holds(backend: JobStore) -> None:
    ids = await backend.push_many([Email(to=f"u{n}@example.com") for n in range(4)])
    now = backend.clock.now()
    await claim(backend, owner="w1", limit=3, now=now)
    [theirs] = await claim(backend, owner="w2", now=now)
    assert theirs.id == ids[3]
    await backend.job_cancel(ids[1], now, "stop")

    held = await backend.job_renew_leases("w1", [*ids, 424242], now + 100)

    assert sorted(held) == [ids[0], ids[2]]
    assert (await backend.job_get(ids[0])).lease_expires_at == now + 100
    assert (await backend.job_get(ids[2])).lease_expires_at == now + 100
    assert (await backend.job_get(ids[3])).lease_expires_at == now + LEASE
    assert (await backend.job_get(ids[3])).lease_owner == "w2"
    assert (await backend.job_get(ids[1])).lease_expires_at is None


async def test_renew_of_no_ids_holds_nothing(backend: JobStore) -> None:
    await make_job(backend, JobState.RUNNING)

    assert await backend.job_renew_leases("w1", [], backend.clock.now() + 100) == []


async def test_renew_skips_jobs_that_finished(backend: JobStore) -> None:
    job_id = await make_job(backend, JobState.COMPLETED, owner="w1")

    assert await backend.job_renew_leases("w1", [job_id], backend.clock.now() + 100) == []
    assert (await backend.job_get(job_id)).lease_expires_at is None


async def test_rescue_returns_expired_running_jobs_to_available(backend: JobStore) -> None:
    job_id = await backend.push(Email(to="a@example.com"))
    now = backend.clock.now()
    await claim_id(backend, job_id, owner="w1", now=now)

    rescued = await backend.job_rescue_expired(now + LEASE + 1, max_rescues=5)

    assert rescued == [Rescued(id=job_id, task=EMAIL, state=JobState.AVAILABLE)]
    row = await backend.job_get(job_id)
    assert row.state == JobState.AVAILABLE
    assert row.lease_owner is None
    assert row.lease_expires_at is None
    assert row.finished_at is None
    assert row.rescues == 1
    assert row.attempt == 1
    [error] = row.errors
    assert error.kind == "lease_expired"
    assert error.attempt == 1
    [again] = await claim(backend, owner="w2", now=now + LEASE + 2)
    assert again.id == job_id
    assert again.attempt == 2


async def test_rescue_leaves_unexpired_leases_alone(backend: JobStore) -> None:
    ids = await backend.push_many([Email(to=f"u{n}@example.com") for n in range(3)])
    now = backend.clock.now()
    await claim(backend, owner="w1", limit=3, now=now)
    await backend.job_renew_leases("w1", [ids[1]], now + 500)
    before = [await backend.job_get(i) for i in ids]

    assert await backend.job_rescue_expired(now + LEASE - 1, max_rescues=5) == []
    assert [await backend.job_get(i) for i in ids] == before

    rescued = await backend.job_rescue_expired(now + LEASE + 1, max_rescues=5)

    assert sorted(r.id for r in rescued) == [ids[0], ids[2]]
    assert (await backend.job_get(ids[1])) == before[1]


async def test_rescue_leaves_jobs_in_other_states_alone(backend: JobStore) -> None:
    await jobs_in_states(backend, set(JobState) - {JobState.RUNNING})
    now = backend.clock.now()

    assert await backend.job_rescue_expired(now + 86_400, max_rescues=1) == []


async def test_rescue_takes_at_most_limit_jobs(backend: JobStore) -> None:
    await backend.push_many([Email(to=f"u{n}@example.com") for n in range(5)])
    now = backend.clock.now()
    await claim(backend, limit=5, now=now)

    first = await backend.job_rescue_expired(now + LEASE + 1, max_rescues=5, limit=2)
    rest = await backend.job_rescue_expired(now + LEASE + 1, max_rescues=5, limit=10)

    assert len(first) == 2
    assert len(rest) == 3
    assert not {r.id for r in first} & {r.id for r in rest}


async def test_leases_expire_as_the_clock_moves(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    job_id = await make_job(backend, JobState.RUNNING)

    await trio.sleep(LEASE - 1)
    assert await backend.job_rescue_expired(backend.clock.now(), max_rescues=5) == []
    await trio.sleep(2)
    assert [r.id for r in await backend.job_rescue_expired(backend.clock.now(), 5)] == [job_id]


async def test_a_renewed_lease_outlives_its_first_expiry(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    job_id = await make_job(backend, JobState.RUNNING)

    await trio.sleep(LEASE / 2)
    held = await backend.job_renew_leases("w1", [job_id], backend.clock.now() + LEASE)
    assert held == [job_id]
    await trio.sleep(LEASE / 2 + 5)

    assert await backend.job_rescue_expired(backend.clock.now(), max_rescues=5) == []
    assert (await backend.job_get(job_id)).state == JobState.RUNNING


async def test_a_job_whose_lease_keeps_expiring_is_discarded_after_max_rescues(
    backend: JobStore,
) -> None:
    job_id = await backend.push(Report(month=1), max_attempts=10)
    now = backend.clock.now()

    states = []
    for n in range(3):
        t = now + n * 100
        await backend.job_promote_due(t)  # a repeat rescue comes back after a short pause
        [row] = await claim(backend, REPORT, now=t)
        assert row.id == job_id
        [rescued] = await backend.job_rescue_expired(t + LEASE + 1, max_rescues=3)
        states.append(rescued.state)

    assert states == [JobState.AVAILABLE, JobState.RETRYABLE, JobState.DISCARDED]
    row = await backend.job_get(job_id)
    assert row.state == JobState.DISCARDED
    assert row.finished_at == now + 200 + LEASE + 1
    assert row.lease_owner is None
    assert row.rescues == 3
    assert [e.kind for e in row.errors] == ["lease_expired"] * 3
    assert "lease expired 3 times" in row.errors[-1].message
    assert await claim(backend, REPORT, now=now + 1000) == []


async def test_jobs_rescued_again_come_back_apart_after_a_short_random_pause(
    backend: JobStore,
) -> None:
    # Jobs that died together twice (one of them may be killing its process) must not be
    # claimed together a third time: from the second rescue on each waits its own pause.
    ids = await backend.push_many([Email(to=f"u{n}@example.com") for n in range(8)])
    now = backend.clock.now()
    for n in range(2):
        t = now + n * 100
        claimed = await claim(backend, EMAIL, owner=f"doomed:{n}", limit=8, now=t)
        assert sorted(job.id for job in claimed) == ids
        rescued = await backend.job_rescue_expired(t + LEASE + 1, max_rescues=5)
        assert {job.state for job in rescued} == (
            {JobState.AVAILABLE} if n == 0 else {JobState.RETRYABLE})

    at = now + 100 + LEASE + 1
    rows = [await backend.job_get(job_id) for job_id in ids]
    pauses = [row.run_at - at for row in rows]
    assert all(0 <= pause <= REPEAT_RESCUE_SPREAD_S for pause in pauses), pauses
    assert len(set(pauses)) == len(pauses), "each its own pause"
    assert "random pause of up to 1" in rows[0].errors[-1].message
    assert await backend.job_promote_due(at + REPEAT_RESCUE_SPREAD_S) == [EMAIL] * 8


async def test_a_job_rescued_on_its_last_attempt_is_discarded(backend: JobStore) -> None:
    job_id = await backend.push(Resize(image="a.png"))
    now = backend.clock.now()
    await claim_id(backend, job_id, now=now)

    [rescued] = await backend.job_rescue_expired(now + LEASE + 1, max_rescues=5)

    assert rescued == Rescued(id=job_id, task=RESIZE, state=JobState.DISCARDED)
    row = await backend.job_get(job_id)
    assert row.state == JobState.DISCARDED
    assert row.finished_at == now + LEASE + 1
    assert row.errors[-1].kind == "lease_expired"
    assert "last attempt" in row.errors[-1].message


async def test_a_job_with_attempts_left_survives_a_rescue(backend: JobStore) -> None:
    job_id = await backend.push(Email(to="a@example.com"), max_attempts=2)
    now = backend.clock.now()
    await claim_id(backend, job_id, now=now)

    [rescued] = await backend.job_rescue_expired(now + LEASE + 1, max_rescues=5)

    assert rescued.state == JobState.AVAILABLE


async def test_retry_gives_a_job_discarded_for_lease_expiry_fresh_rescues(
    backend: JobStore,
) -> None:
    job_id = await backend.push(Email(to="a@example.com"))
    now = backend.clock.now()
    for n in range(2):
        await claim_id(backend, job_id, now=now + n * 100)
        await backend.job_rescue_expired(now + n * 100 + LEASE + 1, max_rescues=2)
    assert (await backend.job_get(job_id)).state == JobState.DISCARDED

    await backend.job_retry(job_id, now + 500)
    await claim_id(backend, job_id, now=now + 500)
    [rescued] = await backend.job_rescue_expired(now + 500 + LEASE + 1, max_rescues=2)

    assert rescued.state == JobState.AVAILABLE


async def test_a_rescued_jobs_old_owner_can_no_longer_record_an_outcome(
    backend: JobStore,
) -> None:
    job_id = await backend.push(Email(to="a@example.com"))
    now = backend.clock.now()
    await claim_id(backend, job_id, owner="w1", now=now)
    await backend.job_rescue_expired(now + LEASE + 1, max_rescues=5)
    await claim_id(backend, job_id, owner="w2", now=now + LEASE + 2)

    assert not await settle(backend, job_id, JobState.COMPLETED, owner="w1", finished_at=now)
    assert await backend.job_renew_leases("w1", [job_id], now + 500) == []
    assert await settle(backend, job_id, JobState.COMPLETED, owner="w2", finished_at=now + 40)


async def test_a_batch_of_stale_completions_for_reclaimed_jobs_is_refused(
    backend: JobStore,
) -> None:
    # A worker whose lease lapsed reports two plain completions for attempt 1 in one batch
    # (the grouped path of every backend) after both jobs were rescued and claimed again --
    # by the same owner name, as a restarted process with a fixed name would.
    ids = await backend.push_many([Email(to=f"u{n}@example.com") for n in range(2)])
    now = backend.clock.now()
    first = await claim(backend, owner="w1", limit=2, now=now)
    assert sorted(job.id for job in first) == ids
    assert {job.attempt for job in first} == {1}
    await backend.job_rescue_expired(now + LEASE + 1, max_rescues=5)
    again = await claim(backend, owner="w1", limit=2, now=now + LEASE + 2)
    assert {job.attempt for job in again} == {2}

    results = await backend.job_set_state_if_running_many(
        [
            SetStateIfRunning(id=job_id, owner="w1", attempt=1, state=JobState.COMPLETED,
                              finished_at=now + LEASE + 3)
            for job_id in ids
        ]
    )

    assert results == [False, False]
    for job_id in ids:
        row = await backend.job_get(job_id)
        assert (row.state, row.attempt, row.lease_owner) == (JobState.RUNNING, 2, "w1")
        assert row.finished_at is None
    # The current attempt's batch still lands.
    current = await backend.job_set_state_if_running_many(
        [
            SetStateIfRunning(id=job_id, owner="w1", attempt=2, state=JobState.COMPLETED,
                              finished_at=now + LEASE + 4)
            for job_id in ids
        ]
    )
    assert current == [True, True]
