"""Unique keys: one unfinished job per (task, key)."""

from __future__ import annotations

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
    make_job,
)

from service.jobs import JobState, JobStore, Push
from service.jobs._states import FINISHED, UNFINISHED


#: A workflow member, the only pending job, takes no unique key.
@pytest.mark.parametrize("state", sorted(UNFINISHED - {JobState.PENDING}))
async def test_unique_push_while_the_first_is_unfinished_returns_its_id(
    backend: JobStore, state: JobState
) -> None:
    first = await make_job(backend, state, Email(to="ann@example.com"), unique_key="welcome")
    before = await backend.job_get(first)

    second = await backend.push(Email(to="someone-else@example.com"), unique_key="welcome")

    assert second == first
    assert [row.id for row in await all_jobs(backend)] == [first]
    assert await backend.job_get(first) == before, "a unique hit leaves the holder untouched"


@pytest.mark.parametrize("state", sorted(FINISHED))
async def test_unique_key_is_free_again_once_its_job_finished(
    backend: JobStore, state: JobState
) -> None:
    first = await make_job(backend, state, Email(to="ann@example.com"), unique_key="welcome")

    second = await backend.push(Email(to="ann@example.com"), unique_key="welcome")

    assert second != first
    assert (await backend.job_get(second)).state == JobState.AVAILABLE
    assert (await backend.job_get(second)).unique_key == "welcome"
    assert (await backend.job_get(first)).state == state
    assert await backend.push(Email(to="ann@example.com"), unique_key="welcome") == second


async def test_same_unique_key_on_different_tasks_is_independent(backend: JobStore) -> None:
    email = await backend.push(Email(to="ann@example.com"), unique_key="k")
    report = await backend.push(Report(month=1), unique_key="k")

    assert email != report
    assert (await backend.job_get(email)).task == EMAIL
    assert (await backend.job_get(report)).task == REPORT


async def test_different_unique_keys_on_one_task_are_independent(backend: JobStore) -> None:
    a = await backend.push(Email(to="ann@example.com"), unique_key="a")
    b = await backend.push(Email(to="ann@example.com"), unique_key="b")

    assert a != b


async def test_jobs_without_a_unique_key_are_never_deduplicated(backend: JobStore) -> None:
    a = await backend.push(Email(to="ann@example.com"))
    b = await backend.push(Email(to="ann@example.com"))

    assert a != b
    assert len(await all_jobs(backend)) == 2


async def test_concurrent_pushes_of_one_unique_key_make_one_job(backend: JobStore) -> None:
    ids: list[int] = []

    async def push(n: int) -> None:
        ids.append(await backend.push(Email(to=f"user{n}@example.com"), unique_key="once"))

    async with trio.open_nursery() as nursery:
        for n in range(20):
            nursery.start_soon(push, n)

    assert len(ids) == 20
    assert len(set(ids)) == 1
    [row] = await all_jobs(backend)
    assert row.id == ids[0]
    assert row.unique_key == "once"


async def test_push_many_with_duplicate_keys_gives_duplicates_the_first_id(
    backend: JobStore,
) -> None:
    ids = await backend.push_many(
        [
            Push(task=Email(to="a@example.com"), unique_key="k1"),
            Push(task=Email(to="b@example.com"), unique_key="k1"),
            Email(to="c@example.com"),
            Push(task=Email(to="d@example.com"), unique_key="k2"),
            Push(task=Report(month=1), unique_key="k1"),
            Push(task=Email(to="e@example.com"), unique_key="k2"),
        ]
    )

    assert ids[1] == ids[0]
    assert ids[5] == ids[3]
    assert len({ids[0], ids[2], ids[3], ids[4]}) == 4
    rows = await all_jobs(backend)
    assert sorted(row.id for row in rows) == sorted({ids[0], ids[2], ids[3], ids[4]})
    assert args_of(await backend.job_get(ids[0])) == {"to": "a@example.com", "subject": "hello"}


async def test_push_many_dedupes_against_an_existing_job(backend: JobStore) -> None:
    existing = await backend.push(Email(to="a@example.com"), unique_key="k")

    ids = await backend.push_many(
        [Email(to="b@example.com"), Push(task=Email(to="c@example.com"), unique_key="k")]
    )

    assert ids[1] == existing
    assert ids[0] != existing
    assert len(await all_jobs(backend)) == 2


async def test_a_unique_hit_does_not_wake_push_listeners(backend: JobStore) -> None:
    await backend.push(Email(to="a@example.com"), unique_key="k")
    listener = Listener()
    backend.add_push_listener(listener)

    await backend.push(Email(to="a@example.com"), unique_key="k")

    assert listener.calls == []


async def test_push_many_mixing_keyed_and_plain_jobs_gives_each_its_own_id(
    backend: JobStore,
) -> None:
    await backend.push(Email(to="x@example.com"))  # ids do not start at 1
    held = await backend.push(Email(to="held@example.com"), unique_key="held")
    plan: list[Email | Push] = []
    for n in range(30):
        to = f"u{n}@example.com"
        if n % 7 == 3:
            plan.append(Push(task=Email(to=to), unique_key=f"k{n}"))
        elif n % 11 == 5:
            plan.append(Push(task=Email(to=to), unique_key="held"))
        else:
            plan.append(Email(to=to))

    ids = await backend.push_many(plan)

    for item, job_id in zip(plan, ids, strict=True):
        if isinstance(item, Push) and item.unique_key == "held":
            assert job_id == held
            continue
        task = item.task if isinstance(item, Push) else item
        assert isinstance(task, Email)
        assert args_of(await backend.job_get(job_id))["to"] == task.to
    assert len(set(ids)) == len([i for i in plan if not (isinstance(i, Push)
                                                         and i.unique_key == "held")]) + 1
