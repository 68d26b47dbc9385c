"""Claims: order, limit, task, lease fields, and two claimers racing."""

from __future__ import annotations

import trio
import trio.testing
from support.conformance import (
    EMAIL,
    LEASE,
    REPORT,
    Email,
    Report,
    all_jobs,
    claim,
    jobs_in_states,
    make_job,
    settle,
)

from service.jobs import JobState, JobStore, Push


async def test_claims_go_by_priority_then_run_at_then_id(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    now = backend.clock.now()
    specs = [  # (priority, seconds ago), pushed in this order
        (0, 10),
        (1, 300),
        (0, 20),
        (-1, 0),
        (0, 20),
        (0, 10),
        (1, 5),
        (-1, 50),
    ]
    ids = await backend.push_many(
        [
            Push(task=Email(to=f"u{n}@example.com"), priority=p, run_at=now - ago)
            for n, (p, ago) in enumerate(specs)
        ]
    )
    by_key = sorted((p, now - ago, j) for (p, ago), j in zip(specs, ids, strict=True))
    expected = [job_id for _, _, job_id in by_key]
    assert expected != ids, "the pushes are not already in claim order"

    one_by_one = [row.id for _ in ids for row in await claim(backend, limit=1)]

    assert one_by_one == expected
    assert await claim(backend) == []


async def test_a_batch_claim_takes_the_first_jobs_in_claim_order(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    now = backend.clock.now()
    low = await backend.push(Email(to="low@example.com"), priority=9)
    late = await backend.push(Email(to="late@example.com"), run_at=now - 1)
    early = await backend.push(Email(to="early@example.com"), run_at=now - 100)
    urgent = await backend.push(Email(to="urgent@example.com"), priority=-9)

    rows = await claim(backend, limit=3)

    assert [row.id for row in rows] == [urgent, early, late]
    assert (await backend.job_get(low)).state == JobState.AVAILABLE


async def test_claim_takes_at_most_limit_jobs(backend: JobStore) -> None:
    await backend.push_many([Email(to=f"u{n}@example.com") for n in range(5)])

    assert await claim(backend, limit=0) == []
    assert len(await claim(backend, limit=2)) == 2
    assert len(await claim(backend, limit=10)) == 3
    assert await claim(backend, limit=10) == []


async def test_claim_takes_only_jobs_of_the_named_task(backend: JobStore) -> None:
    email = await backend.push(Email(to="a@example.com"))
    report = await backend.push(Report(month=1), priority=-100)

    assert [row.id for row in await claim(backend, EMAIL, limit=10)] == [email]
    assert (await backend.job_get(report)).state == JobState.AVAILABLE
    assert await claim(backend, "conf.nobody", limit=10) == []
    assert [row.id for row in await claim(backend, REPORT, limit=10)] == [report]


async def test_claimed_jobs_are_running_under_the_owners_lease(backend: JobStore) -> None:
    job_id = await backend.push(Email(to="a@example.com"))
    now = backend.clock.now() + 5

    [claimed] = await backend.job_claim(EMAIL, "worker-a", 1, now, now + LEASE)
    row = await backend.job_get(job_id)

    assert claimed.id == job_id
    assert claimed.task == EMAIL
    assert claimed.attempt == 1
    assert claimed.max_attempts == row.max_attempts
    assert claimed.args == row.args
    assert claimed.priority == row.priority
    assert claimed.run_at == row.run_at
    assert row.state == JobState.RUNNING
    assert row.attempt == 1
    assert row.attempted_at == now
    assert row.lease_owner == "worker-a"
    assert row.lease_expires_at == now + LEASE
    assert row.finished_at is None


async def test_each_claim_counts_one_more_attempt(backend: JobStore) -> None:
    job_id = await backend.push(Email(to="a@example.com"))
    now = backend.clock.now()

    [first] = await claim(backend, now=now)
    assert first.attempt == 1
    assert await settle(backend, job_id, JobState.RETRYABLE, run_at=now)
    assert await backend.job_promote_due(now + 1) == [EMAIL]
    [second] = await claim(backend, owner="w2", now=now + 1)

    assert second.id == job_id
    assert second.attempt == 2
    row = await backend.job_get(job_id)
    assert row.lease_owner == "w2"
    assert row.attempted_at == now + 1


async def test_claim_skips_jobs_in_every_state_but_available(backend: JobStore) -> None:
    await jobs_in_states(backend, set(JobState) - {JobState.AVAILABLE})
    rows_before = await all_jobs(backend)

    assert await claim(backend, limit=100) == []
    assert await all_jobs(backend) == rows_before


async def test_two_claimers_never_get_the_same_job_and_together_get_all(
    backend: JobStore,
) -> None:
    pushed = set(await backend.push_many([Email(to=f"u{n}@example.com") for n in range(150)]))
    claimed: list[tuple[str, int]] = []

    async def claimer(owner: str) -> None:
        while True:
            rows = await claim(backend, owner=owner, limit=3)
            if not rows:
                return
            claimed.extend((owner, row.id) for row in rows)
            await trio.lowlevel.checkpoint()

    async with trio.open_nursery() as nursery:
        for owner in ("alpha", "beta"):
            for _ in range(8):
                nursery.start_soon(claimer, owner)

    ids = [job_id for _, job_id in claimed]
    assert len(ids) == len(set(ids)), "a job was claimed twice"
    assert set(ids) == pushed
    for owner, job_id in claimed:
        row = await backend.job_get(job_id)
        assert row.state == JobState.RUNNING
        assert row.lease_owner == owner
        assert row.attempt == 1


async def test_waiting_jobs_are_not_claimed_before_promotion(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    scheduled = await backend.push(Email(to="a@example.com"), delay=60)
    retryable = await make_job(backend, JobState.RUNNING, Email(to="b@example.com"))
    now = backend.clock.now()
    assert await settle(backend, retryable, JobState.RETRYABLE, run_at=now + 30)

    assert await claim(backend, limit=10) == []
    await trio.sleep(120)
    assert await claim(backend, limit=10) == [], "due but not yet promoted"
    assert (await backend.job_get(scheduled)).state == JobState.SCHEDULED
    assert (await backend.job_get(retryable)).state == JobState.RETRYABLE

    await backend.job_promote_due(backend.clock.now())

    assert {row.id for row in await claim(backend, limit=10)} == {scheduled, retryable}
