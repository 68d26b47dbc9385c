"""What only the PostgreSQL store has to show: app SQL, schemas, migrations across processes,
NOTIFY between stores, cancellation safety, and recovery from lost connections."""

from __future__ import annotations

import math
import threading
import time
import uuid
from functools import partial

import psycopg
import pytest
import trio
from support.pg_tasks import Mark
from support.postgres import (
    URL,
    Heard,
    drop_schema,
    new_schema_name,
    require_postgres,
    schema_store,
)
from support.waiting import wait_until

from service.jobs import (
    ConstraintViolation,
    JobState,
    Migration,
    PostgresStore,
    Push,
    SetStateIfRunning,
    StoreError,
    StoreUnavailable,
    Workflow,
)
from service.jobs._postgres.copy import COPY_FROM, RESERVE_FIRST, SEQUENCE
from service.jobs._push import STREAM_FROM

MARK = Mark.options.name

#: The test server must be reachable (the ``pg_url`` fixture skips, or fails under CI=true).
needs_server = pytest.mark.usefixtures("pg_url")


def terminate(application_name: str) -> int:
    """Kill the server side of every connection with ``application_name``; how many."""
    with psycopg.connect(URL, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            (application_name,),
        ).fetchall()
    return len(rows)


@needs_server
async def test_app_sql_with_question_marks_runs_unchanged() -> None:
    async with schema_store() as store:
        async with store.transaction() as tx:
            await tx.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
            await tx.execute("INSERT INTO notes (id, body) VALUES (?, ?)", (1, "50% done?"))
            await tx.execute("INSERT INTO notes (id, body) VALUES (?, 'why? 100%')", (2,))
        rows = await store.query(
            "SELECT id, body, '?' FROM notes WHERE body LIKE ? OR id = ? ORDER BY id",
            ("50%", 2),
        )

    assert rows == [(1, "50% done?", "?"), (2, "why? 100%", "?")]


@needs_server
async def test_an_app_unique_violation_names_its_index() -> None:
    async with schema_store() as store:
        async with store.transaction() as tx:
            await tx.execute("CREATE TABLE people (email TEXT NOT NULL)")
            await tx.execute("CREATE UNIQUE INDEX people_email_unique ON people (lower(email))")
            await tx.execute("INSERT INTO people (email) VALUES (?)", ("ann@example.com",))
        with pytest.raises(ConstraintViolation, match="people_email_unique"):
            async with store.transaction() as tx:
                await tx.execute("INSERT INTO people (email) VALUES (?)", ("ANN@example.com",))


@needs_server
async def test_a_syntax_error_is_a_store_error_but_no_constraint_violation() -> None:
    async with schema_store() as store:
        with pytest.raises(StoreError) as info:
            await store.query("SELEKT 1")

    assert not isinstance(info.value, ConstraintViolation | StoreUnavailable)


@needs_server
async def test_a_swallowed_error_aborts_the_transaction_instead_of_committing_part_of_it() -> None:
    heard = Heard()
    async with schema_store() as store:
        store.add_push_listener(heard)
        async with store.transaction() as tx:
            await tx.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        with pytest.raises(StoreError, match="rolled back"):
            async with store.transaction() as tx:
                await tx.execute("INSERT INTO t (id) VALUES (1)")
                await tx.push(Mark(n=1))
                with pytest.raises(ConstraintViolation):
                    await tx.execute("INSERT INTO t (id) VALUES (1)")
                with pytest.raises(StoreError):
                    await tx.execute("INSERT INTO t (id) VALUES (2)")
        assert await store.query("SELECT id FROM t") == []
        assert await store.job_count_by_state() == {}

    assert heard.calls == []


@needs_server
async def test_a_store_refuses_calls_from_inside_its_own_transaction() -> None:
    async with schema_store() as store, store.transaction() as tx:
        with pytest.raises(StoreError, match=r"tx\.push"):
            await store.push(Mark(n=1))
        await tx.push(Mark(n=2))


@needs_server
async def test_schemas_keep_stores_apart() -> None:
    async with schema_store() as a, schema_store() as b:
        await a.push(Mark(n=1))

        assert await a.job_count_by_state() == {(MARK, JobState.AVAILABLE): 1}
        assert await b.job_count_by_state() == {}


