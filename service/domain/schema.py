"""The application's tables, migrated with the jobs engine's mechanism (component "app").

``users``: one row per account; emails are unique ignoring case (``lower(email)``).
``uploads``: one row per stored file; ``filename`` is the client's name, sanitised and shown
only, ``stored_name`` is the server-chosen file name inside the upload directory.
Since ``app:3`` an upload is processed by a workflow (``service.tasks.process_upload``):
``workflow_id`` and ``step_jobs`` (JSON ``{"inspect": job id, ...}``) name its jobs, and what
the steps made is kept as ``thumbnail_type`` (the media type of ``<upload_dir>/thumbnails/
<stored_name>``, null without one), ``text_excerpt`` and ``notes`` (JSON list of sentences).
``write_probe``: one row, rewritten by ``GET /readyz`` to learn whether the database takes writes
(see :mod:`service.domain.health`).
Timestamps are seconds since the epoch, from the store's clock.
"""

from __future__ import annotations

from ..jobs import Migration

UPLOAD_STATUSES = ("pending", "processed", "failed")

_STATUS_CHECK = "status IN ('pending', 'processed', 'failed')"

_SQLITE = [
    "CREATE TABLE users ("
    " id TEXT PRIMARY KEY NOT NULL,"
    " name TEXT NOT NULL,"
    " email TEXT NOT NULL,"
    " created_at REAL NOT NULL,"
    " welcome_email_sent_at REAL NULL)",
    "CREATE UNIQUE INDEX users_email_lower_unique ON users (lower(email))",
    "CREATE INDEX users_created_at ON users (created_at, id)",
    "CREATE TABLE uploads ("
    " id TEXT PRIMARY KEY NOT NULL,"
    " filename TEXT NOT NULL,"
    " stored_name TEXT NOT NULL UNIQUE,"
    f" status TEXT NOT NULL CHECK ({_STATUS_CHECK}),"
    " size INTEGER NULL,"
    " sha256 TEXT NULL,"
    " content_type TEXT NULL,"
    " error TEXT NULL,"
    " created_at REAL NOT NULL,"
    " processed_at REAL NULL)",
]

_POSTGRESQL = [
    "CREATE TABLE users ("
    " id TEXT PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " email TEXT NOT NULL,"
    " created_at DOUBLE PRECISION NOT NULL,"
    " welcome_email_sent_at DOUBLE PRECISION NULL)",
    "CREATE UNIQUE INDEX users_email_lower_unique ON users (lower(email))",
    "CREATE INDEX users_created_at ON users (created_at, id)",
    "CREATE TABLE uploads ("
    " id TEXT PRIMARY KEY,"
    " filename TEXT NOT NULL,"
    " stored_name TEXT NOT NULL UNIQUE,"
    f" status TEXT NOT NULL CHECK ({_STATUS_CHECK}),"
    " size BIGINT NULL,"
    " sha256 TEXT NULL,"
    " content_type TEXT NULL,"
    " error TEXT NULL,"
    " created_at DOUBLE PRECISION NOT NULL,"
    " processed_at DOUBLE PRECISION NULL)",
]



def _upload_steps(bigint: str) -> list[str]:
    return [f"ALTER TABLE uploads ADD COLUMN {column}" for column in (
        f"workflow_id {bigint} NULL", "step_jobs TEXT NULL", "thumbnail_type TEXT NULL",
        "text_excerpt TEXT NULL", "notes TEXT NULL",
    )]


APP_MIGRATIONS: list[Migration] = [
    Migration(
        component="app",
        version=1,
        description="users and uploads",
        statements={"sqlite": _SQLITE, "postgresql": _POSTGRESQL},
    ),
    Migration(
        component="app",
        version=2,
        description="write probe for readiness",
        statements={
            "sqlite": ["CREATE TABLE write_probe ("
                       " id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),"
                       " probed_at REAL NOT NULL)"],
            "postgresql": ["CREATE TABLE write_probe ("
                           " id INTEGER PRIMARY KEY CHECK (id = 1),"
                           " probed_at DOUBLE PRECISION NOT NULL)"],
        },
    ),
    Migration(
        component="app",
        version=3,
        description="uploads processed by a workflow: its steps, thumbnail and text",
        statements={"sqlite": _upload_steps("INTEGER"), "postgresql": _upload_steps("BIGINT")},
    ),
]

#: The unique index whose violation means "this email is registered already".
USERS_EMAIL_INDEX = "users_email_lower_unique"
