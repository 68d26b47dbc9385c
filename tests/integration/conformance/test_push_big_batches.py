"""Big batches: the same promises as small ones when a backend writes them another way.

PostgreSQL copies a batch of ``COPY_FROM`` rows or more (``COPY`` with ids reserved first), and
SQLite moves big batches off the event loop; every promise of ``push_many`` must hold there too:
ids in push order, unique keys settled, one transaction, workflows, wake-ups after the commit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import trio
from support.conformance import (
    EMAIL,
    REPORT,
    Email,
    Listener,
    Report,
    all_jobs,
    args_of,
    claim,
    settle,
)

from service.jobs import JobFilter, JobState, JobStore, Push, Workflow

if TYPE_CHECKING:
    from collections.abc import Iterator

#: Over PostgreSQL's ``COPY_FROM`` (32) and SQLite's inline limit.
BIG = 300
#: Over ``STREAM_FROM``: written while the rest is still being built, on a store that can.
STREAMED = 1000


@pytest.mark.parametrize("size", [BIG, STREAMED])
async def test_a_big_push_many_returns_ids_in_push_order_with_every_field_stored(
    backend: JobStore, autojump_clock: trio.testing.MockClock, size: int
) -> None:
    await backend.push(Email(to="first@example.com"))  # ids do not start at 1
    now = backend.clock.now()
    plan: list[Email | Push] = [
        Push(task=Email(to=f"{n}@example.com"), delay=60, priority=3, max_attempts=2,
             traceparent=f"tp-{n}", expire_after=600)
        if n % 5 == 0 else
        Push(task=Email(to=f"{n}@example.com"), concurrency_key=f"c{n % 3}")
        if n % 5 == 1 else Email(to=f"{n}@example.com")
        for n in range(size)
    ]

    ids = await backend.push_many(iter(plan))  # an iterator: its length is not known ahead

    assert len(set(ids)) == size
    assert ids == sorted(ids), "one push_many inserts in the order given (FIFO)"
    rows = {row.id: row for row in await all_jobs(backend)}
    for n, job_id in enumerate(ids):
        row = rows[job_id]
        assert args_of(row) == {"to": f"{n}@example.com", "subject": "hello"}
        assert row.created_at == now
        if n % 5 == 0:
            assert (row.state, row.run_at, row.priority, row.max_attempts) == (
                JobState.SCHEDULED, now + 60, 3, 2)
            assert (row.traceparent, row.expires_at) == (f"tp-{n}", now + 600)
        else:
            assert (row.state, row.run_at, row.traceparent, row.expires_at) == (
                JobState.AVAILABLE, now, None, None)
    claimed = await claim(backend, EMAIL, limit=size + 1)
    assert [row.id for row in claimed[1:]] == [i for n, i in enumerate(ids) if n % 5 != 0]



@pytest.mark.parametrize("size", [BIG, STREAMED])
async def test_a_big_push_many_settles_unique_keys_like_a_small_one(
    backend: JobStore, size: int
) -> None:
    held = await backend.push(Email(to="held@example.com"), unique_key="held")
    plan: list[Email | Push] = []
    for n in range(size):
        to = f"u{n}@example.com"
        if n % 7 == 3:
            plan.append(Push(task=Email(to=to), unique_key=f"k{n % 21}"))  # repeats in-batch
        elif n % 11 == 5:
            plan.append(Push(task=Email(to=to), unique_key="held"))
        else:
            plan.append(Email(to=to))

    ids = await backend.push_many(plan)

    first_of: dict[str, int] = {}
    for item, job_id in zip(plan, ids, strict=True):
        key = item.unique_key if isinstance(item, Push) else None
        if key == "held":
            assert job_id == held
        elif key is not None:
            assert first_of.setdefault(key, job_id) == job_id, "a repeated key gets the first id"
        else:
            task = item.task if isinstance(item, Push) else item
            assert isinstance(task, Email)
            assert args_of(await backend.job_get(job_id))["to"] == task.to
    assert len(await all_jobs(backend)) == len(set(ids))
    plain = [i for item, i in zip(plan, ids, strict=True) if not isinstance(item, Push)]
    assert plain == sorted(plain)


async def test_a_big_push_many_releases_the_key_of_a_finished_holder(backend: JobStore) -> None:
    old = await backend.push(Email(to="old@example.com"), unique_key="k")
    [row] = await claim(backend, EMAIL, limit=1)
    assert await settle(backend, row.id, JobState.COMPLETED, finished_at=backend.clock.now())

    ids = await backend.push_many(
        [Email(to=f"{n}@example.com") for n in range(BIG)]
        + [Push(task=Email(to="new@example.com"), unique_key="k")]
    )

    assert ids[-1] != old
    assert args_of(await backend.job_get(ids[-1]))["to"] == "new@example.com"


async def test_a_big_push_many_rolled_back_with_its_transaction_leaves_nothing(
    backend: JobStore,
) -> None:
    listener = Listener()
    backend.add_push_listener(listener)

    pushed: list[int] = []

    async def push_then_fail() -> None:
        async with backend.transaction() as tx:
            pushed.extend(await tx.push_many([Email(to=f"{n}@example.com") for n in range(BIG)]))
            raise RuntimeError("changed my mind")

    with pytest.raises(RuntimeError, match="changed my mind"):
        await push_then_fail()
    assert len(pushed) == BIG

    assert await all_jobs(backend) == []
    assert listener.calls == []
    again = await backend.push_many([Email(to=f"{n}@example.com") for n in range(BIG)])
    assert len(set(again)) == BIG


@pytest.mark.parametrize("key_held", [True, False], ids=["late key held", "late key free"])
async def test_a_streamed_push_many_wakes_listeners_once_after_the_commit_with_its_earliest(
    backend: JobStore, autojump_clock: trio.testing.MockClock, key_held: bool
) -> None:
    # The earliest row is a keyed one in the last chunk. Its key held, the holder is kept and
    # the row wakes no one; free, it is inserted, and what the chunks gathered as they were
    # copied carries its run_at.
    held = await backend.push(Email(to="held@example.com"), unique_key="k", delay=1)
    listener = Listener()
    backend.add_push_listener(listener)
    now = backend.clock.now()
    plan: list[Email | Push] = [Push(task=Email(to=f"{n}@example.com"), delay=60 + n)
                                for n in range(STREAMED)]
    plan[700] = Push(task=Report(month=1), delay=30)
    plan[STREAMED - 2] = Push(task=Email(to="late@example.com"), delay=5,
                              unique_key="k" if key_held else "free")

    ids = await backend.push_many(iter(plan))

    assert (ids[STREAMED - 2] == held) is key_held
    assert len(set(ids)) == STREAMED
    assert listener.calls == [(frozenset({EMAIL, REPORT}), now + (30 if key_held else 5))]


@pytest.mark.parametrize("refused_at", [STREAMED // 2, STREAMED - 1])
async def test_a_streamed_push_many_refused_midway_leaves_nothing_and_wakes_no_one(
    backend: JobStore, refused_at: int
) -> None:
    listener = Listener()
    backend.add_push_listener(listener)
    plan: list[Email | Push] = [Email(to=f"{n}@example.com") for n in range(STREAMED)]
    plan[refused_at] = Push(task=Email(to="late@example.com"), max_attempts=0)

    with pytest.raises(ValueError, match="max_attempts"):
        await backend.push_many(iter(plan))

    assert await all_jobs(backend) == []
    assert listener.calls == []
    again = await backend.push_many(iter(plan[:refused_at]))
    assert again == sorted(again)
    assert len(await all_jobs(backend)) == refused_at


async def test_a_streamed_push_many_cancelled_midway_leaves_nothing(backend: JobStore) -> None:
    def tasks(scope: trio.CancelScope) -> Iterator[Email]:
        for n in range(STREAMED):
            if n == STREAMED // 2:
                scope.cancel()  # while earlier rows are already being written
            yield Email(to=f"{n}@example.com")

    with trio.CancelScope() as scope:
        await backend.push_many(tasks(scope))
    assert scope.cancelled_caught

    assert await all_jobs(backend) == []
    assert len(await backend.push_many(tasks(trio.CancelScope()))) == STREAMED


async def test_big_batches_in_one_transaction_interleave_with_single_pushes_in_order(
    backend: JobStore,
) -> None:
    async with backend.transaction() as tx:
        first = await tx.push_many([Email(to=f"a{n}@example.com") for n in range(BIG)])
        middle = await tx.push(Report(month=1))
        last = await tx.push_many([Email(to=f"b{n}@example.com") for n in range(BIG)])

    assert first == sorted(first)
    assert last == sorted(last)
    assert first[-1] < middle < last[0]
    assert len(await all_jobs(backend)) == 2 * BIG + 1


async def test_a_big_workflow_keeps_dependents_after_their_dependencies(
    backend: JobStore,
) -> None:
    wf = Workflow("fan")
    root = wf.add(Email(to="root@example.com"))
    for n in range(BIG):
        wf.add(Email(to=f"{n}@example.com"), after=[root])

    ids = await backend.push_workflow(wf)

    assert ids == sorted(ids)
    pending = await backend.job_list(JobFilter(state=JobState.PENDING, limit=BIG + 1))
    assert len(pending) == BIG
    [row] = await claim(backend, EMAIL, limit=10)
    assert row.id == ids[0]
    assert await settle(backend, row.id, JobState.COMPLETED, finished_at=backend.clock.now())
    assert len(await claim(backend, EMAIL, limit=BIG + 1)) == BIG