@needs_server
async def test_processes_that_open_at_once_apply_each_migration_once() -> None:
    url, schema = require_postgres(), new_schema_name()
    app = Migration(
        component="app", version=1, description="a table of the app's",
        statements={"postgresql": ["CREATE TABLE app_things (id BIGINT PRIMARY KEY)"]},
    )
    stores = [PostgresStore(url, schema=schema, migrations=[app], listen=False)
              for _ in range(6)]
    try:
        async with trio.open_nursery() as nursery:
            for store in stores:
                nursery.start_soon(store.open)
        applied = [store.applied_migrations for store in stores]
        again = PostgresStore(url, schema=schema, migrations=[app], listen=False)
        async with again:
            assert again.applied_migrations == []
            assert await again.query("SELECT count(*) FROM app_things") == [(0,)]
    finally:
        for store in stores:
            await store.aclose()
        await trio.to_thread.run_sync(drop_schema, schema)

    assert sorted(applied, key=len) == [[]] * 5 + [
        ["app:1", "jobs:1", "jobs:2", "jobs:3", "jobs:4", "jobs:5", "jobs:6", "jobs:7",
         "outcomes:1", "workers:1", "workflows:1", "workflows:2"]]


@needs_server
async def test_a_push_wakes_the_listeners_of_another_store_through_notify() -> None:
    async with schema_store() as pusher, PostgresStore(URL, schema=pusher.schema) as other:
        mine, theirs = Heard(), Heard()
        pusher.add_push_listener(mine)
        other.add_push_listener(theirs)

        await pusher.push(Mark(n=1), delay=30)
        await theirs.wait()
        await pusher.push(Mark(n=2))
        await theirs.wait()
        heard_due_at = other.clock.now()
        await trio.sleep(0.2)  # our own NOTIFY must not call our listeners a second time

    assert len(mine.calls) == 2
    [(tasks, delayed), (due_tasks, due)] = theirs.calls
    assert tasks == due_tasks == frozenset({MARK})
    assert delayed == mine.calls[0][1], "a delayed push carries its run_at"
    assert math.isclose(delayed, heard_due_at + 30, abs_tol=5)
    assert due <= heard_due_at, "a due push is due by the listener's own clock"


@needs_server
async def test_a_rolled_back_push_sends_no_notification() -> None:
    async with schema_store() as pusher, PostgresStore(URL, schema=pusher.schema) as other:
        heard = Heard()
        other.add_push_listener(heard)
        with pytest.raises(KeyError):
            async with pusher.transaction() as tx:
                await tx.push(Mark(n=1))
                raise KeyError("no")
        async with pusher.transaction() as tx:
            await tx.push(Mark(n=2), delay=60)
        await heard.wait()

    assert len(heard.calls) == 1, "only the committed push was heard"


@needs_server
async def test_a_cancelled_call_finishes_its_statement_and_keeps_the_pool_whole() -> None:
    async with schema_store(max_size=2) as store:
        started = time.monotonic()
        rows = None
        with trio.move_on_after(0.05) as scope:
            rows = await store.query("SELECT 7 FROM pg_sleep(0.4)")
            await trio.lowlevel.checkpoint()  # the cancellation lands here, after the call
        assert scope.cancelled_caught
        assert rows == [(7,)], "the call ran to completion and returned its rows"
        assert time.monotonic() - started >= 0.4

        with trio.move_on_after(0.05):
            async with store.transaction() as tx:
                await tx.push(Mark(n=1))
                await tx.execute("SELECT pg_sleep(0.3)")  # the deadline passes meanwhile
                await trio.lowlevel.checkpoint()

        async def hold() -> None:
            async with store.transaction() as tx:
                await tx.execute("SELECT 1")
                await trio.sleep(0.05)

        with trio.fail_after(5):  # a leaked connection would leave one of these waiting
            async with trio.open_nursery() as nursery:
                for _ in range(6):
                    nursery.start_soon(hold)
        assert await store.job_count_by_state() == {}


