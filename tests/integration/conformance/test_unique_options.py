"""Uniqueness as Oban and River offer it: ``unique_for`` windows and ``on_conflict="replace"``."""

from __future__ import annotations

import pytest
import trio
import trio.testing
from support.conformance import (
    EMAIL,
    Email,
    Listener,
    Report,
    all_jobs,
    args_of,
    claim_id,
    failure,
    make_job,
    settle,
)

from service.jobs import InvalidTransition, JobState, JobStore, Push, UniqueOutcome
from service.jobs._states import FINISHED, UNFINISHED

HOUR = 3600.0


# -- unique_for ------------------------------------------------------------------------------

@pytest.mark.parametrize("state", sorted(FINISHED))
async def test_unique_for_blocks_a_duplicate_of_a_job_finished_inside_the_window(
    backend: JobStore, autojump_clock: trio.testing.MockClock, state: JobState
) -> None:
    first = await make_job(backend, state, Email(to="a@example.com"), unique_key="digest",
                           unique_for=HOUR)
    before = await backend.job_get(first)
    await trio.sleep(HOUR - 1)

    again = await backend.push_result(Email(to="b@example.com"), unique_key="digest",
                                      unique_for=HOUR)

    assert (again.row.id, again.inserted, again.unique) == (first, False, UniqueOutcome.KEPT)
    assert again.row == before
    assert [row.id for row in await all_jobs(backend)] == [first]


