"""The SQLite boundary: write transactions and the translation of driver errors."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.jobs import StoreUnavailable
from service.jobs.sqlite.connection import connect, guarded, in_transaction


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    connection = connect(str(tmp_path / "x.db"))
    yield connection
    connection.close()


def test_a_transaction_sqlite_rolled_back_by_itself_reports_the_error_that_failed_it(
    conn: sqlite3.Connection,
) -> None:
    # On a full disk or an I/O error SQLite may roll the transaction back itself before the
    # error reaches us; the ROLLBACK that follows must not replace it with "no transaction".
    conn.execute("CREATE TABLE t (x)")

    def fails_like_a_full_disk(c: sqlite3.Connection) -> None:
        c.execute("INSERT INTO t VALUES (1)")
        c.execute("ROLLBACK")
        raise sqlite3.OperationalError("database or disk is full")

    with pytest.raises(StoreUnavailable, match="database or disk is full"):
        guarded(in_transaction, conn, fails_like_a_full_disk)
    assert not conn.in_transaction
    guarded(in_transaction, conn, lambda c: c.execute("INSERT INTO t VALUES (2)"))
    assert conn.execute("SELECT x FROM t").fetchall() == [(2,)]


def test_a_translated_error_names_sqlites_error_code(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE t (x UNIQUE)")
    conn.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(Exception, match=r"UNIQUE constraint failed: t\.x \(SQLITE_CONSTRAINT"):
        guarded(conn.execute, "INSERT INTO t VALUES (1)")
