"""The SQL of flow control on SQLite: limited claims, queue limit rows, pauses of a task or key.

The single writer (``BEGIN IMMEDIATE``) makes every count exact: the claim's count of running
jobs and its update happen in one statement, inside one write transaction with the rate check.
"""

from __future__ import annotations

import functools
import json
from typing import TYPE_CHECKING, Any

from .._limits import (
    AfterClaim,
    LimitedClaim,
    Limits,
    QueueLimitsRow,
    Throttle,
    explain,
    gate,
    key_want,
)
from .._rows import CLAIMED_COLUMNS, CLAIMED_COUNT, claim_order, to_claimed

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Sequence

_SET_RUNNING = (
    "UPDATE jobs SET state = 'running', attempt = attempt + 1, attempted_at = :now,"
    " lease_owner = :owner, lease_expires_at = :expires"
)
#: Running jobs hold slots -- except the claimer's own attempts that have ended and whose
#: outcomes are being written (``:ended``, JSON ``[[id, attempt], ...]``): their task code has
#: returned, so their slots are the claimer's to reuse. Another process counts them until the
#: outcome commits; a dead process's jobs are counted until a rescue returns them.
_HOLDS_SLOT = (
    "NOT (lease_owner = :owner AND (id, attempt) IN"
    " (SELECT value ->> 0, value ->> 1 FROM json_each(:ended)))"
)
_RUNNING = (
    "(SELECT count(*) FROM jobs WHERE state = 'running' AND task = :task AND "
    + _HOLDS_SLOT + ")"
)

#: Jobs without keys: the plain claim, its batch bounded by the free global slots.
_CLAIM = (
    _SET_RUNNING
    + " WHERE id IN (SELECT id FROM jobs WHERE state = 'available' AND task = :task"
    "  AND (expires_at IS NULL OR expires_at > :now)"
    "  ORDER BY priority, run_at, id LIMIT {cap}){held}"
    f" RETURNING {CLAIMED_COLUMNS}, concurrency_key"
)

#: Without a rate, the queue row is read in the claim itself: no start while it is paused
#: (by an operator, or by ``RateLimited``). With one, ``gate`` reads it first.
_HELD = (
    " AND NOT EXISTS (SELECT 1 FROM job_queues WHERE task = :task"
    " AND (paused = 1 OR blocked_until > :now))"
)

#: Jobs with keys, round-robin: every key's oldest jobs (one index seek per key, a loose scan
#: of ``jobs_keyed``), each key capped by its free per-key slots and its own pause, ranked by
#: their place within their key, so one batch takes the first job of every key before the
#: second of any. Jobs without a key form one more group. No index holds only those: their
#: search walks ``jobs_available`` past the keyed jobs, so it stops at ``bound``, the cap-th
#: oldest first job of a key. When that many keys offer a first job, the batch holds first
#: jobs only, and a job without a key behind the bound could not be in it: the walk is as
#: long as the jobs ahead of the batch, not the queue (unbounded: 3.8 ms a claim with 20,000
#: keyed jobs queued). Three index ranges: SQLite seeks ``(priority, run_at, id) <`` only on
#: literal values, and on (priority, run_at) alone it would walk a whole ``push_many``.
_NO_BOUND = "9223372036854775807"  # a priority above any: no bound
_UNKEYED = (
    "state = 'available' AND task = :task AND concurrency_key IS NULL"
    " AND (expires_at IS NULL OR expires_at > :now)"
)
_CLAIM_KEYED = (
    "WITH RECURSIVE keys(k) AS ("
    " SELECT min(concurrency_key) FROM jobs WHERE state = 'available' AND task = :task"
    "  AND concurrency_key IS NOT NULL"
    " UNION ALL"
    " SELECT (SELECT min(concurrency_key) FROM jobs WHERE state = 'available' AND task = :task"
    "  AND concurrency_key IS NOT NULL AND concurrency_key > keys.k) FROM keys"
    " WHERE keys.k IS NOT NULL"
    "), allowed(k, cap) AS ("
    " SELECT k, {key_cap} FROM keys WHERE k IS NOT NULL AND NOT EXISTS (SELECT 1"
    "  FROM job_queue_keys q WHERE q.task = :task AND q.key = keys.k AND q.next_at > :now)"
    "), keyed(id, priority, run_at, rn, cap) AS MATERIALIZED ("
    " SELECT j.id, j.priority, j.run_at,"
    "  row_number() OVER (PARTITION BY a.k ORDER BY j.priority, j.run_at, j.id), a.cap"
    " FROM allowed a, jobs j WHERE a.cap > 0 AND j.id IN (SELECT id FROM jobs"
    "  WHERE state = 'available' AND task = :task AND concurrency_key = a.k"
    "  AND (expires_at IS NULL OR expires_at > :now)"
    "  ORDER BY priority, run_at, id LIMIT :key_want)"
    "), bound(p, r, i) AS MATERIALIZED ("
    " SELECT priority, run_at, id FROM (SELECT priority, run_at, id, 0 AS last FROM ("
    "  SELECT priority, run_at, id FROM keyed WHERE rn = 1"
    "  ORDER BY priority, run_at, id LIMIT 1 OFFSET max(0, {cap} - 1))"
    "  UNION ALL SELECT " + _NO_BOUND + ", 0.0, 0, 1) ORDER BY last LIMIT 1"
    "), unkeyed(id, priority, run_at) AS ("
    " SELECT * FROM (SELECT id, priority, run_at FROM jobs WHERE " + _UNKEYED
    + "  AND priority < (SELECT p FROM bound) ORDER BY priority, run_at, id LIMIT :want)"
    " UNION ALL"
    " SELECT * FROM (SELECT id, priority, run_at FROM jobs WHERE " + _UNKEYED
    + "  AND priority = (SELECT p FROM bound) AND run_at < (SELECT r FROM bound)"
    "  ORDER BY run_at, id LIMIT :want)"
    " UNION ALL"
    " SELECT * FROM (SELECT id, priority, run_at FROM jobs WHERE " + _UNKEYED
    + "  AND priority = (SELECT p FROM bound) AND run_at = (SELECT r FROM bound)"
    "  AND id < (SELECT i FROM bound) ORDER BY id LIMIT :want)"
    "), ranked(id, priority, run_at, rn, cap) AS ("
    " SELECT * FROM keyed"
    " UNION ALL"
    " SELECT id, priority, run_at, row_number() OVER (ORDER BY priority, run_at, id), :want"
    " FROM (SELECT * FROM unkeyed ORDER BY priority, run_at, id LIMIT :want)"
    ")"
    + _SET_RUNNING
    + " WHERE id IN (SELECT id FROM ranked WHERE rn <= cap"
    "  ORDER BY rn, priority, run_at, id LIMIT {cap}){held}"
    f" RETURNING {CLAIMED_COLUMNS}, concurrency_key"
)


