"""Pushing jobs: ids, stored fields, push_many, push listeners, missing jobs."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import pytest
from support.conformance import (
    EMAIL,
    REPORT,
    RESIZE,
    Email,
    Listener,
    Report,
    Resize,
    all_jobs,
    args_of,
)

from service.jobs import JobNotFound, JobState, JobStore, Push, ServiceError

if TYPE_CHECKING:
    import trio.testing


async def test_push_returns_the_id_of_a_stored_available_job(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    now = backend.clock.now()
    job_id = await backend.push(Email(to="ann@example.com"))

    assert isinstance(job_id, int)
    row = await backend.job_get(job_id)
    assert row.id == job_id
    assert row.task == EMAIL
    assert args_of(row) == {"to": "ann@example.com", "subject": "hello"}
    assert row.state == JobState.AVAILABLE
    assert row.run_at == now
    assert row.created_at == now
    assert row.priority == 0
    assert row.max_attempts == 20
    assert row.attempt == 0
    assert row.attempted_at is None
    assert row.finished_at is None
    assert row.lease_owner is None
    assert row.lease_expires_at is None
    assert row.rescues == 0
    assert row.unique_key is None
    assert row.errors == []
    assert row.result is None


async def test_pushes_get_distinct_ids(backend: JobStore) -> None:
    ids = [await backend.push(Email(to=f"u{i}@example.com")) for i in range(5)]

    assert len(set(ids)) == 5
    assert sorted(row.id for row in await all_jobs(backend)) == sorted(ids)


async def test_push_with_delay_is_scheduled_at_now_plus_delay(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    now = backend.clock.now()
    job_id = await backend.push(Email(to="ann@example.com"), delay=90)

    row = await backend.job_get(job_id)
    assert row.state == JobState.SCHEDULED
    assert row.run_at == now + 90
    assert row.created_at == now


async def test_push_with_zero_delay_is_available(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    job_id = await backend.push(Email(to="ann@example.com"), delay=0)

    assert (await backend.job_get(job_id)).state == JobState.AVAILABLE


async def test_push_at_a_future_datetime_is_scheduled_then(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    at = dt.datetime.fromtimestamp(backend.clock.now() + 3600, tz=dt.UTC)
    job_id = await backend.push(Email(to="ann@example.com"), run_at=at)

    row = await backend.job_get(job_id)
    assert row.state == JobState.SCHEDULED
    assert row.run_at == at.timestamp()


async def test_push_at_a_past_timestamp_is_available_and_keeps_its_run_at(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    past = backend.clock.now() - 600
    job_id = await backend.push(Email(to="ann@example.com"), run_at=past)

    row = await backend.job_get(job_id)
    assert row.state == JobState.AVAILABLE
    assert row.run_at == past


async def test_push_takes_priority_and_max_attempts_from_task_options(backend: JobStore) -> None:
    job_id = await backend.push(Report(month=3))

    row = await backend.job_get(job_id)
    assert row.task == REPORT
    assert row.priority == 5
    assert row.max_attempts == 3
    assert args_of(row) == {"month": 3}


async def test_push_options_override_task_options(backend: JobStore) -> None:
    job_id = await backend.push(Report(month=3), priority=-7, max_attempts=9)

    row = await backend.job_get(job_id)
    assert row.priority == -7
    assert row.max_attempts == 9


async def test_push_stores_the_unique_key(backend: JobStore) -> None:
    job_id = await backend.push(Email(to="ann@example.com"), unique_key="welcome:ann")

    assert (await backend.job_get(job_id)).unique_key == "welcome:ann"


async def test_push_many_returns_ids_in_the_order_given(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    now = backend.clock.now()
    ids = await backend.push_many(
        [
            Email(to="a@example.com"),
            Push(task=Report(month=1), delay=60),
            Resize(image="cat.png", width=64),
            Push(task=Email(to="b@example.com"), priority=2),
            Report(month=2),
        ]
    )

    assert len(ids) == 5
    assert ids == sorted(ids), "one push_many inserts in the order given (FIFO)"
    assert len(set(ids)) == 5
    rows = [await backend.job_get(i) for i in ids]
    assert [(r.task, args_of(r)) for r in rows] == [
        (EMAIL, {"to": "a@example.com", "subject": "hello"}),
        (REPORT, {"month": 1}),
        (RESIZE, {"image": "cat.png", "width": 64}),
        (EMAIL, {"to": "b@example.com", "subject": "hello"}),
        (REPORT, {"month": 2}),
    ]
    assert [r.state for r in rows] == [
        JobState.AVAILABLE,
        JobState.SCHEDULED,
        JobState.AVAILABLE,
        JobState.AVAILABLE,
        JobState.AVAILABLE,
    ]
    assert rows[1].run_at == now + 60
    assert [r.priority for r in rows] == [0, 5, 0, 2, 5]
    assert {r.created_at for r in rows} == {now}


async def test_push_many_of_nothing_returns_no_ids(backend: JobStore) -> None:
    assert await backend.push_many([]) == []
    assert await all_jobs(backend) == []


async def test_push_many_with_an_invalid_option_stores_none_of_them(backend: JobStore) -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        await backend.push_many(
            [Email(to="a@example.com"), Push(task=Email(to="b@example.com"), max_attempts=0)]
        )

    assert await all_jobs(backend) == []


async def test_job_get_of_a_missing_id_raises_job_not_found(backend: JobStore) -> None:
    job_id = await backend.push(Email(to="ann@example.com"))

    with pytest.raises(JobNotFound) as info:
        await backend.job_get(job_id + 1000)
    assert info.value.job_id == job_id + 1000
    assert isinstance(info.value, LookupError)
    assert isinstance(info.value, ServiceError)


async def test_push_calls_listeners_after_insert_with_tasks_and_earliest_run_at(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    listener = Listener()
    backend.add_push_listener(listener)
    now = backend.clock.now()

    await backend.push(Email(to="a@example.com"), delay=30)
    assert listener.calls == [(frozenset({EMAIL}), now + 30)]

    listener.calls.clear()
    await backend.push_many(
        [Push(task=Email(to="b@example.com"), delay=10), Push(task=Report(month=1), delay=5)]
    )
    assert listener.calls == [(frozenset({EMAIL, REPORT}), now + 5)]


async def test_every_push_listener_is_called(backend: JobStore) -> None:
    first, second = Listener(), Listener()
    backend.add_push_listener(first)
    backend.add_push_listener(second)

    await backend.push(Email(to="a@example.com"))

    assert [tasks for tasks, _ in first.calls] == [frozenset({EMAIL})]
    assert [tasks for tasks, _ in second.calls] == [frozenset({EMAIL})]


async def test_a_big_push_many_wakes_listeners_once_with_every_task_it_added(
    backend: JobStore,
) -> None:
    # Over the store's inline limit the rows are written (and whom they wake worked out) off
    # the event loop: the wake-up must still happen, once, naming every task.
    calls: list[tuple[frozenset[str], float]] = []
    backend.add_push_listener(lambda tasks, earliest: calls.append((tasks, earliest)))
    now = backend.clock.now()
    batch: list[Email | Push] = [Email(to=f"{i}@example.com") for i in range(300)]
    batch.append(Push(task=Report(month=1), delay=60))

    ids = await backend.push_many(batch)

    assert len(ids) == 301
    [(tasks, earliest)] = calls
    assert tasks == frozenset({EMAIL, REPORT})
    assert now <= earliest < now + 60  # the due emails, not the report a minute later


async def test_a_big_push_many_in_a_transaction_wakes_listeners_only_after_the_commit(
    backend: JobStore,
) -> None:
    calls: list[tuple[frozenset[str], float]] = []
    backend.add_push_listener(lambda tasks, earliest: calls.append((tasks, earliest)))
    before = backend.clock.now()

    async with backend.transaction() as tx:
        await tx.push_many([Push(task=Email(to=f"{i}@example.com"), delay=60)
                            for i in range(300)])
        assert calls == []

    [(tasks, earliest)] = calls
    assert tasks == frozenset({EMAIL})
    assert before + 60 <= earliest <= backend.clock.now() + 60
