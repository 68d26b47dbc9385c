"""The jobs engine's tables on PostgreSQL: the same columns, states and indexes as on SQLite.

Timestamps are ``double precision`` seconds since the epoch and ``args``/``result`` are the JSON
text as given, so a row reads back exactly as it does from SQLite; ``errors`` is a JSONB array.
"""

from __future__ import annotations

from .._migrations import Migration

JOBS_V1 = Migration(
    component="jobs",
    version=1,
    description="jobs table and its partial indexes",
    statements={
        "postgresql": [
            """
            CREATE TABLE jobs (
                id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                task TEXT NOT NULL,
                args TEXT NOT NULL,
                state TEXT NOT NULL CHECK (state IN ('scheduled', 'available', 'running',
                    'completed', 'retryable', 'cancelled', 'discarded')),
                priority INTEGER NOT NULL DEFAULT 0,
                attempt INTEGER NOT NULL DEFAULT 0,
                max_attempts INTEGER NOT NULL,
                run_at DOUBLE PRECISION NOT NULL,
                created_at DOUBLE PRECISION NOT NULL,
                attempted_at DOUBLE PRECISION,
                finished_at DOUBLE PRECISION,
                lease_owner TEXT,
                lease_expires_at DOUBLE PRECISION,
                rescues INTEGER NOT NULL DEFAULT 0,
                unique_key TEXT,
                errors JSONB NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(errors) = 'array'),
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
            # The index, not a lookup before the insert, enforces uniqueness: race-free across
            # processes and hosts.
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
        "postgresql": [
            "CREATE TABLE job_queues (task TEXT PRIMARY KEY,"
            " paused BOOLEAN NOT NULL DEFAULT false, updated_at DOUBLE PRECISION NOT NULL)",
        ]
    },
)

JOBS_V3 = Migration(
    component="jobs",
    version=3,
    description="the W3C traceparent a push stores with its job (tracing)",
    statements={"postgresql": ["ALTER TABLE jobs ADD COLUMN traceparent TEXT"]},
)

JOBS_V4 = Migration(
    component="jobs",
    version=4,
    description="periodic schedules: one row per schedule, and each job's tick",
    statements={
        "postgresql": [
            # last_tick moves by compare-and-set in the transaction that inserts the tick's
            # jobs: any number of processes push a tick once, with no leader.
            "CREATE TABLE job_schedules (name TEXT PRIMARY KEY, cron TEXT NOT NULL,"
            " timezone TEXT NOT NULL, task TEXT NOT NULL, catch_up TEXT NOT NULL,"
            " paused BOOLEAN NOT NULL DEFAULT false, last_tick DOUBLE PRECISION,"
            " last_job_id BIGINT, created_at DOUBLE PRECISION NOT NULL,"
            " updated_at DOUBLE PRECISION NOT NULL)",
            "ALTER TABLE jobs ADD COLUMN tick DOUBLE PRECISION",
        ]
    },
)

WORKERS_V1 = Migration(
    component="workers",
    version=1,
    description="job_workers: one heartbeat row per worker process",
    statements={
        "postgresql": [
            # tasks: a JSON array of task names, as text (read back as on SQLite).
            "CREATE TABLE job_workers (owner TEXT PRIMARY KEY, host TEXT NOT NULL,"
            " pid INTEGER NOT NULL, tasks TEXT NOT NULL, in_flight INTEGER NOT NULL,"
            " started_at DOUBLE PRECISION NOT NULL, seen_at DOUBLE PRECISION NOT NULL,"
            " beat_interval DOUBLE PRECISION NOT NULL, stopped_at DOUBLE PRECISION)",
        ]
    },
)

JOBS_V5 = Migration(
    component="jobs",
    version=5,
    description="job expiry; unique keys held until a push releases them (unique_for, replace)",
    statements={
        "postgresql": [
            "ALTER TABLE jobs ADD COLUMN expires_at DOUBLE PRECISION",
            # A keyed job holds its key from its insert until a later push (or an operator's
            # retry of another job) releases it, finished or not: see service/jobs/_unique.py.
            "ALTER TABLE jobs ADD COLUMN unique_held BOOLEAN NOT NULL DEFAULT false",
            "UPDATE jobs SET unique_held = true WHERE unique_key IS NOT NULL"
            " AND state IN ('scheduled', 'available', 'running', 'retryable')",
            "DROP INDEX jobs_unique_key",
            "CREATE UNIQUE INDEX jobs_unique_held ON jobs (task, unique_key) WHERE unique_held",
            # Jobs whose next attempt may expire: the sweep and the worker's timer seek here.
            "CREATE INDEX jobs_expiring ON jobs (expires_at) WHERE expires_at IS NOT NULL"
            " AND state IN ('scheduled', 'available', 'retryable')",
        ]
    },
)


JOBS_V6 = Migration(
    component="jobs",
    version=6,
    description="flow control: concurrency keys, queue limits and rates, paused keys",
    statements={
        "postgresql": [
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
            "ALTER TABLE job_queues ADD COLUMN blocked_until DOUBLE PRECISION",
            "ALTER TABLE job_queues ADD COLUMN rate_next_at DOUBLE PRECISION",
            # Per key: the earliest next start (a per-key rate, or RateLimited(per_key=True)).
            "CREATE TABLE job_queue_keys (task TEXT NOT NULL, key TEXT NOT NULL,"
            " next_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (task, key))",
        ]
    },
)

JOBS_V7 = Migration(
    component="jobs",
    version=7,
    description="progress and checkpoints a running task reports (ctx.progress)",
    statements={
        "postgresql": [
            # Written by lease renewals and outcomes, never by a statement of their own; kept
            # when the job finishes or is retried (the next attempt reads the checkpoint).
            "ALTER TABLE jobs ADD COLUMN progress_fraction DOUBLE PRECISION",
            "ALTER TABLE jobs ADD COLUMN progress_message TEXT",
            "ALTER TABLE jobs ADD COLUMN progress_at DOUBLE PRECISION",
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
        "postgresql": [
            "ALTER TABLE jobs DROP CONSTRAINT jobs_state_check",
            "ALTER TABLE jobs ADD CONSTRAINT jobs_state_check CHECK (state IN ('scheduled',"
            " 'available', 'running', 'completed', 'retryable', 'cancelled', 'discarded',"
            " 'pending'))",
            "CREATE TABLE job_workflows (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
            " name TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL)",
            "ALTER TABLE jobs ADD COLUMN workflow_id BIGINT",
            "ALTER TABLE jobs ADD COLUMN workflow_name TEXT",
            "ALTER TABLE jobs ADD COLUMN on_failure TEXT",
            # A member's dependencies, and those not yet settled (0 releases it).
            "ALTER TABLE jobs ADD COLUMN deps_total INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE jobs ADD COLUMN deps_left INTEGER NOT NULL DEFAULT 0",
            "CREATE INDEX jobs_workflow ON jobs (workflow_id) WHERE workflow_id IS NOT NULL",
            # One row per edge; ``resolved`` once the dependency's outcome settled it.
            "CREATE TABLE job_deps (job_id BIGINT NOT NULL, dep_id BIGINT NOT NULL,"
            " resolved BOOLEAN NOT NULL DEFAULT false, PRIMARY KEY (job_id, dep_id))",
            "CREATE INDEX job_deps_dep ON job_deps (dep_id, job_id)",
        ]
    },
)

WORKFLOWS_V2 = Migration(
    component="workflows",
    version=2,
    description="jobs others depend on are marked, so outcomes of the rest skip settling",
    statements={
        "postgresql": [
            # Set (under the row's lock) by the push of a workflow whose members wait for the
            # job; an outcome of an unmarked job is one statement, with nothing to settle.
            "ALTER TABLE jobs ADD COLUMN has_dependents BOOLEAN NOT NULL DEFAULT false",
            "UPDATE jobs SET has_dependents = true"
            " WHERE id IN (SELECT dep_id FROM job_deps WHERE NOT resolved)",
        ]
    },
)

OUTCOMES_V1 = Migration(
    component="outcomes",
    version=1,
    description="NOTIFY job_wait callers from the transaction that leaves a job final",
    statements={
        "postgresql": [
            # One NOTIFY per statement (and PostgreSQL folds equal payloads of a transaction),
            # on the channel the store's connections name in ``service_jobs.channel``.
            """
            CREATE FUNCTION jobs_notify_final() RETURNS trigger LANGUAGE plpgsql AS $$
            DECLARE
                channel TEXT := current_setting('service_jobs.channel', true);
            BEGIN
                IF coalesce(channel, '') <> '' AND EXISTS (SELECT 1 FROM final_rows
                        WHERE state IN ('completed', 'discarded', 'cancelled')) THEN
                    PERFORM pg_notify(channel, 'final');
                END IF;
                RETURN NULL;
            END $$
            """,
            "CREATE TRIGGER jobs_notify_final AFTER UPDATE ON jobs"
            " REFERENCING NEW TABLE AS final_rows FOR EACH STATEMENT"
            " EXECUTE FUNCTION jobs_notify_final()",
        ]
    },
)

MIGRATIONS = [
    JOBS_V1, JOBS_V2, JOBS_V3, JOBS_V4, JOBS_V5, JOBS_V6, JOBS_V7, WORKERS_V1, WORKFLOWS_V1,
    OUTCOMES_V1, WORKFLOWS_V2,
]
