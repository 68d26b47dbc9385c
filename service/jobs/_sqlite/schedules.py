"""The SQL of periodic schedules on SQLite, as synchronous functions of a connection.

Writes run inside the store's ``BEGIN IMMEDIATE`` transaction: the schedule's compare-and-set and
its tick's jobs commit together, and the write lock keeps other processes out until then.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._errors import ScheduleNotFound
from .._rows import SCHEDULE_COLUMNS, tick_insert, tick_insert_values, to_schedule

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Sequence

    from .._store import ScheduleDefinition, ScheduleRow, TickInsert


def register(
    conn: sqlite3.Connection, definitions: Sequence[ScheduleDefinition], now: float
) -> None:
    conn.executemany(
        "INSERT INTO job_schedules (name, cron, timezone, task, catch_up, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (name) DO UPDATE SET cron = excluded.cron, timezone = excluded.timezone,"
        " task = excluded.task, catch_up = excluded.catch_up, updated_at = excluded.updated_at"
        " WHERE (cron, timezone, task, catch_up) IS NOT"
        " (excluded.cron, excluded.timezone, excluded.task, excluded.catch_up)",
        [(d.name, d.cron, d.timezone, d.task, d.catch_up, now, now) for d in definitions],
    )


def list_all(conn: sqlite3.Connection) -> list[ScheduleRow]:
    return [to_schedule(r) for r in
            conn.execute(f"SELECT {SCHEDULE_COLUMNS} FROM job_schedules ORDER BY name")]


def get(conn: sqlite3.Connection, name: str) -> ScheduleRow | None:
    row = conn.execute(f"SELECT {SCHEDULE_COLUMNS} FROM job_schedules WHERE name = ?",
                       (name,)).fetchone()
    return None if row is None else to_schedule(row)


_INSERT = tick_insert("?")


def enqueue(
    conn: sqlite3.Connection, name: str, expected: float | None, last_tick: float,
    jobs: Sequence[TickInsert], now: float,
) -> list[int] | None:
    """The CAS on ``last_tick`` (``IS`` matches NULL too), then the tick's jobs."""
    moved = conn.execute(
        "UPDATE job_schedules SET last_tick = ?, updated_at = ?"
        " WHERE name = ? AND last_tick IS ? AND paused = 0",
        (last_tick, now, name, expected),
    ).rowcount
    if moved != 1:
        return None
    ids = []
    for item in jobs:
        [(job_id,)] = conn.execute(_INSERT, tick_insert_values(item)).fetchall()
        ids.append(int(job_id))
    if ids:
        conn.execute("UPDATE job_schedules SET last_job_id = ? WHERE name = ?", (ids[-1], name))
    return ids


def set_paused(conn: sqlite3.Connection, name: str, paused: bool, now: float) -> ScheduleRow:
    row = conn.execute(
        "UPDATE job_schedules SET paused = ?, updated_at = ? WHERE name = ?"
        f" RETURNING {SCHEDULE_COLUMNS}",
        (1 if paused else 0, now, name),
    ).fetchone()
    if row is None:
        raise ScheduleNotFound(name)
    return to_schedule(row)
