"""The typed error entries every backend records: codes in the store, prose rendered once."""

from __future__ import annotations

import json

from support.conformance import (
    EMAIL,
    LEASE,
    REPORT,
    Email,
    Report,
    Resize,
    claim,
    claim_id,
    settle,
)

from service.jobs import AttemptError, ErrorKind, JobState, JobStore
from service.jobs._attempt_error import LeaseExpiry, RescueStep


async def test_each_rescue_records_the_owner_the_count_and_what_it_did(backend: JobStore) -> None:
    job_id = await backend.push(Report(month=1), max_attempts=10)
    now = backend.clock.now()
    for n in range(3):
        t = now + n * 100
        await backend.job_promote_due(t)
        [row] = await claim(backend, REPORT, owner=f"host:{n}:tok", now=t)
        assert row.id == job_id
        await backend.job_rescue_expired(t + LEASE + 1, max_rescues=3)

    errors = (await backend.job_get(job_id)).errors

    steps = [(RescueStep.REQUEUED, 0.0), (RescueStep.PAUSED, 1.0), (RescueStep.OUT_OF_RESCUES, 0.0)]
    assert errors == [
        AttemptError(
            attempt=n + 1, at=now + n * 100 + LEASE + 1, kind=ErrorKind.LEASE_EXPIRED,
            error="LeaseExpired",
            lease=LeaseExpiry(owner=f"host:{n}:tok", rescues=n + 1, step=step,
                              lease_expires_at=now + n * 100 + LEASE, pause=pause),
        )
        for n, (step, pause) in enumerate(steps)
    ]
    stalled = "expired (its process stopped or stalled)"
    assert [e.message for e in errors] == [
        f"lease of host:0:tok {stalled}; returned to the queue",
        f"lease of host:1:tok {stalled}; returned to the queue after a random pause of up to 1 s,"
        " apart from the jobs it died with",
        f"lease of host:2:tok {stalled}; discarded: lease expired 3 times, the job may be"
        " killing its process",
    ]


async def test_a_rescue_of_a_last_attempt_records_that_it_was_the_last(backend: JobStore) -> None:
    job_id = await backend.push(Resize(image="a.png"))
    now = backend.clock.now()
    await claim_id(backend, job_id, owner="w9", now=now)
    await backend.job_rescue_expired(now + LEASE + 1, max_rescues=5)

    [error] = (await backend.job_get(job_id)).errors

    assert error.lease == LeaseExpiry(owner="w9", rescues=1, step=RescueStep.OUT_OF_ATTEMPTS,
                                      lease_expires_at=now + LEASE, pause=0.0)
    assert error.message == ("lease of w9 expired (its process stopped or stalled);"
                             " discarded: that was its last attempt")


async def test_discard_unknown_records_the_task_name_as_a_code(backend: JobStore) -> None:
    now = backend.clock.now()
    job_id = await backend.push(Report(month=1), run_at=now - 120)
    await backend.job_discard_unknown([EMAIL], now - 60, now)

    [error] = (await backend.job_get(job_id)).errors

    assert error == AttemptError(attempt=0, at=now, kind=ErrorKind.UNKNOWN_TASK,
                                 error="UnknownTask", task=REPORT)
    assert error.message == f"task {REPORT!r} is not registered with any worker that saw it"


async def test_an_operator_cancel_records_the_reason_and_no_attempt(backend: JobStore) -> None:
    job_id = await backend.push(Email(to="a@example.com"))
    now = backend.clock.now() + 5

    row = await backend.job_cancel(job_id, now, "duplicate signup \u2014 'quoted'")

    expected = AttemptError(attempt=None, at=now, kind=ErrorKind.CANCELLED, error="Cancelled",
                            detail="duplicate signup \u2014 'quoted'")
    assert row.errors == [expected]
    assert (await backend.job_get(job_id)).errors == [expected]
    assert expected.message == "duplicate signup \u2014 'quoted'"


async def test_an_outcomes_error_comes_back_field_for_field(backend: JobStore) -> None:
    job_id = await backend.push(Email(to="a@example.com"))
    now = backend.clock.now()
    await claim_id(backend, job_id, now=now)
    error = AttemptError(attempt=1, at=now + 0.25, kind=ErrorKind.TIMEOUT, error="TimeoutError",
                         detail="timed out after 30 s", traceback="Traceback\n  \u00e9\n")

    assert await settle(backend, job_id, JobState.RETRYABLE, run_at=now + 60, error=error)

    assert (await backend.job_get(job_id)).errors == [error]


#: Entries exactly as the previous version stored them, prose and all.
OLD_ENTRIES = [
    {"attempt": 1, "at": 1700000000.5, "kind": "error", "error": "ValueError",
     "message": "boom", "traceback": "Traceback (most recent call last):\nValueError: boom\n"},
    {"attempt": 2, "at": 1700000001.0, "kind": "lease_expired", "error": "LeaseExpired",
     "message": "lease of h:1:t expired (its process stopped or stalled); returned to the queue"},
    {"attempt": 2, "at": 1700000002.0, "kind": "payload", "error": "UnknownTask",
     "message": "task 'gone' is not registered with any worker that saw it"},
    {"kind": "cancelled", "at": 1700000003.0, "error": "Cancelled", "message": "no longer wanted"},
    {"attempt": 3, "kind": "exception", "message": "from a test long ago"},
    "not even an object",
]


async def test_entries_stored_by_the_previous_version_still_decode(backend: JobStore) -> None:
    job_id = await backend.push(Email(to="a@example.com"))
    literal = json.dumps(OLD_ENTRIES).replace("'", "''")
    async with backend.transaction() as tx:
        await tx.execute(f"UPDATE jobs SET errors = '{literal}' WHERE id = {job_id}")

    errors = (await backend.job_get(job_id)).errors

    assert errors == [
        AttemptError(attempt=1, at=1700000000.5, kind=ErrorKind.ERROR, error="ValueError",
                     detail="boom",
                     traceback="Traceback (most recent call last):\nValueError: boom\n"),
        AttemptError(attempt=2, at=1700000001.0, kind=ErrorKind.LEASE_EXPIRED,
                     error="LeaseExpired", detail=OLD_ENTRIES[1]["message"]),  # type: ignore[index]
        AttemptError(attempt=2, at=1700000002.0, kind=ErrorKind.PAYLOAD, error="UnknownTask",
                     detail="task 'gone' is not registered with any worker that saw it"),
        AttemptError(attempt=None, at=1700000003.0, kind=ErrorKind.CANCELLED,
                     error="Cancelled", detail="no longer wanted"),
        AttemptError(attempt=3, at=None, kind=ErrorKind.ERROR, error="",
                     detail="exception: from a test long ago"),
        AttemptError(attempt=None, at=None, kind=ErrorKind.ERROR, error="",
                     detail="not even an object"),
    ]
    assert [e.message for e in errors[:4]] == [
        entry["message"] for entry in OLD_ENTRIES[:4]  # type: ignore[index]
    ]