async def test_unique_for_lets_a_push_through_once_the_window_has_passed(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    first = await make_job(backend, JobState.COMPLETED, unique_key="digest", unique_for=HOUR)
    await trio.sleep(HOUR)

    again = await backend.push_result(Email(to="b@example.com"), unique_key="digest",
                                      unique_for=HOUR)

    assert again.unique == UniqueOutcome.INSERTED
    assert again.row.id != first
    assert again.row.state == JobState.AVAILABLE
    assert (await backend.job_get(first)).state == JobState.COMPLETED
    assert await backend.push(Email(to="c@example.com"), unique_key="digest") == again.row.id


async def test_the_window_is_the_new_pushs_and_counts_from_when_the_holder_was_pushed(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    first = await make_job(backend, JobState.COMPLETED, unique_key="k")  # no window of its own
    await trio.sleep(100)

    assert await backend.push(Email(to="x@example.com"), unique_key="k",
                              unique_for=101) == first
    assert await backend.push(Email(to="x@example.com"), unique_key="k",
                              unique_for=100) != first


async def test_without_unique_for_a_finished_holder_never_blocks(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    first = await make_job(backend, JobState.COMPLETED, unique_key="k", unique_for=HOUR)

    assert await backend.push(Email(to="x@example.com"), unique_key="k") != first


@pytest.mark.parametrize("state", sorted(UNFINISHED))
async def test_unique_for_keeps_an_unfinished_holder_however_old(
    backend: JobStore, autojump_clock: trio.testing.MockClock, state: JobState
) -> None:
    first = await make_job(backend, state, unique_key="k")
    await trio.sleep(10 * HOUR)

    assert await backend.push(Email(to="x@example.com"), unique_key="k", unique_for=60) == first


async def test_push_many_and_transactions_honour_unique_for(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    first = await make_job(backend, JobState.DISCARDED, unique_key="k", unique_for=HOUR)

    [many] = await backend.push_many([Push(task=Email(to="x@example.com"), unique_key="k",
                                           unique_for=HOUR)])
    async with backend.transaction() as tx:
        in_tx = await tx.push(Email(to="y@example.com"), unique_key="k", unique_for=HOUR)

    assert many == in_tx == first


async def test_concurrent_pushes_after_the_window_make_one_new_job(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    first = await make_job(backend, JobState.COMPLETED, unique_key="k", unique_for=60)
    await trio.sleep(61)
    ids: list[int] = []

    async def push(n: int) -> None:
        ids.append(await backend.push(Email(to=f"u{n}@example.com"), unique_key="k",
                                      unique_for=60))

    async with trio.open_nursery() as nursery:
        for n in range(20):
            nursery.start_soon(push, n)

    assert len(set(ids)) == 1
    assert ids[0] != first
    assert len(await all_jobs(backend)) == 2


# -- on_conflict="replace" -------------------------------------------------------------------

async def test_replace_rewrites_a_scheduled_holder_that_has_not_started(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    first = await backend.push(Report(month=1), delay=30, unique_key="r", on_conflict="replace")
    before = await backend.job_get(first)
    await trio.sleep(10)
    now = backend.clock.now()

    result = await backend.push_result(Report(month=2), delay=30, priority=9, unique_key="r",
                                       on_conflict="replace", expire_after=HOUR)

    assert (result.row.id, result.inserted, result.replaced) == (first, False, True)
    assert result.unique == UniqueOutcome.REPLACED
    row = await backend.job_get(first)
    assert row == result.row
    assert args_of(row) == {"month": 2}
    assert (row.state, row.run_at, row.priority, row.expires_at) == (
        JobState.SCHEDULED, now + 30, 9, now + HOUR)
    assert (row.created_at, row.max_attempts, row.attempt) == (
        before.created_at, before.max_attempts, 0)
    assert len(await all_jobs(backend)) == 1


async def test_replace_makes_a_scheduled_holder_due_now_or_an_available_one_wait(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    now = backend.clock.now()
    job_id = await backend.push(Email(to="a@example.com"), delay=60, unique_key="k")

    await backend.push(Email(to="b@example.com"), unique_key="k", on_conflict="replace")
    row = await backend.job_get(job_id)
    assert (row.state, row.run_at) == (JobState.AVAILABLE, now)

    await backend.push(Email(to="c@example.com"), delay=45, unique_key="k",
                       on_conflict="replace")
    row = await backend.job_get(job_id)
    assert (row.state, row.run_at) == (JobState.SCHEDULED, now + 45)
    assert await backend.job_promote_due(now + 45) == [EMAIL]


@pytest.mark.parametrize("state", [JobState.RUNNING, JobState.RETRYABLE])
async def test_replace_keeps_a_holder_that_has_started(
    backend: JobStore, autojump_clock: trio.testing.MockClock, state: JobState
) -> None:
    first = await make_job(backend, state, Email(to="a@example.com"), unique_key="k")
    before = await backend.job_get(first)

    result = await backend.push_result(Email(to="b@example.com"), unique_key="k",
                                       on_conflict="replace")

    assert (result.row.id, result.unique) == (first, UniqueOutcome.KEPT)
    assert await backend.job_get(first) == before


async def test_replace_keeps_a_holder_that_started_and_came_back(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    now = backend.clock.now()
    first = await make_job(backend, JobState.RUNNING, Email(to="a@example.com"), unique_key="k")
    assert await settle(backend, first, JobState.SCHEDULED, run_at=now + 60, refund_attempt=True)

    result = await backend.push_result(Email(to="b@example.com"), unique_key="k",
                                       on_conflict="replace")

    assert result.unique == UniqueOutcome.KEPT, "a snoozed job has started"
    assert args_of(await backend.job_get(first)) == {"to": "a@example.com", "subject": "hello"}


async def test_replace_keeps_a_finished_holder_inside_unique_for_and_inserts_after_it(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    first = await make_job(backend, JobState.COMPLETED, unique_key="k")

    kept = await backend.push_result(Email(to="b@example.com"), unique_key="k", unique_for=60,
                                     on_conflict="replace")
    await trio.sleep(60)
    new = await backend.push_result(Email(to="c@example.com"), unique_key="k", unique_for=60,
                                    on_conflict="replace")

    assert (kept.row.id, kept.unique) == (first, UniqueOutcome.KEPT)
    assert new.unique == UniqueOutcome.INSERTED
    assert new.row.id != first


async def test_a_replacing_push_wakes_listeners_and_a_kept_one_does_not(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    now = backend.clock.now()
    job_id = await backend.push(Email(to="a@example.com"), delay=60, unique_key="k")
    listener = Listener()
    backend.add_push_listener(listener)

    await backend.push(Email(to="b@example.com"), delay=5, unique_key="k", on_conflict="replace")
    assert await backend.job_promote_due(now + 5) == [EMAIL]
    await claim_id(backend, job_id, now=now + 5)
    await backend.push(Email(to="c@example.com"), unique_key="k", on_conflict="replace")

    assert listener.calls == [(frozenset([EMAIL]), now + 5)]


async def test_push_many_replaces_in_order_and_the_last_edit_wins(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    ids = await backend.push_many([
        Push(task=Email(to=f"v{n}@example.com"), delay=30, unique_key="k", on_conflict="replace")
        for n in range(5)
    ])

    assert len(set(ids)) == 1
    assert args_of(await backend.job_get(ids[0]))["to"] == "v4@example.com"


async def test_a_replace_rolled_back_with_its_transaction_leaves_the_holder_as_it_was(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    job_id = await backend.push(Email(to="a@example.com"), delay=30, unique_key="k")
    before = await backend.job_get(job_id)

    seen: list[UniqueOutcome] = []

    async def replace_then_fail() -> None:
        async with backend.transaction() as tx:
            result = await tx.push_result(Email(to="b@example.com"), unique_key="k",
                                          on_conflict="replace")
            seen.append(result.unique)
            raise RuntimeError("the app's own write failed")

    with pytest.raises(RuntimeError):
        await replace_then_fail()

    assert seen == [UniqueOutcome.REPLACED]
    assert await backend.job_get(job_id) == before


async def test_concurrent_replacing_pushes_leave_one_job_with_one_of_their_payloads(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    outcomes: list[UniqueOutcome] = []

    async def edit(n: int) -> None:
        result = await backend.push_result(Email(to=f"e{n}@example.com"), delay=30,
                                           unique_key="doc", on_conflict="replace")
        outcomes.append(result.unique)

    async with trio.open_nursery() as nursery:
        for n in range(20):
            nursery.start_soon(edit, n)

    [row] = await all_jobs(backend)
    assert sorted(outcomes) == sorted([UniqueOutcome.INSERTED] + [UniqueOutcome.REPLACED] * 19)
    assert args_of(row)["to"] in {f"e{n}@example.com" for n in range(20)}
    assert row.state == JobState.SCHEDULED


# -- keys held by finished jobs, and operator retries ----------------------------------------

async def test_retry_of_a_finished_job_takes_its_key_from_a_finished_newer_holder(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    old = await make_job(backend, JobState.DISCARDED, unique_key="k")
    newer = await make_job(backend, JobState.COMPLETED, Email(to="n@example.com"),
                           unique_key="k")
    assert newer != old

    row = await backend.job_retry(old, backend.clock.now())

    assert row.state == JobState.AVAILABLE
    assert await backend.push(Email(to="x@example.com"), unique_key="k") == old


async def test_retry_is_refused_while_an_unfinished_job_holds_the_key_even_after_unique_for(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    old = await make_job(backend, JobState.COMPLETED, unique_key="k", unique_for=60)
    await trio.sleep(61)
    newer = await backend.push(Email(to="n@example.com"), unique_key="k", unique_for=60)
    assert newer != old

    with pytest.raises(InvalidTransition):
        await backend.job_retry(old, backend.clock.now())
    assert (await backend.job_get(old)).state == JobState.COMPLETED


# -- refused options ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"unique_for": 60}, "unique_for needs a unique_key"),
        ({"on_conflict": "replace"}, "on_conflict='replace' needs a unique_key"),
        ({"unique_key": "k", "on_conflict": "update"}, "on_conflict must be 'keep' or 'replace'"),
        ({"unique_key": "k", "unique_for": 0}, "unique_for must be > 0"),
        ({"unique_key": "k", "unique_for": -1}, "unique_for must be >= 0"),
        ({"unique_key": "k", "unique_for": float("inf")}, "unique_for must be a finite number"),
        ({"unique_key": "k", "unique_for": "1h"}, "unique_for must be a finite number"),
    ],
)
async def test_an_invalid_uniqueness_option_is_refused_naming_it(
    backend: JobStore, options: dict[str, object], words: str
) -> None:
    with pytest.raises(ValueError, match=words):
        await backend.push(Email(to="a@example.com"), **options)  # type: ignore[arg-type]
    assert await all_jobs(backend) == []


async def test_a_failed_attempt_does_not_release_the_key(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    now = backend.clock.now()
    first = await make_job(backend, JobState.RUNNING, unique_key="k")
    assert await settle(backend, first, JobState.RETRYABLE, run_at=now + 60,
                        error=failure("flaky"))

    assert await backend.push(Email(to="x@example.com"), unique_key="k") == first