def _cap(limits: Limits) -> str:
    if limits.global_concurrency is None:
        return ":want"
    return f"max(0, min(:want, :global - {_RUNNING}))"


def _key_cap(limits: Limits) -> str:
    cap = ":want"
    if limits.per_key is not None:
        cap = ("(:per_key - (SELECT count(*) FROM jobs WHERE state = 'running' AND task = :task"
               f" AND concurrency_key = keys.k AND {_HOLDS_SLOT}))")
    if limits.rate is not None and limits.rate.per_key:
        cap = f"min({cap}, 1)"
    return cap


def read_row(conn: sqlite3.Connection, task: str) -> QueueLimitsRow:
    row = conn.execute(
        "SELECT paused, limits, blocked_until, rate_next_at FROM job_queues WHERE task = ?",
        (task,),
    ).fetchone()
    if row is None:
        return QueueLimitsRow(task=task, override=None, blocked_until=None, rate_next_at=None)
    return QueueLimitsRow(task=task, override=row[1], blocked_until=row[2],
                          rate_next_at=row[3], paused=bool(row[0]))


def claim_limited(
    conn: sqlite3.Connection, task: str, owner: str, want: int, now: float, expires: float,
    limits: Limits, ended: Sequence[tuple[int, int]] = (),
) -> LimitedClaim:
    """Claim up to ``want`` jobs of ``task`` within ``limits``, in the caller's transaction.

    ``ended``: (id, attempt) of the claimer's attempts whose outcomes are being written.
    """
    if limits.rate is not None:
        queue = read_row(conn, task)
        if queue.paused:
            return LimitedClaim(jobs=[])
        want, held = gate(limits, want, now, queue)
        if held is not None:
            return LimitedClaim(jobs=[], throttle=held)
    params: dict[str, Any] = {"now": now, "owner": owner, "expires": expires, "task": task,
                              "want": want, "global": limits.global_concurrency,
                              "per_key": limits.per_key, "key_want": key_want(limits, want),
                              "ended": json.dumps([list(pair) for pair in ended])}
    sql = _claim_sql(limits)
    rows = conn.execute(sql, params).fetchall()
    jobs = sorted((to_claimed(r, key=r[CLAIMED_COUNT]) for r in rows), key=claim_order)
    _consume_rate(conn, task, now, limits, jobs)
    throttle = None
    if len(jobs) < want:
        throttle = _why(conn, limits, task, now, want, len(jobs))
    elif limits.rate is not None and not limits.rate.per_key:
        throttle = Throttle(reason="rate", retry_at=now + limits.rate.interval)
    return LimitedClaim(jobs=jobs, throttle=throttle)


