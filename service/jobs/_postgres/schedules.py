"""The SQL of periodic schedules on PostgreSQL, as synchronous functions of a connection.

The compare-and-set on ``last_tick`` runs in the transaction that inserts the tick's jobs: a
second process's UPDATE waits on the row lock, then finds ``last_tick`` moved and matches
nothing (READ COMMITTED re-reads the row), so it inserts nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._errors import ScheduleNotFound
from .._rows import SCHEDULE_COLUMNS, tick_insert, tick_insert_values, to_schedule
from .inserts import notify

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .._store import ScheduleDefinition, ScheduleRow, TickInsert
    from .connection import Conn


def register(conn: Conn, definitions: Sequence[ScheduleDefinition], now: float) -> None:
    with conn.transaction():
        for d in definitions:
            conn.execute(
                "INSERT INTO job_schedules (name, cron, timezone, task, catch_up, created_at,"
                " updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (name) DO UPDATE SET cron = excluded.cron,"
                " timezone = excluded.timezone, task = excluded.task,"
                " catch_up = excluded.catch_up, updated_at = excluded.updated_at"
                " WHERE (job_schedules.cron, job_schedules.timezone, job_schedules.task,"
                "  job_schedules.catch_up) IS DISTINCT FROM"
                " (excluded.cron, excluded.timezone, excluded.task, excluded.catch_up)",
                (d.name, d.cron, d.timezone, d.task, d.catch_up, now, now),
            )


def list_all(conn: Conn) -> list[ScheduleRow]:
    return [to_schedule(r) for r in
            conn.execute(f"SELECT {SCHEDULE_COLUMNS} FROM job_schedules ORDER BY name")]


def get(conn: Conn, name: str) -> ScheduleRow | None:
    row = conn.execute(f"SELECT {SCHEDULE_COLUMNS} FROM job_schedules WHERE name = %s",
                       (name,)).fetchone()
    return None if row is None else to_schedule(row)


_INSERT = tick_insert("%s")


def enqueue(
    conn: Conn, name: str, expected: float | None, last_tick: float,
    jobs: Sequence[TickInsert], now: float, channel: str, origin: str,
) -> list[int] | None:
    with conn.transaction():
        moved = conn.execute(
            "UPDATE job_schedules SET last_tick = %s, updated_at = %s"
            " WHERE name = %s AND last_tick IS NOT DISTINCT FROM %s AND NOT paused",
            (last_tick, now, name, expected),
        ).rowcount
        if moved != 1:
            return None
        ids = []
        for item in jobs:
            row = conn.execute(_INSERT, tick_insert_values(item)).fetchone()
            assert row is not None  # an INSERT without ON CONFLICT returns its row
            ids.append(int(row[0]))
        if ids:
            conn.execute("UPDATE job_schedules SET last_job_id = %s WHERE name = %s",
                         (ids[-1], name))
            notify(conn, channel, origin, [item.job for item in jobs])
        return ids


def set_paused(conn: Conn, name: str, paused: bool, now: float) -> ScheduleRow:
    row = conn.execute(
        "UPDATE job_schedules SET paused = %s, updated_at = %s WHERE name = %s"
        f" RETURNING {SCHEDULE_COLUMNS}",
        (paused, now, name),
    ).fetchone()
    if row is None:
        raise ScheduleNotFound(name)
    return to_schedule(row)
