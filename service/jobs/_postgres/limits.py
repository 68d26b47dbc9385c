"""The SQL of flow control on PostgreSQL: limited claims, queue limit rows, paused tasks or keys.

A claim under a count or a rate runs in one transaction that first locks its task's queue row
(``SELECT ... FOR UPDATE``, which reads the row as the last claim left it): claims of that task
take turns on every host, so the count of running jobs in the claim statement is exact. Keyed
claims without a count or rate take no lock (``FOR UPDATE SKIP LOCKED`` keeps them apart, as
plain claims).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._limits import LimitedClaim, Limits, QueueLimitsRow, Throttle, gate, throttle_after
from .._rows import CLAIMED_COLUMNS, claim_order, to_claimed
from .notify import DUE, notify_tasks

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .connection import Conn

_SET_RUNNING = (
    "UPDATE jobs SET state = 'running', attempt = attempt + 1, attempted_at = %(now)s,"
    " lease_owner = %(owner)s, lease_expires_at = %(expires)s"
)
_RUNNING = "(SELECT count(*) FROM jobs WHERE state = 'running' AND task = %(task)s)"

#: The pick is a CTE (materialised, being FOR UPDATE): as ``id IN (subquery)`` the planner may
#: run a subquery with a computed LIMIT once per outer row, and take more rows than the limit.
_CLAIM = (
    "WITH picked AS (SELECT id FROM jobs WHERE state = 'available' AND task = %(task)s"
    " ORDER BY priority, run_at, id LIMIT {cap} FOR UPDATE SKIP LOCKED) "
    + _SET_RUNNING
    + " FROM picked WHERE jobs.id = picked.id AND jobs.state = 'available'"
    f" RETURNING {CLAIMED_COLUMNS.replace('id, ', 'jobs.id, ', 1)}, concurrency_key"
)

#: Round-robin across keys: see the SQLite twin (``_sqlite/limits.py``).
_CLAIM_KEYED = (
    "WITH RECURSIVE keys(k) AS ("
    " (SELECT concurrency_key FROM jobs WHERE state = 'available' AND task = %(task)s"
    "  AND concurrency_key IS NOT NULL ORDER BY concurrency_key LIMIT 1)"
    " UNION ALL"
    " SELECT (SELECT j.concurrency_key FROM jobs j WHERE j.state = 'available'"
    "  AND j.task = %(task)s AND j.concurrency_key IS NOT NULL AND j.concurrency_key > keys.k"
    "  ORDER BY j.concurrency_key LIMIT 1) FROM keys WHERE keys.k IS NOT NULL"
    "), allowed AS ("
    " SELECT k, {key_cap} AS cap FROM keys WHERE k IS NOT NULL AND NOT EXISTS (SELECT 1"
    "  FROM job_queue_keys q WHERE q.task = %(task)s AND q.key = keys.k"
    "  AND q.next_at > %(now)s)"
    "), ranked AS ("
    " SELECT c.id, c.priority, c.run_at, a.cap,"
    "  row_number() OVER (PARTITION BY a.k ORDER BY c.priority, c.run_at, c.id) AS rn"
    " FROM allowed a CROSS JOIN LATERAL (SELECT id, priority, run_at FROM jobs"
    "  WHERE state = 'available' AND task = %(task)s AND concurrency_key = a.k"
    "  ORDER BY priority, run_at, id LIMIT greatest(a.cap, 0) FOR UPDATE SKIP LOCKED) c"
    " UNION ALL"
    " SELECT n.id, n.priority, n.run_at, %(want)s,"
    "  row_number() OVER (ORDER BY n.priority, n.run_at, n.id)"
    " FROM (SELECT id, priority, run_at FROM jobs WHERE state = 'available' AND task = %(task)s"
    "  AND concurrency_key IS NULL ORDER BY priority, run_at, id LIMIT %(want)s"
    "  FOR UPDATE SKIP LOCKED) n"
    "), picked AS MATERIALIZED (SELECT id FROM ranked WHERE rn <= cap"
    "  ORDER BY rn, priority, run_at, id LIMIT {cap}"
    ") "
    + _SET_RUNNING
    + " FROM picked WHERE jobs.id = picked.id AND jobs.state = 'available'"
    f" RETURNING {CLAIMED_COLUMNS.replace('id, ', 'jobs.id, ', 1)}, concurrency_key"
)


def _cap(limits: Limits) -> str:
    if limits.global_concurrency is None:
        return "%(want)s"
    return f"greatest(0, least(%(want)s, %(global)s - {_RUNNING}))"


def _key_cap(limits: Limits) -> str:
    cap = "%(want)s::bigint"
    if limits.per_key is not None:
        cap = ("(%(per_key)s - (SELECT count(*) FROM jobs WHERE state = 'running'"
               " AND task = %(task)s AND concurrency_key = keys.k))")
    if limits.rate is not None and limits.rate.per_key:
        cap = f"least({cap}, 1)"
    return cap


def read_row(conn: Conn, task: str, *, lock: bool = False) -> QueueLimitsRow:
    """The queue row of ``task``; ``lock``: and hold its row lock to the end of the transaction
    (created if missing), so claims of the task take turns and read the row as the last one
    left it."""
    sql = "SELECT paused, limits, blocked_until, rate_next_at FROM job_queues WHERE task = %s"
    row = conn.execute(sql + (" FOR UPDATE" if lock else ""), (task,)).fetchone()
    if row is None and lock:
        conn.execute("INSERT INTO job_queues (task, updated_at) VALUES (%s, 0)"
                     " ON CONFLICT (task) DO NOTHING", (task,))
        row = conn.execute(sql + " FOR UPDATE", (task,)).fetchone()
    if row is None:
        return QueueLimitsRow(task=task, override=None, blocked_until=None, rate_next_at=None)
    return QueueLimitsRow(task=task, override=row[1], blocked_until=row[2],
                          rate_next_at=row[3], paused=bool(row[0]))


def claim_limited(
    conn: Conn, task: str, owner: str, want: int, now: float, expires: float, limits: Limits
) -> LimitedClaim:
    """Claim up to ``want`` jobs of ``task`` within ``limits``, in a transaction of its own."""
    with conn.pipeline(), conn.transaction():  # BEGIN travels with the first statement
        queue = read_row(conn, task, lock=limits.serialised)
        if queue.paused:
            return LimitedClaim(jobs=[])
        want, held = gate(limits, want, now, queue)
        if held is not None:
            return LimitedClaim(jobs=[], throttle=held)
        params: dict[str, Any] = {"now": now, "owner": owner, "expires": expires, "task": task,
                                  "want": want, "global": limits.global_concurrency,
                                  "per_key": limits.per_key}
        sql = (_CLAIM_KEYED.format(cap=_cap(limits), key_cap=_key_cap(limits))
               if limits.keyed else _CLAIM.format(cap=_cap(limits)))
        rows = conn.execute(sql, params).fetchall()
        jobs = sorted((to_claimed(r, key=r[7]) for r in rows), key=claim_order)
        _consume_rate(conn, task, now, limits, jobs)
        throttle = None
        if len(jobs) < want:
            throttle = _why(conn, limits, task, now)
        elif limits.rate is not None and not limits.rate.per_key:
            throttle = Throttle(reason="rate", retry_at=now + limits.rate.interval)
        return LimitedClaim(jobs=jobs, throttle=throttle)


def _consume_rate(conn: Conn, task: str, now: float, limits: Limits,
                  jobs: Sequence[Any]) -> None:
    rate = limits.rate
    if rate is None or not jobs:
        return
    if not rate.per_key:
        conn.execute(
            "INSERT INTO job_queues (task, updated_at, rate_next_at) VALUES (%s, %s, %s)"
            " ON CONFLICT (task) DO UPDATE SET rate_next_at = excluded.rate_next_at",
            (task, now, now + rate.interval * len(jobs)),
        )
        return
    conn.execute("DELETE FROM job_queue_keys WHERE task = %s AND next_at <= %s", (task, now))
    keys = sorted({job.concurrency_key for job in jobs if job.concurrency_key is not None})
    if keys:
        conn.execute(
            "INSERT INTO job_queue_keys (task, key, next_at)"
            " SELECT %s, k, %s FROM unnest(%s::text[]) AS k"
            " ON CONFLICT (task, key) DO UPDATE"
            " SET next_at = greatest(job_queue_keys.next_at, excluded.next_at)",
            (task, now + rate.interval, keys),
        )


#: Why a claim took fewer jobs than it asked: the running count, whether jobs are left, and
#: the next start of a paused or rate-limited key -- one statement.
_WHY = (
    "SELECT (SELECT count(*) FROM jobs WHERE state = 'running' AND task = %s),"
    " EXISTS (SELECT 1 FROM jobs WHERE state = 'available' AND task = %s),"
    " (SELECT min(next_at) FROM job_queue_keys WHERE task = %s AND next_at > %s)"
)


def _why(conn: Conn, limits: Limits, task: str, now: float) -> Throttle | None:
    row = conn.execute(_WHY, (task, task, task, now)).fetchone()
    assert row is not None  # a SELECT without FROM returns one row
    running, more, key_next_at = row
    return throttle_after(limits, now, running=int(running), more=bool(more),
                          key_next_at=None if key_next_at is None else float(key_next_at))


def block(conn: Conn, task: str, key: str | None, until: float, now: float) -> None:
    """No job of ``task`` (of its ``key``, if given) starts before ``until``, on any host."""
    if key is None:
        conn.execute(
            "INSERT INTO job_queues (task, updated_at, blocked_until) VALUES (%s, %s, %s)"
            " ON CONFLICT (task) DO UPDATE SET blocked_until ="
            " greatest(coalesce(job_queues.blocked_until, 0), excluded.blocked_until)",
            (task, now, until),
        )
        return
    conn.execute(
        "INSERT INTO job_queue_keys (task, key, next_at) VALUES (%s, %s, %s)"
        " ON CONFLICT (task, key) DO UPDATE"
        " SET next_at = greatest(job_queue_keys.next_at, excluded.next_at)",
        (task, key, until),
    )


def set_limits(conn: Conn, task: str, override: str | None, now: float, channel: str,
               origin: str) -> None:
    """Store (or clear) an override; a NOTIFY lets idle workers look again at once."""
    with conn.transaction():
        conn.execute(
            "INSERT INTO job_queues (task, updated_at, limits) VALUES (%s, %s, %s)"
            " ON CONFLICT (task) DO UPDATE SET limits = excluded.limits,"
            " updated_at = excluded.updated_at",
            (task, now, override),
        )
        notify_tasks(conn, channel, origin, {task: DUE})


def limit_rows(conn: Conn) -> list[QueueLimitsRow]:
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


def keyed_tasks(conn: Conn) -> list[str]:
    """Tasks with available jobs that carry a concurrency key (a loose scan of jobs_keyed)."""
    return [r[0] for r in conn.execute(
        "WITH RECURSIVE t(task) AS ("
        " (SELECT task FROM jobs WHERE state = 'available' AND concurrency_key IS NOT NULL"
        "  ORDER BY task LIMIT 1)"
        " UNION ALL"
        " SELECT (SELECT j.task FROM jobs j WHERE j.state = 'available'"
        "  AND j.concurrency_key IS NOT NULL AND j.task > t.task ORDER BY j.task LIMIT 1)"
        " FROM t WHERE t.task IS NOT NULL"
        ") SELECT task FROM t WHERE task IS NOT NULL"
    )]
