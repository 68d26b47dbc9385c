"""Reaching the test PostgreSQL server, and a schema of its own for each test.

The server is ``SERVICE_TEST_DATABASE_URL`` (default: user postgres, trust auth, database test
over TCP on 127.0.0.1:5432). When it cannot be reached the PostgreSQL tests are skipped with the
reason -- unless ``CI=true``, where they fail: CI must not pass by skipping them.
"""

from __future__ import annotations

import functools
import os
import uuid
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import trio
from psycopg import sql

from service.jobs import Clock, PostgresStore

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

URL = os.environ.get("SERVICE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")


@functools.cache
def unreachable_reason() -> str | None:
    """Why the test server cannot be used, or None if it can."""
    try:
        psycopg.connect(URL, connect_timeout=3).close()
    except psycopg.Error as exc:
        return f"PostgreSQL at {URL} is unreachable: {str(exc).strip()}"
    return None


def require_postgres() -> str:
    """The server URL; skips the test if unreachable (fails it under ``CI=true``)."""
    reason = unreachable_reason()
    if reason is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason} (CI=true: the PostgreSQL tests must run)", pytrace=False)
        pytest.skip(reason)
    return URL


def new_schema_name() -> str:
    return f"test_{uuid.uuid4().hex[:20]}"


def drop_schema(schema: str) -> None:
    """Drop a test's schema and everything in it (blocking)."""
    with psycopg.connect(URL, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@asynccontextmanager
async def schema_store(
    schema: str | None = None, *, clock: Clock | None = None, **options: Any
) -> AsyncIterator[PostgresStore]:
    """An open store in a fresh schema (or ``schema``), dropped with its jobs afterwards."""
    name = schema or new_schema_name()
    try:
        async with PostgresStore(require_postgres(), schema=name, clock=clock, **options) as store:
            yield store
    finally:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(drop_schema, name)


@contextmanager
def fresh_database() -> Iterator[str]:
    """The URL of a new, empty database on the test server (for a whole service), dropped after.

    Skips when the server is unreachable (fails under ``CI=true``).
    """
    url = require_postgres()
    name = f"svc_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlunsplit(urlsplit(url)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


class Heard:
    """A push listener that records calls and lets a test wait for one."""

    def __init__(self) -> None:
        self.calls: list[tuple[frozenset[str], float]] = []
        self._event = trio.Event()

    def __call__(self, tasks: frozenset[str], earliest_run_at: float) -> None:
        self.calls.append((tasks, earliest_run_at))
        self._event.set()

    async def wait(self, within: float = 5.0) -> None:
        with trio.fail_after(within):
            await self._event.wait()
        self._event = trio.Event()