@functools.lru_cache(maxsize=64)
def _claim_sql(limits: Limits) -> str:
    held = "" if limits.rate is not None else _HELD
    if limits.keyed:
        return _CLAIM_KEYED.format(cap=_cap(limits), key_cap=_key_cap(limits), held=held)
    return _CLAIM.format(cap=_cap(limits), held=held)


def _consume_rate(conn: sqlite3.Connection, task: str, now: float, limits: Limits,
                  jobs: Sequence[Any]) -> None:
    rate = limits.rate
    if rate is None or not jobs:
        return
    if not rate.per_key:
        conn.execute(
            "INSERT INTO job_queues (task, updated_at, rate_next_at) VALUES (?, ?, ?)"
            " ON CONFLICT (task) DO UPDATE SET rate_next_at = excluded.rate_next_at",
            (task, now, now + rate.interval * len(jobs)),
        )
        return
    conn.execute("DELETE FROM job_queue_keys WHERE task = ? AND next_at <= ?", (task, now))
    conn.executemany(
        "INSERT INTO job_queue_keys (task, key, next_at) VALUES (?, ?, ?)"
        " ON CONFLICT (task, key) DO UPDATE SET next_at = max(next_at, excluded.next_at)",
        [(task, job.concurrency_key, now + rate.interval) for job in jobs
         if job.concurrency_key is not None],
    )


#: Why a claim took fewer jobs than it asked: the queue row (paused, paused by
#: ``RateLimited``), the running count, whether jobs are left, and the next start of a paused or
#: rate-limited key -- one statement.
_WHY = (
    "SELECT coalesce(q.paused, 0), q.blocked_until, q.rate_next_at,"
    " (SELECT count(*) FROM jobs WHERE state = 'running' AND task = :task),"
    " EXISTS (SELECT 1 FROM jobs WHERE state = 'available' AND task = :task),"
    " (SELECT min(next_at) FROM job_queue_keys WHERE task = :task AND next_at > :now)"
    " FROM (SELECT 1) AS one LEFT JOIN job_queues q ON q.task = :task"
)


def _why(conn: sqlite3.Connection, limits: Limits, task: str, now: float, want: int,
         got: int) -> Throttle | None:
    row = conn.execute(_WHY, {"task": task, "now": now}).fetchone()
    seen = AfterClaim(paused=bool(row[0]), blocked_until=row[1], rate_next_at=row[2],
                      running=int(row[3]), more=bool(row[4]), key_next_at=row[5])
    return explain(limits, want, got, now, seen)


def block(conn: sqlite3.Connection, task: str, key: str | None, until: float,
          now: float) -> None:
    """No job of ``task`` (of its ``key``, if given) starts before ``until``, in any process."""
    if key is None:
        conn.execute(
            "INSERT INTO job_queues (task, updated_at, blocked_until) VALUES (?, ?, ?)"
            " ON CONFLICT (task) DO UPDATE SET"
            " blocked_until = max(coalesce(blocked_until, 0), excluded.blocked_until)",
            (task, now, until),
        )
        return
    conn.execute(
        "INSERT INTO job_queue_keys (task, key, next_at) VALUES (?, ?, ?)"
        " ON CONFLICT (task, key) DO UPDATE SET next_at = max(next_at, excluded.next_at)",
        (task, key, until),
    )


def set_limits(conn: sqlite3.Connection, task: str, override: str | None, now: float) -> None:
    conn.execute(
        "INSERT INTO job_queues (task, updated_at, limits) VALUES (?, ?, ?)"
        " ON CONFLICT (task) DO UPDATE SET limits = excluded.limits,"
        " updated_at = excluded.updated_at",
        (task, now, override),
    )


def limit_rows(conn: sqlite3.Connection) -> list[QueueLimitsRow]:
    """Every queue row that says anything about flow control."""
    return [
        QueueLimitsRow(task=r[0], override=r[1], blocked_until=r[2], rate_next_at=r[3],
                       paused=bool(r[4]))
        for r in conn.execute(
            "SELECT task, limits, blocked_until, rate_next_at, paused FROM job_queues"
            " WHERE limits IS NOT NULL OR blocked_until IS NOT NULL"
            " OR rate_next_at IS NOT NULL"
        )
    ]


def keyed_tasks(conn: sqlite3.Connection) -> list[str]:
    """Tasks with available jobs that carry a concurrency key (a loose scan of jobs_keyed)."""
    return [r[0] for r in conn.execute(
        "WITH RECURSIVE t(task) AS ("
        " SELECT min(task) FROM jobs WHERE state = 'available' AND concurrency_key IS NOT NULL"
        " UNION ALL"
        " SELECT (SELECT min(task) FROM jobs WHERE state = 'available'"
        "  AND concurrency_key IS NOT NULL AND task > t.task) FROM t WHERE t.task IS NOT NULL"
        ") SELECT task FROM t WHERE task IS NOT NULL"
    )]
