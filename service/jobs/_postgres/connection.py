"""Connecting to PostgreSQL the way the engine needs it, translating driver errors, migrating.

Everything here is synchronous and runs in a worker thread, never on the trio thread.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, Any, TypeVar

import psycopg
from psycopg import errors as pgerrors
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import PoolTimeout

from .._errors import (
    ConstraintViolation,
    StoreBusy,
    StoreError,
    StoreUnavailable,
    UnsupportedStoreURL,
)
from .._migrations import Migration, pending
from .._redact import redact_secrets, secrets_in

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

T = TypeVar("T")
#: A psycopg connection as the backend uses it (autocommit, tuple rows).
Conn = psycopg.Connection[Any]

_SCHEMA = re.compile(r"[a-z_][a-z0-9_]{0,62}")

#: TCP keepalives, so a connection to a host that vanished is noticed within about a minute.
_KEEPALIVES = {"keepalives": "1", "keepalives_idle": "30", "keepalives_interval": "10",
               "keepalives_count": "3"}


def check_schema(schema: str | None) -> str | None:
    """``schema`` if it is a plain lower-case identifier (safe in ``search_path``), else raise."""
    if schema is not None and not _SCHEMA.fullmatch(schema):
        raise ValueError(
            f"schema must be a lower-case identifier of at most 63 characters, got {schema!r}"
        )
    return schema


def conninfo(url: str, schema: str | None, application_name: str) -> str:
    """libpq connection string for ``url``, with ``search_path`` set to ``schema`` if given.

    :class:`UnsupportedStoreURL` if libpq cannot read ``url``: its message may quote a piece of
    it (``invalid percent-encoded token: "..."``), so the password is masked there too.
    """
    try:
        parsed = conninfo_to_dict(url)
    except psycopg.Error as exc:
        problem = redact_secrets(str(exc).strip(), *secrets_in(url))
        raise UnsupportedStoreURL(url, f"not a PostgreSQL URL libpq can read ({problem})") from None
    params: dict[str, Any] = {**_KEEPALIVES, **parsed}
    params.setdefault("application_name", application_name)
    params.setdefault("connect_timeout", "5")
    # The outcome trigger NOTIFYs the channel named here (see schema.OUTCOMES_V1).
    options = f"{params.get('options', '')} -c service_jobs.channel={channel_name(schema)}"
    if schema is not None:
        options += f" -c search_path={schema}"
    params["options"] = options.strip()
    return make_conninfo("", **params)


def channel_name(schema: str | None) -> str:
    """The LISTEN/NOTIFY channel of the jobs in ``schema`` (a valid identifier, <= 63 bytes)."""
    name = f"service_jobs_{schema or 'default'}"
    if len(name) > 63:
        name = "service_jobs_" + hashlib.sha256(name.encode()).hexdigest()[:40]
    return name


def connect(info: str) -> psycopg.Connection[tuple[Any, ...]]:
    """A fresh autocommit connection outside the pool (probes, the listener)."""
    try:
        return psycopg.connect(info, autocommit=True)
    except psycopg.Error as exc:
        raise translate(exc) from exc


def translate(exc: Exception) -> StoreError:
    """The project's exception for a driver (or pool) error; a password it quotes is masked."""
    text = redact_secrets(str(exc).strip()) or type(exc).__name__
    if isinstance(exc, pgerrors.IntegrityError):
        return ConstraintViolation(text)
    if isinstance(
        exc, pgerrors.DeadlockDetected | pgerrors.SerializationFailure | pgerrors.LockNotAvailable
    ):
        return StoreBusy(text)
    if isinstance(exc, PoolTimeout):
        return StoreUnavailable(f"no database connection: {text}")
    if isinstance(exc, pgerrors.ReadOnlySqlTransaction):
        return StoreUnavailable(f"the database is read-only: {text}")
    if isinstance(exc, pgerrors.InsufficientResources):  # disk full, out of memory, ...
        return StoreUnavailable(text)
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        return StoreUnavailable(text)
    return StoreError(text)


def is_disconnect(exc: BaseException, conn: psycopg.Connection[Any] | None) -> bool:
    """Whether ``exc`` (raised using ``conn``) means the server or our link to it went away."""
    if conn is not None and (conn.broken or conn.closed):
        return True
    if isinstance(exc, pgerrors.QueryCanceled | pgerrors.TransactionRollback
                  | pgerrors.LockNotAvailable):
        return False
    return isinstance(exc, PoolTimeout | psycopg.OperationalError | psycopg.InterfaceError)


def is_read_only(exc: BaseException) -> bool:
    """Whether ``exc`` says the session cannot write: a standby, or a primary made read-only.

    Such a session stays read-only, so its connection is worth dropping: a new one may reach
    the writable server (a failover, or ``target_session_attrs=read-write`` over several hosts).
    """
    return isinstance(exc, pgerrors.ReadOnlySqlTransaction)


def guarded(fn: Callable[..., T], *args: Any) -> T:
    """Call ``fn`` translating psycopg errors into the project's own."""
    try:
        return fn(*args)
    except psycopg.Error as exc:
        raise translate(exc) from exc


def migrate(
    conn: psycopg.Connection[Any],
    migrations: Iterable[Migration],
    schema: str | None,
    now: float,
) -> list[str]:
    """Apply pending steps in one transaction; the names of those applied.

    A transaction-scoped advisory lock, keyed by the schema, makes processes that start together
    take turns: the second finds the steps recorded by the first and applies nothing.
    """
    done = []
    with conn.transaction():
        conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext('service.jobs.migrate'), hashtext(%s))",
            (schema or "",),
        )
        if schema is not None:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " component TEXT NOT NULL, version INTEGER NOT NULL, description TEXT NOT NULL,"
            " applied_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (component, version))"
        )
        applied = {
            (str(c), int(v))
            for c, v in conn.execute("SELECT component, version FROM schema_migrations")
        }
        for step in pending(migrations, applied, "postgresql"):
            for statement in step.statements["postgresql"]:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (component, version, description, applied_at)"
                " VALUES (%s, %s, %s, %s)",
                (step.component, step.version, step.description, now),
            )
            done.append(f"{step.component}:{step.version}")
    return done
