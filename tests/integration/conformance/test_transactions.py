"""Transactional push: app rows and pushed jobs commit or roll back together.

The app SQL here is plain, parameterless SQL that SQLite and PostgreSQL both accept.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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
    args_of,
    claim,
)

from service.jobs import ConstraintViolation, JobNotFound, JobState, JobStore, Push, StoreError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


class Boom(Exception):
    pass


@pytest.fixture
async def users(backend: JobStore) -> AsyncIterator[None]:
    """An app table of the test's own, committed before the test starts."""
    async with backend.transaction() as tx:
        await tx.execute(
            "CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, email TEXT NOT NULL)"
        )
        await tx.execute("DELETE FROM users")
    return


def insert_user(user_id: int, email: str) -> str:
    return f"INSERT INTO users (id, email) VALUES ({user_id}, '{email}')"


async def user_emails(backend: JobStore) -> list[str]:
    async with backend.transaction() as tx:
        rows = await tx.execute("SELECT email FROM users ORDER BY id")
    return [row[0] for row in rows]


async def test_commit_keeps_the_app_row_and_the_job(
    backend: JobStore, users: None, autojump_clock: trio.testing.MockClock
) -> None:
    now = backend.clock.now()
    async with backend.transaction() as tx:
        await tx.execute(insert_user(1, "ann@example.com"))
        job_id = await tx.push(Email(to="ann@example.com"), unique_key="welcome:1")

    assert await user_emails(backend) == ["ann@example.com"]
    row = await backend.job_get(job_id)
    assert row.state == JobState.AVAILABLE
    assert row.task == EMAIL
    assert row.run_at == now
    assert row.unique_key == "welcome:1"
    assert args_of(row) == {"to": "ann@example.com", "subject": "hello"}
    assert [r.id for r in await claim(backend)] == [job_id]


async def test_execute_returns_the_rows_of_a_query(backend: JobStore, users: None) -> None:
    async with backend.transaction() as tx:
        await tx.execute(insert_user(1, "ann@example.com"))
        await tx.execute(insert_user(2, "bob@example.com"))
        rows = await tx.execute("SELECT id, email FROM users ORDER BY id")
        [(count,)] = await tx.execute("SELECT count(*) FROM users")

    assert [tuple(row) for row in rows] == [(1, "ann@example.com"), (2, "bob@example.com")]
    assert count == 2


async def test_push_many_in_a_transaction_keeps_order(backend: JobStore, users: None) -> None:
    async with backend.transaction() as tx:
        await tx.execute(insert_user(1, "ann@example.com"))
        ids = await tx.push_many(
            [Email(to="ann@example.com"), Push(task=Report(month=1), delay=60)]
        )

    assert [(await backend.job_get(i)).task for i in ids] == [EMAIL, REPORT]
    assert (await backend.job_get(ids[1])).state == JobState.SCHEDULED


async def test_an_exception_in_the_block_rolls_back_the_app_row_and_the_job(
    backend: JobStore, users: None
) -> None:
    error = Boom("signup failed")
    job_id = None
    with pytest.raises(Boom) as info:
        async with backend.transaction() as tx:
            await tx.execute(insert_user(1, "ann@example.com"))
            job_id = await tx.push(Email(to="ann@example.com"))
            await tx.push_many([Email(to="x@example.com"), Report(month=1)])
            raise error

    assert info.value is error
    assert job_id is not None
    assert await user_emails(backend) == []
    with pytest.raises(JobNotFound):
        await backend.job_get(job_id)
    assert await all_jobs(backend) == []


async def test_cancellation_in_the_block_rolls_back_the_app_row_and_the_job(
    backend: JobStore, users: None
) -> None:
    job_id = None
    with trio.CancelScope() as scope:
        async with backend.transaction() as tx:
            await tx.execute(insert_user(1, "ann@example.com"))
            job_id = await tx.push(Email(to="ann@example.com"))
            scope.cancel()
            await trio.lowlevel.checkpoint()
            pytest.fail("the checkpoint should have raised Cancelled")

    assert scope.cancelled_caught
    assert job_id is not None
    assert await user_emails(backend) == []
    with pytest.raises(JobNotFound):
        await backend.job_get(job_id)


