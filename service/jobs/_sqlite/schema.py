"""The jobs engine's tables on SQLite."""

from __future__ import annotations

from .._migrations import Migration

JOBS_V1 = Migration(
    component="jobs",
    version=1,
    description="jobs table and its partial indexes",
    statements={
        "sqlite": [
            """
            CREATE TABLE jobs (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                task TEXT NOT NULL,
                args TEXT NOT NULL,
                state TEXT NOT NULL CHECK (state IN ('scheduled', 'available', 'running',
                    'completed', 'retryable', 'cancelled', 'discarded')),
                priority INTEGER NOT NULL DEFAULT 0,
                attempt INTEGER NOT NULL DEFAULT 0,
                max_attempts INTEGER NOT NULL,
                run_at REAL NOT NULL,
                created_at REAL NOT NULL,
                attempted_at REAL,
                finished_at REAL,
                lease_owner TEXT,
                lease_expires_at REAL,
                rescues INTEGER NOT NULL DEFAULT 0,
                unique_key TEXT,
                errors TEXT NOT NULL DEFAULT '[]',
                result TEXT
            )
            """,
            # Due jobs only: future jobs wait in 'scheduled'/'retryable', outside this index,
            # so a claim never walks past them.
            "CREATE INDEX jobs_available ON jobs (task, priority, run_at, id)"
            " WHERE state = 'available'",
            "CREATE INDEX jobs_waiting ON jobs (run_at) WHERE state IN ('scheduled', 'retryable')",
            "CREATE INDEX jobs_leases ON jobs (lease_expires_at) WHERE state = 'running'",
            "CREATE INDEX jobs_lease_owner ON jobs (lease_owner) WHERE state = 'running'",
            "CREATE INDEX jobs_finished ON jobs (state, finished_at)"
            " WHERE state IN ('completed', 'cancelled', 'discarded')",
            "CREATE UNIQUE INDEX jobs_unique_key ON jobs (task, unique_key)"
            " WHERE unique_key IS NOT NULL"
            " AND state IN ('scheduled', 'available', 'running', 'retryable')",
        ]
    },
)

JOBS_V2 = Migration(
    component="jobs",
    version=2,
    description="pausable queues, one row per task type",
    statements={
        "sqlite": [
            "CREATE TABLE job_queues (task TEXT PRIMARY KEY, paused INTEGER NOT NULL DEFAULT 0,"
            " updated_at REAL NOT NULL)",
        ]
    },
)

JOBS_V3 = Migration(
    component="jobs",
    version=3,
    description="drop jobs_lease_owner: lookups by owner always come with ids (primary key)",
    statements={
        "sqlite": [
            # With it, the planner walked every running job of the owner and re-parsed the
            # JSON id list for each one when recording a batch of outcomes.
            "DROP INDEX IF EXISTS jobs_lease_owner",
        ]
    },
)

JOBS_V4 = Migration(
    component="jobs",
    version=4,
    description="the W3C traceparent a push stores with its job (tracing)",
    statements={"sqlite": ["ALTER TABLE jobs ADD COLUMN traceparent TEXT"]},
)

JOBS_V5 = Migration(
    component="jobs",
    version=5,
    description="periodic schedules: one row per schedule, and each job's tick",
    statements={
        "sqlite": [
            # last_tick moves by compare-and-set in the transaction that inserts the tick's
            # jobs: any number of processes push a tick once, with no leader.
            "CREATE TABLE job_schedules (name TEXT PRIMARY KEY, cron TEXT NOT NULL,"
            " timezone TEXT NOT NULL, task TEXT NOT NULL, catch_up TEXT NOT NULL,"
            " paused INTEGER NOT NULL DEFAULT 0, last_tick REAL, last_job_id INTEGER,"
            " created_at REAL NOT NULL, updated_at REAL NOT NULL)",
            "ALTER TABLE jobs ADD COLUMN tick REAL",
        ]
    },
)

WORKERS_V1 = Migration(
    component="workers",
    version=1,
    description="job_workers: one heartbeat row per worker process",
    statements={
        "sqlite": [
            # tasks: a JSON array of task names. Timestamps are epoch seconds, as in jobs.
            "CREATE TABLE job_workers (owner TEXT PRIMARY KEY, host TEXT NOT NULL,"
            " pid INTEGER NOT NULL, tasks TEXT NOT NULL, in_flight INTEGER NOT NULL,"
            " started_at REAL NOT NULL, seen_at REAL NOT NULL, beat_interval REAL NOT NULL,"
            " stopped_at REAL)",
        ]
    },
)

