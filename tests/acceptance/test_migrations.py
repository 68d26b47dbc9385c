"""Schema migrations: versioned, idempotent, and safe when processes start at once."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest
from support.processes import service_env

from service.jobs import Migration, SQLiteStore

if TYPE_CHECKING:
    from pathlib import Path


def test_processes_migrating_one_new_file_at_once_apply_each_step_once(tmp_path: Path) -> None:
    env = service_env(tmp_path)
    processes = [
        subprocess.Popen([sys.executable, "-m", "service", "migrate"], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=60) for p in processes]
    assert [p.returncode for p in processes] == [0] * 4, outputs
    applied = [out for out, _ in outputs if out.startswith("applied:")]
    assert len(applied) == 1, outputs
    db = sqlite3.connect(tmp_path / "data" / "service.db")
    rows = db.execute("SELECT component, version FROM schema_migrations ORDER BY 1, 2").fetchall()
    assert rows == sorted(set(rows))
    assert ("jobs", 1) in rows
    assert ("app", 1) in rows


async def test_a_new_step_is_applied_once_on_the_next_start(tmp_path: Path) -> None:
    step = Migration(component="app", version=99, description="notes table",
                     statements={"sqlite": ["CREATE TABLE notes (id INTEGER PRIMARY KEY)"]})
    async with SQLiteStore(tmp_path / "x.db") as store:
        assert "app:99" not in store.applied_migrations
    async with SQLiteStore(tmp_path / "x.db", migrations=[step]) as store:
        assert store.applied_migrations == ["app:99"]
        assert await store.query("SELECT count(*) FROM notes") == [(0,)]
    async with SQLiteStore(tmp_path / "x.db", migrations=[step]) as store:
        assert store.applied_migrations == []


async def test_a_failing_step_leaves_the_schema_as_it_was(tmp_path: Path) -> None:
    bad = Migration(component="app", version=7, description="broken",
                    statements={"sqlite": ["CREATE TABLE half (id INTEGER)", "NOT SQL"]})
    with pytest.raises(Exception, match="syntax error"):
        async with SQLiteStore(tmp_path / "x.db", migrations=[bad]):
            pass
    db = sqlite3.connect(tmp_path / "x.db")
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "half" not in tables, "the whole migration rolled back"
    assert "jobs" not in tables, "the whole migration rolled back"