@needs_server
async def test_the_store_recovers_when_the_server_ends_its_connections() -> None:
    name = f"test-kill-{uuid.uuid4().hex[:8]}"
    async with (
        schema_store(application_name=name, min_size=2) as store,
        PostgresStore(URL, schema=store.schema, listen=False) as pusher,
    ):
        heard = Heard()
        store.add_push_listener(heard)
        await store.push(Mark(n=1))
        assert await trio.to_thread.run_sync(terminate, name) >= 2
        await trio.sleep(0.3)  # the goodbye reaches the client sockets

        assert await store.job_count_by_state() == {(MARK, JobState.AVAILABLE): 1}
        async def push_and_listen() -> list[tuple[frozenset[str], float]]:
            await pusher.push(Mark(n=2))
            await trio.sleep(0.2)
            return list(heard.calls)

        # the listener reconnects and LISTENs again
        await wait_until("a NOTIFY heard after the server ended the connections",
                         push_and_listen, bool, within=20, poll=0)


async def test_open_fails_at_once_when_the_server_cannot_be_reached() -> None:
    store = PostgresStore("postgresql://postgres@127.0.0.1:9/test", schema="nowhere")
    started = time.monotonic()
    with pytest.raises(StoreUnavailable):
        await store.open()

    assert time.monotonic() - started < 3
    with pytest.raises(StoreError):
        await store.job_count_by_state()


@needs_server
async def test_a_closed_store_can_be_opened_again() -> None:
    async with schema_store() as store:
        await store.push(Mark(n=1))
        await store.aclose()
        with pytest.raises(StoreError, match="not open"):
            await store.job_count_by_state()
        await store.open()

        assert await store.job_count_by_state() == {(MARK, JobState.AVAILABLE): 1}


@needs_server
async def test_a_paused_queue_is_not_claimed_and_its_resume_wakes_other_processes() -> None:
    async with schema_store() as store, PostgresStore(URL, schema=store.schema) as other:
        heard = Heard()
        other.add_push_listener(heard)
        await store.queue_set_paused(MARK, True)
        [job_id] = await store.push_many([Mark(n=1)])
        await heard.wait()
        heard.calls.clear()
        now = store.clock.now()

        assert await other.queue_paused() == {MARK}
        assert await other.job_claim(MARK, "w", 10, now, now + 30) == []

        await store.queue_set_paused(MARK, False)
        await heard.wait()

        assert await other.queue_paused() == set()
        [row] = await other.job_claim(MARK, "w", 10, now, now + 30)
        assert row.id == job_id


@needs_server
async def test_big_batches_reserve_their_ids_from_the_sequence_jobs_id_draws_on() -> None:
    async with schema_store() as store:
        [(sequence,)] = await store.query("SELECT pg_get_serial_sequence('jobs', 'id')")
        assert sequence == f"{store.schema}.{SEQUENCE}"
        first = await store.push(Mark(n=0))
        ids = await store.push_many([Mark(n=n) for n in range(COPY_FROM)])
        last = await store.push(Mark(n=-1))

    assert first < ids[0]
    assert ids == list(range(ids[0], ids[0] + COPY_FROM)), "reserved in one go, in push order"
    assert ids[-1] < last


@needs_server
async def test_a_lease_renewal_does_not_wait_for_a_row_an_outcome_is_writing() -> None:
    # A worker's renewal and its outcome writes lock the same running rows in different
    # orders: a renewal that waited for a locked row deadlocked with them (seen under load).
    # It skips the locked row, counts it as held, and renews the others at once.
    async with schema_store() as store:
        await store.push_many([Mark(n=n) for n in range(2)])
        now = time.time()
        claimed = await store.job_claim(MARK, "w1", 2, now, now + 15)
        ids = sorted(job.id for job in claimed)
        locked, release, gave_up = threading.Event(), threading.Event(), threading.Event()

        def hold() -> None:  # another transaction holding the first row's lock
            with psycopg.connect(URL, autocommit=False) as holder:
                holder.execute(f"SET search_path TO {store.schema}")
                holder.execute("SELECT id FROM jobs WHERE id = %s FOR UPDATE", (ids[0],))
                locked.set()
                if not release.wait(10):
                    gave_up.set()
                holder.rollback()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.to_thread.run_sync, hold)
            await trio.to_thread.run_sync(locked.wait)
            held = await store.job_renew_leases("w1", ids, now + 60)
            assert not gave_up.is_set(), "the renewal waited for the lock holder"
            release.set()
        assert sorted(held) == ids
        leases = dict(await store.query("SELECT id, lease_expires_at FROM jobs"))
        assert leases[ids[1]] == pytest.approx(now + 60), "the free row was renewed"
        assert leases[ids[0]] == pytest.approx(now + 15), "the locked row is renewed next time"
        # A row no longer ours is not counted as held, locked or not.
        await store.query("UPDATE jobs SET lease_owner = 'w2' WHERE id = ?", (ids[1],))
        assert await store.job_renew_leases("w1", ids, now + 90) == [ids[0]]