JOBS_V6 = Migration(
    component="jobs",
    version=6,
    description="job expiry; unique keys held until a push releases them (unique_for, replace)",
    statements={
        "sqlite": [
            "ALTER TABLE jobs ADD COLUMN expires_at REAL",
            # A keyed job holds its key from its insert until a later push (or an operator's
            # retry of another job) releases it, finished or not: see service/jobs/_unique.py.
            "ALTER TABLE jobs ADD COLUMN unique_held INTEGER NOT NULL DEFAULT 0",
            "UPDATE jobs SET unique_held = 1 WHERE unique_key IS NOT NULL"
            " AND state IN ('scheduled', 'available', 'running', 'retryable')",
            "DROP INDEX jobs_unique_key",
            "CREATE UNIQUE INDEX jobs_unique_held ON jobs (task, unique_key) WHERE unique_held",
            # Jobs whose next attempt may expire: the sweep and the worker's timer seek here.
            "CREATE INDEX jobs_expiring ON jobs (expires_at) WHERE expires_at IS NOT NULL"
            " AND state IN ('scheduled', 'available', 'retryable')",
        ]
    },
)


JOBS_V7 = Migration(
    component="jobs",
    version=7,
    description="flow control: concurrency keys, queue limits and rates, paused keys",
    statements={
        "sqlite": [
            "ALTER TABLE jobs ADD COLUMN concurrency_key TEXT",
            # Partial on the key: jobs without one (every job of a task without limits) never
            # enter these indexes, so they cost such tasks nothing.
            "CREATE INDEX jobs_keyed ON jobs (task, concurrency_key, priority, run_at, id)"
            " WHERE state = 'available' AND concurrency_key IS NOT NULL",
            "CREATE INDEX jobs_running_keys ON jobs (task, concurrency_key)"
            " WHERE state = 'running' AND concurrency_key IS NOT NULL",
            # An operator's override of the code's limits (JSON), a task-wide pause from
            # RateLimited, and the earliest next start under the task's rate.
            "ALTER TABLE job_queues ADD COLUMN limits TEXT",
            "ALTER TABLE job_queues ADD COLUMN blocked_until REAL",
            "ALTER TABLE job_queues ADD COLUMN rate_next_at REAL",
            # Per key: the earliest next start (a per-key rate, or RateLimited(per_key=True)).
            "CREATE TABLE job_queue_keys (task TEXT NOT NULL, key TEXT NOT NULL,"
            " next_at REAL NOT NULL, PRIMARY KEY (task, key))",
        ]
    },
)

JOBS_V8 = Migration(
    component="jobs",
    version=8,
    description="progress and checkpoints a running task reports (ctx.progress)",
    statements={
        "sqlite": [
            # Written by lease renewals and outcomes, never by a statement of their own; kept
            # when the job finishes or is retried (the next attempt reads the checkpoint).
            "ALTER TABLE jobs ADD COLUMN progress_fraction REAL",
            "ALTER TABLE jobs ADD COLUMN progress_message TEXT",
            "ALTER TABLE jobs ADD COLUMN progress_at REAL",
            # JSON text, as args and result.
            "ALTER TABLE jobs ADD COLUMN checkpoint TEXT",
        ]
    },
)

WORKFLOWS_V1 = Migration(
    component="workflows",
    version=1,
    description="workflows: the pending state, members' workflow and counts, dependency edges",
    statements={
        "sqlite": [
            # SQLite cannot alter a CHECK constraint; widening it (one more allowed value)
            # changes no stored row, so the documented schema edit is safe: rewrite the
            # table's SQL, then reload the schema (RESET). The CREATE TABLEs below bump the
            # schema cookie, so other connections reload it too.
            "PRAGMA writable_schema = ON",
            "UPDATE sqlite_schema SET sql = replace(sql, '''discarded''))',"
            " '''discarded'', ''pending''))') WHERE type = 'table' AND name = 'jobs'",
            "PRAGMA writable_schema = RESET",
            "CREATE TABLE job_workflows (id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " name TEXT NOT NULL, created_at REAL NOT NULL)",
            "ALTER TABLE jobs ADD COLUMN workflow_id INTEGER",
            "ALTER TABLE jobs ADD COLUMN workflow_name TEXT",
            "ALTER TABLE jobs ADD COLUMN on_failure TEXT",
            # A member's dependencies, and those not yet settled (0 releases it).
            "ALTER TABLE jobs ADD COLUMN deps_total INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE jobs ADD COLUMN deps_left INTEGER NOT NULL DEFAULT 0",
            "CREATE INDEX jobs_workflow ON jobs (workflow_id) WHERE workflow_id IS NOT NULL",
            # One row per edge; ``resolved`` once the dependency's outcome settled it.
            "CREATE TABLE job_deps (job_id INTEGER NOT NULL, dep_id INTEGER NOT NULL,"
            " resolved INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (job_id, dep_id)) WITHOUT ROWID",
            "CREATE INDEX job_deps_dep ON job_deps (dep_id, job_id)",
        ]
    },
)

