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

JOBS_V4 = Migration(
    component="jobs",
    version=4,
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

MIGRATIONS = [JOBS_V1, JOBS_V2, JOBS_V4]
