"""PostgreSQL plumbing of the harness: reachability, throw-away schemas and databases."""

from __future__ import annotations

import contextlib
import secrets
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

if TYPE_CHECKING:
    from collections.abc import Iterator

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


def unreachable(url: str) -> str | None:
    """Why ``url`` cannot be used, or None."""
    try:
        psycopg.connect(url, connect_timeout=3).close()
    except psycopg.Error as exc:
        return f"PostgreSQL at {url} is unreachable: {str(exc).strip()}"
    return None


def wait_reachable(url: str, seconds: float = 60.0) -> None:
    """Wait (up to ``seconds``) for the server to accept connections: on a shared machine it
    may be restarted by someone else's tests in the middle of a run."""
    deadline = time.monotonic() + seconds
    while unreachable(url) is not None and time.monotonic() < deadline:
        time.sleep(1.0)


def _drop(url: str, statement: sql.Composable) -> None:
    """Run a cleanup statement; a server that went away meanwhile is not the run's failure."""
    wait_reachable(url)
    with contextlib.suppress(psycopg.Error), psycopg.connect(url, autocommit=True) as conn:
        conn.execute(statement)


def describe(url: str) -> str:
    with psycopg.connect(url) as conn:
        version = conn.execute("SHOW server_version").fetchone()
        settings = conn.execute(
            "SELECT name, setting FROM pg_settings WHERE name IN"
            " ('fsync', 'synchronous_commit', 'shared_buffers', 'max_connections')"
            " ORDER BY name"
        ).fetchall()
    shown = ", ".join(f"{name}={value}" for name, value in settings)
    return f"{version[0] if version else '?'} ({shown})"


@contextmanager
def throwaway_schema(url: str, prefix: str = "bench") -> Iterator[str]:
    """A new schema name (the engine creates the schema); dropped with its contents after."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    wait_reachable(url)
    try:
        yield name
    finally:
        _drop(url, sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@contextmanager
def throwaway_database(url: str, prefix: str = "bench") -> Iterator[str]:
    """A fresh database on the server of ``url``; yields its URL; dropped (forcibly) after."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    wait_reachable(url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        params = conninfo_to_dict(url)
        params["dbname"] = name
        yield make_conninfo(**params)
    finally:
        _drop(url, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))


def analyze(url: str, table: str, schema: str | None = None) -> None:
    """``ANALYZE`` one table, so the planner has statistics for a freshly filled table."""
    target = sql.Identifier(schema, table) if schema else sql.Identifier(table)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("ANALYZE {}").format(target))