def _waiting_for_locks() -> int:
    """Statements of this database waiting for a lock now (tests take turns on the server)."""
    with psycopg.connect(URL, autocommit=True) as conn:
        [(count,)] = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND datname = current_database()").fetchall()
    return count


@needs_server
async def test_an_outcome_written_while_a_workflow_on_its_job_commits_releases_the_member() -> None:
    # The workflow's push locks and marks the running job it waits for, then waits (another
    # transaction holds its table); meanwhile the job's outcome starts and waits for the job's
    # lock. When both go on, the outcome's statement began before the workflow's edge
    # existed: it must still settle that edge, or the member waits forever.
    async with schema_store() as store:
        dependency = await store.push(Mark(n=0))
        now = time.time()
        [claimed] = await store.job_claim(MARK, "w1", 1, now, now + 60)
        workflow = Workflow("late")
        workflow.add(Mark(n=1), after=[dependency])
        pushed: list[list[int]] = []
        recorded: list[bool] = []
        locked, release = threading.Event(), threading.Event()

        def hold_workflows_table() -> None:
            with psycopg.connect(URL, autocommit=False) as holder:
                holder.execute(f"LOCK TABLE {store.schema}.job_workflows IN EXCLUSIVE MODE")
                locked.set()
                release.wait(20)
                holder.rollback()

        async def push_workflow() -> None:
            pushed.append(await store.push_workflow(workflow))

        async def record_outcome() -> None:
            recorded.extend(await store.job_set_state_if_running_many([SetStateIfRunning(
                id=dependency, owner="w1", attempt=claimed.attempt, state=JobState.COMPLETED,
                finished_at=time.time())]))

        waiting = partial(trio.to_thread.run_sync, _waiting_for_locks)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.to_thread.run_sync, hold_workflows_table)
            await trio.to_thread.run_sync(locked.wait)
            nursery.start_soon(push_workflow)
            await wait_until("the workflow's push to wait", waiting, lambda n: n >= 1,
                             within=10, poll=0.05)
            nursery.start_soon(record_outcome)
            await wait_until("the outcome to wait too", waiting, lambda n: n >= 2,
                             within=10, poll=0.05)
            release.set()
        assert recorded == [True]
        [[member]] = pushed
        assert (await store.job_get(dependency)).state is JobState.COMPLETED
        assert (await store.job_get(member)).state is JobState.AVAILABLE


@needs_server
async def test_a_streamed_batch_of_known_length_reserves_just_its_ids() -> None:
    size = STREAM_FROM + 500
    async with schema_store() as store:
        listed = await store.push_many([Mark(n=n) for n in range(size)])
        after_listed = await store.push(Mark(n=-1))
        generated = await store.push_many(Mark(n=n) for n in range(3 * RESERVE_FIRST))
        after_generated = await store.push(Mark(n=-2))

    assert listed == list(range(listed[0], listed[0] + size))
    assert after_listed == listed[-1] + 1, "no id reserved and left unused"
    # Of unknown length: reserved in growing blocks, in push order; the rest stay unused.
    assert generated == sorted(generated)
    assert after_listed < generated[0]
    assert generated[-1] < after_generated


@needs_server
async def test_a_streamed_batch_tells_other_processes_its_tasks_and_earliest_run_at() -> None:
    # The NOTIFY of a streamed batch comes from what its chunks gathered as they were copied:
    # here the earliest row is in its last chunk.
    async with schema_store() as store, PostgresStore(URL, schema=store.schema) as other:
        heard = Heard()
        other.add_push_listener(heard)
        now = store.clock.now()
        plan = [Push(task=Mark(n=n), delay=600 + n) for n in range(STREAM_FROM + 300)]
        plan[-2] = Push(task=Mark(n=-1), delay=60)
        await store.push_many(iter(plan))
        await heard.wait()

    [(tasks, earliest)] = heard.calls
    assert tasks == {MARK}
    assert now + 60 <= earliest < now + 70
