"""The SQL of flow control on PostgreSQL: limited claims, queue limit rows, paused tasks or keys.

A claim under a count or a rate runs in one transaction that first locks its task's queue row
(``SELECT ... FOR UPDATE``, which reads the row as the last claim left it): claims of that task
take turns on every host, so the count of running jobs in the claim statement is exact. Keyed
claims without a count or rate take no lock (``FOR UPDATE SKIP LOCKED`` keeps them apart, as
plain claims).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._limits import AfterClaim, LimitedClaim, Limits, QueueLimitsRow, explain, key_want
from .._rows import CLAIMED_COLUMNS, CLAIMED_COUNT, claim_order, to_claimed
from .notify import DUE, notify_tasks
from .transaction import rollback

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .connection import Conn

_SET_RUNNING = (
    "UPDATE jobs SET state = 'running', attempt = attempt + 1, attempted_at = %(now)s,"
    " lease_owner = %(owner)s, lease_expires_at = %(expires)s"
)
_RUNNING = "(SELECT count(*) FROM jobs WHERE state = 'running' AND task = %(task)s)"
#: Running jobs hold slots -- except the claimer's own attempts that have ended and whose
#: outcomes are being written (``ended_ids``/``ended_attempts``): see the SQLite twin.
_HOLDS_SLOT = (
    "NOT (lease_owner = %(owner)s AND (id, attempt) IN"
    " (SELECT * FROM unnest(%(ended_ids)s::bigint[], %(ended_attempts)s::integer[])))"
)
_SLOTS_HELD = (
    "(SELECT count(*) FROM jobs WHERE state = 'running' AND task = %(task)s AND "
    + _HOLDS_SLOT + ")"
)

#: Creates the queue row if missing, else locks it without writing (``DO UPDATE ... WHERE
#: false`` still locks the conflicting row): claims of the task take turns from here to COMMIT.
_LOCK = (
    "INSERT INTO job_queues (task, updated_at) VALUES (%(task)s, %(now)s)"
    " ON CONFLICT (task) DO UPDATE SET updated_at = job_queues.updated_at WHERE false"
)

#: The queue row holds every start back: paused, paused by RateLimited, or its rate not due.
_HELD = (
    "held AS (SELECT 1 FROM job_queues WHERE task = %(task)s AND (paused"
    " OR blocked_until > %(now)s{rate_due}))"
)

#: The pick is a CTE (materialised, being FOR UPDATE): as ``id IN (subquery)`` the planner may
#: run a subquery with a computed LIMIT once per outer row, and take more rows than the limit.
_PICK = (
    "picked AS (SELECT id FROM jobs WHERE state = 'available' AND task = %(task)s"
    "  AND (expires_at IS NULL OR expires_at > %(now)s)"
    " AND NOT EXISTS (SELECT 1 FROM held)"
    " ORDER BY priority, run_at, id LIMIT {cap} FOR UPDATE SKIP LOCKED)"
)

#: Round-robin across keys: see the SQLite twin (``_sqlite/limits.py``). Each key's cap is
#: computed once (``allowed`` is materialised: inlined, the cap's count of running jobs ran
#: twice per key, in the LATERAL's LIMIT and in the rank's filter); a key without a free slot
#: reads none of its jobs. Jobs without a key are one more group; their search walks
#: ``jobs_available`` past the keyed jobs, so, as on SQLite, it stops at ``bound``, the cap-th
#: oldest first job of a key (a job without a key behind it could not be in the batch), and
#: starts at the oldest available job (the entries before it are of claimed jobs, dead until
#: a vacuum, which a bitmap scan cannot skip). Unbounded, the planner took a seq scan of the
#: table: 15 ms of an 18.8 ms claim at 20,000 queued. Three index ranges, as on SQLite: a row
#: comparison ``(priority, run_at, id) < (...)`` ends a btree scan only on its first column
#: (PostgreSQL 15), so on one priority it read every queued job (10,009 index rows, 0.9 ms).
_NO_BOUND = "2147483648::bigint, 'Infinity'::float8, 0::bigint"  # above any job: no bound
_UNKEYED_RANGES = (
    "(priority, run_at, id) >= ((SELECT lp FROM bound), (SELECT lr FROM bound),"
    " (SELECT li FROM bound)) AND priority < (SELECT p FROM bound)",
    "priority = (SELECT p FROM bound) AND run_at >= (SELECT from_r FROM bound)"
    " AND run_at < (SELECT r FROM bound)",
    "priority = (SELECT p FROM bound) AND run_at = (SELECT r FROM bound)"
    " AND id >= (SELECT from_i FROM bound) AND id < (SELECT i FROM bound)",
)
#: (FOR UPDATE is refused in a UNION's arms: each is a subquery.)
_UNKEYED = " UNION ALL ".join(
    "SELECT * FROM (SELECT id, priority, run_at FROM jobs WHERE state = 'available'"
    f" AND task = %(task)s AND {where} AND concurrency_key IS NULL"
    " AND NOT EXISTS (SELECT 1 FROM held) AND (expires_at IS NULL OR expires_at > %(now)s)"
    f" ORDER BY priority, run_at, id LIMIT %(want)s FOR UPDATE SKIP LOCKED) r{n}"
    for n, where in enumerate(_UNKEYED_RANGES)
)
_PICK_KEYED = (
    "keys(k) AS ("
    " (SELECT concurrency_key FROM jobs WHERE state = 'available' AND task = %(task)s"
    "  AND concurrency_key IS NOT NULL AND NOT EXISTS (SELECT 1 FROM held)"
    "  ORDER BY concurrency_key LIMIT 1)"
    " UNION ALL"
    " SELECT (SELECT j.concurrency_key FROM jobs j WHERE j.state = 'available'"
    "  AND j.task = %(task)s AND j.concurrency_key IS NOT NULL AND j.concurrency_key > keys.k"
    "  ORDER BY j.concurrency_key LIMIT 1) FROM keys WHERE keys.k IS NOT NULL"
    "), allowed AS MATERIALIZED ("
    " SELECT k, {key_cap} AS cap FROM keys WHERE k IS NOT NULL AND NOT EXISTS (SELECT 1"
    "  FROM job_queue_keys q WHERE q.task = %(task)s AND q.key = keys.k"
    "  AND q.next_at > %(now)s)"
    "), keyed AS MATERIALIZED ("
    " SELECT c.id, c.priority, c.run_at, a.cap,"
    "  row_number() OVER (PARTITION BY a.k ORDER BY c.priority, c.run_at, c.id) AS rn"
    " FROM allowed a CROSS JOIN LATERAL (SELECT id, priority, run_at FROM jobs"
    "  WHERE state = 'available' AND task = %(task)s AND concurrency_key = a.k"
    "  AND (expires_at IS NULL OR expires_at > %(now)s)"
    "  ORDER BY priority, run_at, id LIMIT least(a.cap, %(key_want)s)"
    "  FOR UPDATE SKIP LOCKED) c WHERE a.cap > 0"
    "), bound AS MATERIALIZED ("
    " SELECT hi.p, hi.r, hi.i, lo.lp, lo.lr, lo.li,"
    "  CASE WHEN lo.lp = hi.p THEN lo.lr ELSE '-Infinity' END AS from_r,"
    "  CASE WHEN lo.lp = hi.p AND lo.lr = hi.r THEN lo.li ELSE 0 END AS from_i"
    " FROM (SELECT priority::bigint AS lp, run_at AS lr, id AS li FROM jobs"
    "  WHERE state = 'available' AND task = %(task)s ORDER BY priority, run_at, id LIMIT 1) lo,"
    " (SELECT * FROM (SELECT priority::bigint AS p, run_at AS r, id AS i, 0 AS last FROM ("
    "  SELECT priority, run_at, id FROM keyed WHERE rn = 1"
    "  ORDER BY priority, run_at, id OFFSET greatest(0, {cap} - 1) LIMIT 1) b"
    "  UNION ALL SELECT " + _NO_BOUND + ", 1) o ORDER BY last LIMIT 1) hi"
    "), unkeyed AS (" + _UNKEYED
    + "), ranked AS ("
    " SELECT id, priority, run_at, cap, rn FROM keyed"
    " UNION ALL"
    " SELECT n.id, n.priority, n.run_at, %(want)s,"
    "  row_number() OVER (ORDER BY n.priority, n.run_at, n.id)"
    " FROM (SELECT * FROM unkeyed ORDER BY priority, run_at, id LIMIT %(want)s) n"
    "), picked AS MATERIALIZED (SELECT id FROM ranked WHERE rn <= cap"
    "  ORDER BY rn, priority, run_at, id LIMIT {cap})"
)

#: ``id = ANY(ARRAY(...))``: primary-key seeks. As a join (``FROM picked``) the planner sees a
#: computed LIMIT as 10% of the table and hashes every available job: O(table) per claim.
_CLAIMED = (
    "claimed AS (" + _SET_RUNNING
    + " WHERE id = ANY(ARRAY(SELECT id FROM picked)) AND state = 'available'"
    f" RETURNING {CLAIMED_COLUMNS}, concurrency_key)"
)

#: A task-wide rate: the next start is one interval after this one.
_RATE = (
    "rate AS (UPDATE job_queues SET rate_next_at = %(now)s + %(interval)s"
    " WHERE task = %(task)s AND EXISTS (SELECT 1 FROM claimed))"
)
#: A per-key rate: each key that started waits one interval.
_KEY_RATE = (
    "key_rate AS (INSERT INTO job_queue_keys (task, key, next_at)"
    " SELECT DISTINCT %(task)s, concurrency_key, %(now)s + %(interval)s FROM claimed"
    " WHERE concurrency_key IS NOT NULL ON CONFLICT (task, key) DO UPDATE"
    " SET next_at = greatest(job_queue_keys.next_at, excluded.next_at))"
)

#: What the claim left (its transaction's last statement): see ``AfterClaim``.
_AFTER = (
    "SELECT coalesce(q.paused, false), q.blocked_until, q.rate_next_at, " + _RUNNING + ","
    # (not EXISTS: the planner would take a seq scan that stops at the first available row,
    # after every row the drain has finished)
    " (SELECT id FROM jobs WHERE state = 'available' AND task = %(task)s"
    "  ORDER BY priority, run_at, id LIMIT 1) IS NOT NULL,"
    " (SELECT min(next_at) FROM job_queue_keys WHERE task = %(task)s AND next_at > %(now)s)"
    " FROM (SELECT 1) AS one LEFT JOIN job_queues q ON q.task = %(task)s"
)


def claim_sql(limits: Limits) -> str:
    """The claim statement for ``limits`` (cached per distinct limits by the caller's driver)."""
    rate = limits.rate
    task_rate = rate is not None and not rate.per_key
    cap = ("%(want)s" if limits.global_concurrency is None
           else f"greatest(0, least(%(want)s, %(global)s - {_SLOTS_HELD}))")
    if task_rate:
        cap = f"least({cap}, 1)"
    ctes = [_HELD.format(rate_due=" OR rate_next_at > %(now)s" if task_rate else "")]
    if limits.keyed:
        ctes.append(_PICK_KEYED.format(cap=cap, key_cap=_key_cap(limits)))
    else:
        ctes.append(_PICK.format(cap=cap))
    ctes.append(_CLAIMED)
    if rate is not None:
        ctes.append(_KEY_RATE if rate.per_key else _RATE)
    return (f"WITH {'RECURSIVE ' if limits.keyed else ''}{', '.join(ctes)}"
            f" SELECT {CLAIMED_COLUMNS}, concurrency_key FROM claimed")


def _key_cap(limits: Limits) -> str:
    cap = "%(want)s::bigint"
    if limits.per_key is not None:
        cap = ("(%(per_key)s - (SELECT count(*) FROM jobs WHERE state = 'running'"
               f" AND task = %(task)s AND concurrency_key = keys.k AND {_HOLDS_SLOT}))")
    if limits.rate is not None and limits.rate.per_key:
        cap = f"least({cap}, 1)"
    return cap


def claim_limited(
    conn: Conn, task: str, owner: str, want: int, now: float, expires: float, limits: Limits,
    ended: Sequence[tuple[int, int]] = (),
) -> LimitedClaim:
    """Claim up to ``want`` jobs of ``task`` within ``limits``, in a transaction of its own.

    Its statements go in one pipeline, one round trip: the queue row's lock (when a count or
    rate is checked), the claim -- whose snapshot is taken once the lock is held, so it counts
    every job an earlier claim started -- and, under a rate, a last look at what holds further
    starts back (without one, a claim that took fewer jobs than asked looks after its commit).
    ``ended``: (id, attempt) of the claimer's attempts whose outcomes are being written.
    """
    params: dict[str, Any] = {
        "now": now, "owner": owner, "expires": expires, "task": task, "want": want,
        "global": limits.global_concurrency, "per_key": limits.per_key,
        "interval": None if limits.rate is None else limits.rate.interval,
        "key_want": key_want(limits, want),
        "ended_ids": [job_id for job_id, _ in ended],
        "ended_attempts": [attempt for _, attempt in ended],
    }
    # BEGIN and COMMIT by hand: ``conn.transaction()`` in a pipeline syncs on entry and on
    # exit, three round trips more (strace: 4 reads per claim, against 1 for a plain claim).
    try:
        with conn.pipeline():
            conn.execute("BEGIN")
            if limits.serialised:
                conn.execute(_LOCK, params)
            if limits.rate is not None and limits.rate.per_key:
                conn.execute("DELETE FROM job_queue_keys WHERE task = %(task)s"
                             " AND next_at <= %(now)s", params)
            claimed = conn.execute(claim_sql(limits), params)
            # A rate's throttle is read in the claim's transaction; else only a short claim
            # needs the look, after it (a full claim was held back by nothing).
            after = conn.execute(_AFTER, params) if limits.rate is not None else None
            conn.execute("COMMIT")
    except BaseException:
        rollback(conn)
        raise
    rows = claimed.fetchall()
    jobs = sorted((to_claimed(r, key=r[CLAIMED_COUNT]) for r in rows), key=claim_order)
    if after is None:
        if len(jobs) >= want:
            return LimitedClaim(jobs=jobs)
        after = conn.execute(_AFTER, params)
    seen = after.fetchone()
    assert seen is not None  # a SELECT over a one-row table
    view = AfterClaim(paused=bool(seen[0]), blocked_until=seen[1], rate_next_at=seen[2],
                      running=int(seen[3]), more=bool(seen[4]), key_next_at=seen[5])
    return LimitedClaim(jobs=jobs, throttle=explain(limits, want, len(jobs), now, view))


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