#: Every column of ``jobs`` and ``scheduled_jobs``, in the tables' own order (the view
#: ``all_jobs`` and the moves between the tables name them all). A migration that adds a column
#: to ``jobs`` adds it to ``scheduled_jobs`` too, at the same place, and extends this list.
ALL_COLUMNS = (
    "id, task, args, state, priority, attempt, max_attempts, run_at, created_at, attempted_at,"
    " finished_at, lease_owner, lease_expires_at, rescues, unique_key, errors, result,"
    " traceparent, tick, expires_at, unique_held, concurrency_key, progress_fraction,"
    " progress_message, progress_at, checkpoint, workflow_id, workflow_name, on_failure,"
    " deps_total, deps_left"
)

#: In the ``workflows`` component, not ``jobs``: steps run in (component, version) order, and
#: this one must come after WORKFLOWS_V1, which added the last columns of ``jobs``.
SCHEDULED_JOBS = Migration(
    component="workflows",
    version=2,
    description="scheduled_jobs: jobs pushed for the future wait apart from the due ones",
    statements={
        "sqlite": [
            # SQLite stores a table's rows in id order: future jobs kept in ``jobs`` put each
            # due job on a page of its own among them, and every claim and outcome wrote that
            # whole page. Here they wait in a table of their own (only in state 'scheduled'),
            # and move into ``jobs`` when due, keeping their id: promoted rows sit together.
            # Ids come from jobs' AUTOINCREMENT sequence (see the trigger): one id space.
            """
            CREATE TABLE scheduled_jobs (
                id INTEGER PRIMARY KEY,
                task TEXT NOT NULL,
                args TEXT NOT NULL,
                state TEXT NOT NULL CHECK (state = 'scheduled'),
                priority INTEGER NOT NULL DEFAULT 0,
                attempt INTEGER NOT NULL DEFAULT 0,
                max_attempts INTEGER NOT NULL,
                run_at REAL NOT NULL,
                created_at REAL NOT NULL,
                attempted_at REAL,
                finished_at REAL,
                lease_owner TEXT,
                lease_expires_at REAL,
                rescues INTEGER NOT NULL DEFAULT 0,
                unique_key TEXT,
                errors TEXT NOT NULL DEFAULT '[]',
                result TEXT,
                traceparent TEXT,
                tick REAL,
                expires_at REAL,
                unique_held INTEGER NOT NULL DEFAULT 0,
                concurrency_key TEXT,
                progress_fraction REAL,
                progress_message TEXT,
                progress_at REAL,
                checkpoint TEXT,
                workflow_id INTEGER,
                workflow_name TEXT,
                on_failure TEXT,
                deps_total INTEGER NOT NULL DEFAULT 0,
                deps_left INTEGER NOT NULL DEFAULT 0
            )
            """,
            "CREATE INDEX scheduled_jobs_run_at ON scheduled_jobs (run_at)",
            "CREATE INDEX scheduled_jobs_expiring ON scheduled_jobs (expires_at)"
            " WHERE expires_at IS NOT NULL",
            # One holder per key in each table; a push checks the other table in its insert.
            "CREATE UNIQUE INDEX scheduled_jobs_unique_held ON scheduled_jobs"
            " (task, unique_key) WHERE unique_held",
            # The sequence row exists once jobs ever had a row; make sure it does.
            # (Not an aggregate over jobs: that yields a row even when WHERE leaves none.)
            "INSERT INTO sqlite_sequence (name, seq)"
            " SELECT 'jobs', (SELECT coalesce(max(id), 0) FROM jobs)"
            " WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'jobs')",
            # An insert takes ``seq + 1`` as its id (inserts.SCHEDULED_ID); this moves the
            # sequence past it, so jobs' next AUTOINCREMENT id comes after it.
            "CREATE TRIGGER scheduled_jobs_id AFTER INSERT ON scheduled_jobs BEGIN"
            " UPDATE sqlite_sequence SET seq = NEW.id WHERE name = 'jobs' AND seq < NEW.id;"
            " END",
            f"CREATE VIEW all_jobs AS SELECT {ALL_COLUMNS} FROM jobs"
            f" UNION ALL SELECT {ALL_COLUMNS} FROM scheduled_jobs",
        ]
    },
)

MIGRATIONS = [JOBS_V1, JOBS_V2, JOBS_V3, JOBS_V4, JOBS_V5, JOBS_V6, JOBS_V7, JOBS_V8,
              WORKERS_V1, WORKFLOWS_V1, SCHEDULED_JOBS]
