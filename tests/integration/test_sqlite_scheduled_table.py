"""SQLite keeps jobs pushed for the future in ``scheduled_jobs``, apart from the due ones, so that
the rows a drain claims and completes sit together in ``jobs`` (bench.claims: the 99%-scheduled
drain). One id space across both tables; a job's id never changes."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from service.jobs import JobFilter, JobState
from service.jobs._sqlite import bulk, inserts, queries
from service.jobs._sqlite.connection import connect, in_transaction, migrate
from service.jobs._sqlite.schema import MIGRATIONS, SCHEDULED_JOBS
from service.jobs._store import JobInsert

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Iterator
    from pathlib import Path

NOW = 1_800_000_000.0


def job(state: JobState = JobState.AVAILABLE, key: str | None = None,
        run_at: float | None = None, **options: Any) -> JobInsert:
    at = (NOW + 60 if state is JobState.SCHEDULED else NOW) if run_at is None else run_at
    return JobInsert(task="email", args="{}", state=state, priority=0, max_attempts=3,
                     run_at=at, created_at=NOW, unique_key=key, **options)


FUTURE = JobState.SCHEDULED


def ids_in(conn: sqlite3.Connection, table: str) -> list[int]:
    return [r[0] for r in conn.execute(f"SELECT id FROM {table} ORDER BY id")]


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    connection = connect(str(tmp_path / "jobs.db"))
    in_transaction(connection, migrate, MIGRATIONS, NOW)
    yield connection
    connection.close()


def test_future_pushes_wait_apart_and_promotion_moves_them_keeping_ids(
    conn: sqlite3.Connection,
) -> None:
    assert conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'jobs'").fetchall() \
        == [(0,)], "a new database starts the shared sequence"
    ids = [r.id for r in in_transaction(
        conn, inserts.insert_many, [job(), job(FUTURE), job(FUTURE), job(), job(FUTURE)])]
    assert ids == [1, 2, 3, 4, 5]
    assert (ids_in(conn, "jobs"), ids_in(conn, "scheduled_jobs")) == ([1, 4], [2, 3, 5])

    assert in_transaction(conn, queries.promote_due, NOW + 60) == ["email"] * 3

    assert (ids_in(conn, "jobs"), ids_in(conn, "scheduled_jobs")) == ([1, 2, 3, 4, 5], [])
    assert {queries.get(conn, i).state for i in (2, 3, 5)} == {JobState.AVAILABLE}


def test_a_change_to_a_waiting_job_moves_it_to_jobs_first(conn: sqlite3.Connection) -> None:
    [first, second] = [r.id for r in in_transaction(
        conn, inserts.insert_many, [job(FUTURE), job(FUTURE)])]

    row = in_transaction(conn, queries.cancel, first, NOW, "no")

    assert (row.id, row.state) == (first, JobState.CANCELLED)
    assert (ids_in(conn, "jobs"), ids_in(conn, "scheduled_jobs")) == ([first], [second])
    assert [r.id for r in queries.list_jobs(conn, JobFilter())] == [second, first]


def test_a_replacing_push_keeps_a_future_holder_apart_and_a_due_one_in_jobs(
    conn: sqlite3.Connection,
) -> None:
    [first] = in_transaction(conn, inserts.insert_many, [job(FUTURE, key="a")])
    [later] = in_transaction(conn, inserts.insert_many, [
        job(FUTURE, key="a", run_at=NOW + 120, replace=True)])
    assert (later.id, later.replaced) == (first.id, True)
    assert (ids_in(conn, "jobs"), ids_in(conn, "scheduled_jobs")) == ([], [first.id])
    assert queries.get(conn, first.id).run_at == NOW + 120

    [due] = in_transaction(conn, inserts.insert_many, [job(key="a", replace=True)])

    assert due.id == first.id
    assert (ids_in(conn, "jobs"), ids_in(conn, "scheduled_jobs")) == ([first.id], [])
    assert queries.get(conn, first.id).state is JobState.AVAILABLE


def test_listings_of_other_states_never_walk_the_future_jobs(
    conn: sqlite3.Connection,
) -> None:
    in_transaction(conn, inserts.insert_many, [job(), job(FUTURE)])
    seen: list[str] = []
    conn.set_trace_callback(seen.append)
    try:
        queries.list_jobs(conn, JobFilter(state=JobState.AVAILABLE))
        bulk.count(conn, JobFilter(states=frozenset({JobState.DISCARDED,
                                                        JobState.RETRYABLE})))
        in_transaction(conn, bulk.cancel_many, JobFilter(state=JobState.AVAILABLE), NOW, "no")
    finally:
        conn.set_trace_callback(None)

    assert [s for s in seen if "scheduled_jobs" in s or "all_jobs" in s] == []
    assert (ids_in(conn, "jobs"), ids_in(conn, "scheduled_jobs")) == ([1], [2])
    assert [r.id for r in queries.list_jobs(conn, JobFilter(state=FUTURE))] == [2]


def test_ids_are_never_reused_across_the_tables(conn: sqlite3.Connection) -> None:
    [waiting] = in_transaction(conn, inserts.insert_many, [job(FUTURE)])
    in_transaction(conn, bulk.delete_many, JobFilter(state=FUTURE))
    [due] = in_transaction(conn, inserts.insert_many, [job()])
    [later] = in_transaction(conn, inserts.insert_many, [job(FUTURE, key="k")])
    [returned] = in_transaction(conn, inserts.insert_returning_many, [job(FUTURE)])

    assert [waiting.id, due.id, later.id, returned.row.id] == [1, 2, 3, 4]
    assert returned.row.state is FUTURE


def test_a_failed_transaction_takes_back_the_future_job_and_its_id(
    conn: sqlite3.Connection,
) -> None:
    conn.execute("BEGIN IMMEDIATE")
    inserts.insert_many(conn, [job(FUTURE)])
    conn.execute("ROLLBACK")

    assert ids_in(conn, "scheduled_jobs") == []
    [again] = in_transaction(conn, inserts.insert_many, [job(FUTURE)])
    assert again.id == 1


def test_an_existing_database_keeps_its_jobs_and_continues_their_ids(tmp_path: Path) -> None:
    conn = connect(str(tmp_path / "old.db"))
    try:
        before = [m for m in MIGRATIONS if m is not SCHEDULED_JOBS]
        in_transaction(conn, migrate, before, NOW)
        old = in_transaction(conn, insert_as_before, [
            ("available", NOW), ("scheduled", NOW + 60), ("available", NOW)])
        in_transaction(conn, migrate, MIGRATIONS, NOW)

        [later, due] = [r.id for r in in_transaction(
            conn, inserts.insert_many, [job(FUTURE), job()])]

        assert old == [1, 2, 3]
        assert [later, due] == [4, 5]
        assert conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'jobs'").fetchall() \
            == [(5,)], "one sequence row, past every id"
        assert ids_in(conn, "scheduled_jobs") == [later]
        assert in_transaction(conn, queries.promote_due, NOW + 60) == ["email", "email"]
        assert {queries.get(conn, i).state for i in (2, later)} == {JobState.AVAILABLE}
    finally:
        conn.close()


def insert_as_before(conn: sqlite3.Connection, rows: list[tuple[str, float]]) -> list[int]:
    """Rows as the engine wrote them before ``scheduled_jobs``: every job in ``jobs``."""
    return [conn.execute(
        "INSERT INTO jobs (task, args, state, max_attempts, run_at, created_at)"
        " VALUES ('email', ?, ?, 3, ?, ?) RETURNING id",
        (json.dumps({}), state, run_at, NOW)).fetchone()[0] for state, run_at in rows]
