"""Big SQLite job tables, built fast, in the engine's own schema.

Pushing a million jobs through the engine would take minutes, so: open the file once through
``SQLiteStore`` (its migrations create the schema and indexes), close it, bulk-insert the rows
with plain ``sqlite3`` ``executemany`` in one transaction (``synchronous=OFF`` on that
connection only), close, and let the scenario reopen it through ``SQLiteStore``. Rows are what
the engine itself writes: pending jobs ``available`` (due) or ``scheduled`` (in the future, in
the table ``scheduled_jobs`` where the schema has it, with ids from the same sequence),
history ``completed`` within the last hour (inside the default one-day retention, so the
worker's pruner leaves it alone). Each table is built once per suite run and copied for each
measurement.
"""

from __future__ import annotations

import shutil
import sqlite3
import time
from typing import TYPE_CHECKING, Any

from service.jobs import _codec as codec

from .ours import NoOp
from .reference import create_engine_schema

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

CHUNK = 50_000
COLUMNS = ("task, args, state, priority, attempt, max_attempts, run_at, created_at,"
           " attempted_at, finished_at")
Row = tuple[str, str, str, int, int, int, float, float, float | None, float | None]


def _args(n: int) -> str:
    return f'{{"n":{n}}}'


assert _args(7) == codec.encode(NoOp(n=7), name="bench.noop"), "the engine's payload format"


def rows(history: int, due: int, scheduled: int, now: float, interleave: bool = True,
         finished_filler: bool = False) -> Iterator[Row]:
    """``history`` completed jobs, then ``due + scheduled`` pending ones: interleaved evenly
    (the due jobs' rows spread over the whole file), or the due ones first, stored together.
    ``finished_filler``: the ``scheduled`` rows are completed jobs instead (the same layout
    with history where the future jobs were)."""
    for n in range(history):
        at = now - 3600 + n * 1e-4
        yield ("bench.noop", _args(n), "completed", 0, 1, 20, at, at, at, at + 1e-3)
    pending = due + scheduled
    for k in range(pending):
        n = history + k
        # Interleaved: the due jobs are spread evenly (one in every pending/due rows).
        spread = due and (k * due) // pending != ((k + 1) * due) // pending
        if spread if interleave else k < due:
            yield ("bench.noop", _args(n), "available", 0, 0, 20, now - 60, now - 60, None, None)
        elif finished_filler:
            at = now - 3600 + k * 1e-4
            yield ("bench.noop", _args(n), "completed", 0, 1, 20, at, at, at, at + 1e-3)
        else:
            run_at = now + 3600 + k * 1e-3
            yield ("bench.noop", _args(n), "scheduled", 0, 0, 20, run_at, now, None, None)


def build(path: Path, *, history: int = 0, due: int = 0, scheduled: int = 0,
          interleave: bool = True, finished_filler: bool = False) -> float:
    """Create ``path`` with that many rows; the seconds the bulk insert took."""
    create_engine_schema(path)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("PRAGMA cache_size = -262144")
        start = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        source = rows(history, due, scheduled, time.time(), interleave, finished_filler)
        placeholders = ", ".join("?" * 11)
        apart = _has_scheduled_table(conn)
        next_id = 1
        while batch := [row for _, row in zip(range(CHUNK), source, strict=False)]:
            numbered = [(next_id + n, *row) for n, row in enumerate(batch)]
            next_id += len(batch)
            # As the engine writes them: future jobs in their own table where it has one.
            for table, chosen in _by_table(numbered, apart):
                conn.executemany(f"INSERT INTO {table} (id, {COLUMNS}) VALUES ({placeholders})",
                                 chosen)
        conn.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = 'jobs'", (next_id - 1,))
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return time.perf_counter() - start
    finally:
        conn.close()


def _has_scheduled_table(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_schema WHERE type = 'table'"
                        " AND name = 'scheduled_jobs'").fetchone() is not None


def _by_table(rows: list[tuple[Any, ...]], apart: bool) -> list[tuple[str, list[tuple[Any, ...]]]]:
    """Rows (id first, then :data:`COLUMNS`) by the table the engine keeps them in: future
    ('scheduled') ones in ``scheduled_jobs`` when ``apart``, the rest in ``jobs``."""
    if not apart:
        return [("jobs", rows)]
    return [("jobs", [r for r in rows if r[3] != "scheduled"]),
            ("scheduled_jobs", [r for r in rows if r[3] == "scheduled"])]


def cached(workdir: Path, name: str, **counts: Any) -> Path:
    """The table ``name`` under ``workdir``, built on first use."""
    path = workdir / "tables" / f"{name}.db"
    if not path.exists():
        path.parent.mkdir(exist_ok=True)
        build(path, **counts)
    return path


def copy(source: Path, target: Path) -> Path:
    """A private copy of a built table (its WAL was checkpointed and truncated)."""
    shutil.copyfile(source, target)
    return target
