"""Progress and checkpoints: written by lease renewals and outcomes, read back by claims."""

from __future__ import annotations

from support.conformance import (
    EMAIL,
    LEASE,
    Email,
    claim,
    claim_id,
    failure,
    make_job,
    settle,
)

from service.jobs import JobFilter, JobState, JobStore, RateLimit, SetStateIfRunning
from service.jobs._limits import Limits
from service.jobs._progress import JobProgress, ProgressUpdate


def update(backend: JobStore, fraction: float, message: str | None = None,
           checkpoint: str | None = None, *, at: float | None = None) -> ProgressUpdate:
    at = backend.clock.now() + 0.123456789 if at is None else at
    return ProgressUpdate(progress=JobProgress(fraction=fraction, message=message, at=at),
                          checkpoint=checkpoint)


async def test_a_job_has_no_progress_and_no_checkpoint_until_its_task_reports(
    backend: JobStore,
) -> None:
    job_id = await make_job(backend, JobState.RUNNING)

    row = await backend.job_get(job_id)

    assert row.progress is None
    assert row.checkpoint is None


async def test_a_renewal_writes_the_progress_of_the_jobs_it_names(backend: JobStore) -> None:
    ids = await backend.push_many([Email(to=f"u{n}@example.com") for n in range(3)])
    now = backend.clock.now()
    await claim(backend, owner="w1", limit=3, now=now)
    first = update(backend, 0.4, "page 4 of 10", '{"page":4}')
    last = update(backend, 1.0)

    held = await backend.job_renew_leases("w1", ids, now + 100,
                                          {ids[0]: first, ids[2]: last})

    assert sorted(held) == ids
    rows = [await backend.job_get(i) for i in ids]
    assert [r.lease_expires_at for r in rows] == [now + 100] * 3
    assert rows[0].progress == first.progress
    assert rows[0].checkpoint == '{"page":4}'
    assert rows[1].progress is None
    assert rows[1].checkpoint is None
    assert rows[2].progress == last.progress
    assert rows[2].checkpoint is None


async def test_a_renewal_keeps_the_checkpoint_when_a_report_gives_none_and_the_message_goes(
    backend: JobStore,
) -> None:
    job_id = await make_job(backend, JobState.RUNNING)
    now = backend.clock.now()
    await backend.job_renew_leases("w1", [job_id], now + 50,
                                   {job_id: update(backend, 0.2, "reading", '{"page":2}')})

    later = update(backend, 0.3)
    await backend.job_renew_leases("w1", [job_id], now + 60, {job_id: later})

    row = await backend.job_get(job_id)
    assert row.progress == later.progress
    assert row.progress is not None
    assert row.progress.message is None
    assert row.checkpoint == '{"page":2}'


async def test_a_renewal_writes_no_progress_on_a_job_it_does_not_hold(backend: JobStore) -> None:
    mine = await make_job(backend, JobState.RUNNING, owner="w1")
    theirs = await make_job(backend, JobState.RUNNING, owner="w2")
    done = await make_job(backend, JobState.COMPLETED, owner="w1")
    reported = update(backend, 0.5, "half", '{"n":1}')

    held = await backend.job_renew_leases(
        "w1", [mine, theirs, done], backend.clock.now() + 100,
        {mine: reported, theirs: reported, done: reported})

    assert held == [mine]
    assert (await backend.job_get(mine)).progress == reported.progress
    for other in (theirs, done):
        row = await backend.job_get(other)
        assert row.progress is None
        assert row.checkpoint is None


async def test_the_outcome_writes_the_last_progress_and_a_finished_job_keeps_it(
    backend: JobStore,
) -> None:
    job_id = await make_job(backend, JobState.RUNNING)
    now = backend.clock.now()
    await backend.job_renew_leases("w1", [job_id], now + 50,
                                   {job_id: update(backend, 0.5, "half", '{"page":5}')})
    final = update(backend, 1.0, "done", '{"page":10}')

    assert await settle(backend, job_id, JobState.COMPLETED, finished_at=now, result='"ok"')
    # settle writes no progress: what the renewal wrote stays
    assert (await backend.job_get(job_id)).progress is not None

    other = await make_job(backend, JobState.RUNNING, Email(to="b@example.com"))
    [matched] = await backend.job_set_state_if_running_many([SetStateIfRunning(
        id=other, owner="w1", attempt=1, state=JobState.COMPLETED, finished_at=now,
        result='"ok"', progress=final)])

    assert matched
    row = await backend.job_get(other)
    assert row.state == JobState.COMPLETED
    assert row.progress == final.progress
    assert row.checkpoint == '{"page":10}'
    assert row.result == '"ok"'


async def test_outcomes_recorded_together_each_write_their_own_progress(
    backend: JobStore,
) -> None:
    ids = await backend.push_many([Email(to=f"u{n}@example.com") for n in range(4)])
    now = backend.clock.now()
    await claim(backend, owner="w1", limit=4, now=now)
    reports = [update(backend, n / 4, f"step {n}", f'{{"n":{n}}}') for n in range(3)]

    matched = await backend.job_set_state_if_running_many([
        *(SetStateIfRunning(id=i, owner="w1", attempt=1, state=JobState.COMPLETED,
                            finished_at=now, progress=p)
          for i, p in zip(ids[:3], reports, strict=True)),
        SetStateIfRunning(id=ids[3], owner="w1", attempt=1, state=JobState.COMPLETED,
                          finished_at=now),
    ])

    assert matched == [True] * 4
    rows = [await backend.job_get(i) for i in ids]
    assert [r.progress for r in rows] == [p.progress for p in reports] + [None]
    assert [r.checkpoint for r in rows] == ['{"n":0}', '{"n":1}', '{"n":2}', None]