async def test_cancellation_arriving_at_a_statement_rolls_back_the_block(
    backend: JobStore, users: None
) -> None:
    with trio.CancelScope() as scope:
        async with backend.transaction() as tx:
            await tx.push(Email(to="ann@example.com"))
            scope.cancel()
            await tx.execute(insert_user(1, "ann@example.com"))
            await tx.push(Email(to="bob@example.com"))

    assert scope.cancelled_caught
    assert await user_emails(backend) == []
    assert await all_jobs(backend) == []


async def test_a_deadline_passing_in_the_block_rolls_it_back(
    backend: JobStore, users: None, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.move_on_after(5) as scope:
        async with backend.transaction() as tx:
            await tx.execute(insert_user(1, "ann@example.com"))
            await tx.push(Email(to="ann@example.com"))
            await trio.sleep(10)

    assert scope.cancelled_caught
    assert await user_emails(backend) == []
    assert await all_jobs(backend) == []


async def test_an_app_sql_error_is_a_store_error_and_rolls_back_the_block(
    backend: JobStore,
) -> None:
    with pytest.raises(StoreError):
        async with backend.transaction() as tx:
            await tx.push(Email(to="ann@example.com"))
            await tx.execute("INSERT INTO no_such_table (id) VALUES (1)")

    assert await all_jobs(backend) == []


async def test_an_app_constraint_violation_is_translated(backend: JobStore, users: None) -> None:
    async with backend.transaction() as tx:
        await tx.execute(insert_user(1, "ann@example.com"))

    with pytest.raises(ConstraintViolation):
        async with backend.transaction() as tx:
            await tx.push(Email(to="ann@example.com"))
            await tx.execute(insert_user(1, "ann-again@example.com"))

    assert await user_emails(backend) == ["ann@example.com"]
    assert await all_jobs(backend) == []


async def test_push_listeners_hear_of_a_transaction_only_after_commit(
    backend: JobStore, users: None, autojump_clock: trio.testing.MockClock
) -> None:
    listener = Listener()
    backend.add_push_listener(listener)
    now = backend.clock.now()

    async with backend.transaction() as tx:
        await tx.execute(insert_user(1, "ann@example.com"))
        await tx.push(Email(to="ann@example.com"), delay=20)
        await tx.push(Report(month=1), delay=5)
        assert listener.calls == []

    assert len(listener.calls) == 1
    tasks, earliest = listener.calls[0]
    assert tasks == frozenset({EMAIL, REPORT})
    assert earliest == now + 5


async def test_push_listeners_never_hear_of_a_rolled_back_transaction(
    backend: JobStore,
) -> None:
    listener = Listener()
    backend.add_push_listener(listener)

    with pytest.raises(Boom):
        async with backend.transaction() as tx:
            await tx.push(Email(to="ann@example.com"))
            raise Boom
    with trio.CancelScope() as scope:
        async with backend.transaction() as tx:
            await tx.push(Email(to="bob@example.com"))
            scope.cancel()
            await trio.lowlevel.checkpoint()

    assert listener.calls == []


async def test_a_transaction_without_pushes_wakes_no_listener(backend: JobStore) -> None:
    listener = Listener()
    backend.add_push_listener(listener)

    async with backend.transaction() as tx:
        await tx.execute("SELECT 1")

    assert listener.calls == []


async def test_a_unique_hit_inside_a_transaction_returns_the_existing_id(
    backend: JobStore,
) -> None:
    existing = await backend.push(Email(to="ann@example.com"), unique_key="k")
    listener = Listener()
    backend.add_push_listener(listener)

    async with backend.transaction() as tx:
        same = await tx.push(Email(to="ann@example.com"), unique_key="k")
        first = await tx.push(Email(to="bob@example.com"), unique_key="fresh")
        again = await tx.push(Email(to="bob@example.com"), unique_key="fresh")

    assert same == existing
    assert again == first
    assert len(await all_jobs(backend)) == 2
    assert [tasks for tasks, _ in listener.calls] == [frozenset({EMAIL})]


async def test_a_rolled_back_unique_key_stays_free(backend: JobStore) -> None:
    with pytest.raises(Boom):
        async with backend.transaction() as tx:
            await tx.push(Email(to="ann@example.com"), unique_key="k")
            raise Boom

    job_id = await backend.push(Email(to="ann@example.com"), unique_key="k")

    assert [row.id for row in await all_jobs(backend)] == [job_id]


async def test_a_transaction_cannot_be_used_after_it_committed(backend: JobStore) -> None:
    async with backend.transaction() as tx:
        await tx.push(Email(to="ann@example.com"))

    with pytest.raises(StoreError):
        await tx.execute("SELECT 1")
    with pytest.raises(StoreError):
        await tx.push(Email(to="bob@example.com"))
    with pytest.raises(StoreError):
        await tx.push_many([Email(to="bob@example.com")])
    assert len(await all_jobs(backend)) == 1


async def test_a_transaction_cannot_be_used_after_it_rolled_back(backend: JobStore) -> None:
    with pytest.raises(Boom):
        async with backend.transaction() as tx:
            raise Boom

    with pytest.raises(StoreError):
        await tx.execute("SELECT 1")
    with pytest.raises(StoreError):
        await tx.push(Email(to="bob@example.com"))
    assert await all_jobs(backend) == []


async def test_the_store_works_normally_after_a_rollback(backend: JobStore, users: None) -> None:
    with pytest.raises(Boom):
        async with backend.transaction() as tx:
            await tx.execute(insert_user(1, "ann@example.com"))
            raise Boom

    job_id = await backend.push(Email(to="bob@example.com"))
    async with backend.transaction() as tx:
        await tx.execute(insert_user(1, "ann@example.com"))

    assert [row.id for row in await claim(backend)] == [job_id]
    assert await user_emails(backend) == ["ann@example.com"]


async def test_a_claim_never_takes_a_job_whose_transaction_rolls_back(
    backend: JobStore,
) -> None:
    pushed, release = trio.Event(), trio.Event()
    claimed: list[int] = []

    async def rolled_back() -> None:
        with pytest.raises(Boom):
            async with backend.transaction() as tx:
                await tx.push(Email(to="ann@example.com"))
                pushed.set()
                await release.wait()
                raise Boom

    async def claimer() -> None:
        claimed.extend(row.id for row in await claim(backend, limit=10))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(rolled_back)
        await pushed.wait()
        nursery.start_soon(claimer)
        await trio.testing.wait_all_tasks_blocked()
        release.set()

    assert claimed == []
    assert await all_jobs(backend) == []


async def test_a_claim_racing_a_transaction_takes_its_job_only_once_committed(
    backend: JobStore,
) -> None:
    pushed, release = trio.Event(), trio.Event()
    claimed: list[int] = []
    job_ids: list[int] = []

    async def committed() -> None:
        async with backend.transaction() as tx:
            job_ids.append(await tx.push(Email(to="ann@example.com")))
            pushed.set()
            await release.wait()

    async def claimer() -> None:
        claimed.extend(row.id for row in await claim(backend, limit=10))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(committed)
        await pushed.wait()
        nursery.start_soon(claimer)
        await trio.testing.wait_all_tasks_blocked()
        release.set()

    claimed.extend(row.id for row in await claim(backend, limit=10))
    assert claimed == job_ids


async def test_concurrent_transactions_commit_or_roll_back_independently(
    backend: JobStore, users: None
) -> None:
    kept: list[int] = []
    dropped: list[int] = []

    async def commits(n: int) -> None:
        async with backend.transaction() as tx:
            await tx.execute(insert_user(n, f"user{n}@example.com"))
            kept.append(await tx.push(Email(to=f"user{n}@example.com")))
            await trio.lowlevel.checkpoint()

    async def rolls_back(n: int) -> None:
        with pytest.raises(Boom):
            async with backend.transaction() as tx:
                await tx.execute(insert_user(n, f"user{n}@example.com"))
                dropped.append(await tx.push(Email(to=f"user{n}@example.com")))
                await trio.lowlevel.checkpoint()
                raise Boom

    async with trio.open_nursery() as nursery:
        for n in range(1, 9):
            nursery.start_soon(commits if n % 2 else rolls_back, n)

    assert await user_emails(backend) == [f"user{n}@example.com" for n in (1, 3, 5, 7)]
    assert sorted(row.id for row in await all_jobs(backend)) == sorted(kept)
    assert len(kept) == len(dropped) == 4


async def test_query_in_a_transaction_sees_its_own_uncommitted_rows(
    backend: JobStore, users: None
) -> None:
    with pytest.raises(Boom):
        async with backend.transaction() as tx:
            await tx.execute(insert_user(1, "ann@example.com"))
            assert await tx.query("SELECT email FROM users WHERE id = ?", (1,)) == [
                ("ann@example.com",)
            ]
            raise Boom

    async with backend.transaction() as tx:
        assert await tx.query("SELECT email FROM users") == []


async def test_store_query_reads_what_a_transaction_committed(
    backend: JobStore, users: None
) -> None:
    async with backend.transaction() as tx:
        await tx.execute(insert_user(1, "ann@example.com"))
        await tx.execute(insert_user(2, "bob@example.com"))

    rows = await backend.query("SELECT id, email FROM users WHERE id > ? ORDER BY id", (0,))

    assert [tuple(row) for row in rows] == [(1, "ann@example.com"), (2, "bob@example.com")]


async def test_push_result_in_a_transaction_commits_with_the_app_row(
    backend: JobStore, users: None, autojump_clock: trio.testing.MockClock
) -> None:
    listener = Listener()
    backend.add_push_listener(listener)
    now = backend.clock.now()
    async with backend.transaction() as tx:
        await tx.execute(insert_user(1, "ann@example.com"))
        result = await tx.push_result(Email(to="ann@example.com"), unique_key="welcome:1")
        assert listener.calls == [], "workers hear of the job only after the commit"

    assert result.inserted
    assert result.row == await backend.job_get(result.row.id)
    assert (result.row.task, result.row.state, result.row.run_at) == (
        EMAIL, JobState.AVAILABLE, now
    )
    assert listener.calls == [(frozenset([EMAIL]), now)]
    assert await user_emails(backend) == ["ann@example.com"]


async def test_push_result_in_a_transaction_returns_a_committed_holder(
    backend: JobStore, users: None
) -> None:
    holder = await backend.push_result(Email(to="ann@example.com"), unique_key="k")

    async with backend.transaction() as tx:
        again = await tx.push_result(Email(to="bob@example.com"), unique_key="k")
        fresh = await tx.push_result(Report(month=1), unique_key="k")

    assert not again.inserted
    assert again.row == holder.row
    assert fresh.inserted
    assert fresh.row.task == REPORT
    assert len(await all_jobs(backend)) == 2


async def test_push_result_in_a_rolled_back_transaction_leaves_no_job(
    backend: JobStore, users: None
) -> None:
    with pytest.raises(Boom):
        async with backend.transaction() as tx:
            result = await tx.push_result(Email(to="ann@example.com"), unique_key="k")
            assert result.inserted
            raise Boom

    with pytest.raises(JobNotFound):
        await backend.job_get(result.row.id)
    assert (await backend.push_result(Email(to="ann@example.com"), unique_key="k")).inserted


async def test_query_and_push_result_refuse_a_finished_transaction(backend: JobStore) -> None:
    async with backend.transaction() as tx:
        pass

    with pytest.raises(StoreError):
        await tx.query("SELECT 1")
    with pytest.raises(StoreError):
        await tx.push_result(Email(to="ann@example.com"))
    assert await all_jobs(backend) == []