async def test_a_retried_job_is_claimed_with_its_last_checkpoint(backend: JobStore) -> None:
    job_id = await backend.push(Email(to="a@example.com"))
    now = backend.clock.now()
    [first] = await claim(backend, now=now)
    assert first.checkpoint is None
    reported = update(backend, 0.6, "page 6 of 10", '{"page":6}')

    [matched] = await backend.job_set_state_if_running_many([SetStateIfRunning(
        id=job_id, owner="w1", attempt=1, state=JobState.RETRYABLE, run_at=now + 1,
        error=failure("flaky"), progress=reported)])
    assert matched
    waiting = await backend.job_get(job_id)
    assert waiting.state == JobState.RETRYABLE
    assert waiting.progress == reported.progress  # shown until the next attempt reports
    await backend.job_promote_due(now + 2)
    [second] = await claim(backend, now=now + 2)

    assert second.id == job_id
    assert second.attempt == 2
    assert second.checkpoint == '{"page":6}'


async def test_a_rescued_job_is_claimed_with_the_last_checkpoint_a_renewal_wrote(
    backend: JobStore,
) -> None:
    job_id = await backend.push(Email(to="a@example.com"))
    now = backend.clock.now()
    await claim_id(backend, job_id, owner="killed", now=now)
    await backend.job_renew_leases("killed", [job_id], now + LEASE,
                                   {job_id: update(backend, 0.3, None, '{"page":3}')})

    rescued = await backend.job_rescue_expired(now + LEASE + 1, max_rescues=5)
    [again] = await claim(backend, owner="w2", now=now + LEASE + 2)

    assert [r.id for r in rescued] == [job_id]
    assert again.id == job_id
    assert again.checkpoint == '{"page":3}'


async def test_a_snoozed_job_keeps_its_checkpoint_and_a_null_one_clears_it(
    backend: JobStore,
) -> None:
    job_id = await backend.push(Email(to="a@example.com"))
    now = backend.clock.now()
    await claim(backend, now=now)
    [matched] = await backend.job_set_state_if_running_many([SetStateIfRunning(
        id=job_id, owner="w1", attempt=1, state=JobState.AVAILABLE, run_at=now,
        refund_attempt=True, progress=update(backend, 0.1, "a", '{"page":1}'))])
    assert matched
    [again] = await claim(backend, now=now)
    assert again.checkpoint == '{"page":1}'

    await backend.job_renew_leases("w1", [job_id], now + 60,
                                   {job_id: update(backend, 0.2, "b", "null")})

    assert (await backend.job_get(job_id)).checkpoint == "null"


async def test_a_limited_claim_hands_out_the_checkpoint_too(backend: JobStore) -> None:
    job_id = await backend.push(Email(to="a@example.com"))
    now = backend.clock.now()
    await claim(backend, now=now)
    await backend.job_set_state_if_running_many([SetStateIfRunning(
        id=job_id, owner="w1", attempt=1, state=JobState.AVAILABLE, run_at=now,
        refund_attempt=True, progress=update(backend, 0.5, None, '{"at":"x"}'))])

    claimed = await backend.job_claim_limited(
        EMAIL, "w1", 1, now, now + LEASE, Limits(global_concurrency=3,
                                                 rate=RateLimit(5, per=1)))

    [again] = claimed.jobs
    assert again.checkpoint == '{"at":"x"}'


async def _finished_with_checkpoint(backend: JobStore, state: JobState, to: str) -> int:
    job_id = await backend.push(Email(to=to))
    now = backend.clock.now()
    await claim_id(backend, job_id, now=now)
    [matched] = await backend.job_set_state_if_running_many([SetStateIfRunning(
        id=job_id, owner="w1", attempt=1, state=state, finished_at=now,
        error=None if state == JobState.COMPLETED else failure("gave up"),
        progress=update(backend, 0.7, "page 7", '{"page":7}'))])
    assert matched
    return job_id


async def test_an_operator_retry_keeps_a_failed_jobs_checkpoint_but_not_a_completed_ones(
    backend: JobStore,
) -> None:
    failed = await _finished_with_checkpoint(backend, JobState.DISCARDED, "a@example.com")
    done = await _finished_with_checkpoint(backend, JobState.COMPLETED, "b@example.com")
    now = backend.clock.now()

    await backend.job_retry(failed, now)
    await backend.job_retry(done, now)

    assert (await backend.job_get(failed)).checkpoint == '{"page":7}'
    assert (await backend.job_get(done)).checkpoint is None
    assert (await backend.job_get(done)).progress is not None, "shown until the next report"


async def test_a_bulk_retry_treats_checkpoints_as_a_single_retry_does(backend: JobStore) -> None:
    failed = await _finished_with_checkpoint(backend, JobState.DISCARDED, "a@example.com")
    done = await _finished_with_checkpoint(backend, JobState.COMPLETED, "b@example.com")

    batch = await backend.job_retry_many(JobFilter(limit=10), backend.clock.now())

    assert batch.changed == 2
    assert (await backend.job_get(failed)).checkpoint == '{"page":7}'
    assert (await backend.job_get(done)).checkpoint is None
