"""Shared fixtures: real SQLite files under pytest's tmp_path, and a PostgreSQL schema per test."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from support.postgres import require_postgres, schema_store

from service.jobs import InlineRunner, JobStore, SQLiteStore, ThreadRunner, TrioClock

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

#: Fixed start of virtual time in tests: 2027-01-15T08:00:00Z.
EPOCH = 1_800_000_000.0

#: A test module that mentions one of these talks to the PostgreSQL server.
POSTGRES_MARKS = ("support.postgres", "PostgresStore", "pg_url", "postgresql://")


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The suite runs on two pytest-xdist workers (``-n 2 --dist loadgroup``, see
    pyproject.toml); every test that uses PostgreSQL runs on the same one, one at a time,
    because some of them restart or fill the server (``tests/acceptance/postgres``) and would
    fail the others' connections meanwhile."""
    mentions: dict[str, bool] = {}
    for item in items:
        path = str(item.path)
        if path not in mentions:
            text = item.path.read_text(encoding="utf-8") if item.path.suffix == ".py" else ""
            mentions[path] = any(mark in text for mark in POSTGRES_MARKS)
        if mentions[path] or "postgres" in item.nodeid.lower():
            item.add_marker(pytest.mark.xdist_group("postgresql"))


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    """A SQLite store on a real file, statements inline, timestamps following trio's clock."""
    async with SQLiteStore(
        tmp_path / "jobs.db", clock=TrioClock(EPOCH), runner=InlineRunner()
    ) as s:
        yield s


@pytest.fixture(scope="session")
def pg_url() -> str:
    """The test PostgreSQL server; skips (fails under CI=true) when it is unreachable."""
    return require_postgres()


@pytest.fixture(params=["sqlite-inline", "sqlite-thread", "postgresql"])
def backend_name(request: pytest.FixtureRequest) -> str:
    """Which backend; PostgreSQL's is skipped (failed under CI=true) if the server is away."""
    if request.param == "postgresql":
        require_postgres()
    return str(request.param)


@pytest.fixture
async def backend(backend_name: str, tmp_path: Path) -> AsyncIterator[JobStore]:
    """Every JobStore backend the conformance suite runs against (PostgreSQL: a fresh schema).

    The suite sees only the protocol: whatever a test needs must be in ``JobStore``.
    """
    if backend_name == "postgresql":
        async with schema_store(clock=TrioClock(EPOCH)) as pg:
            yield pg
        return
    runner = InlineRunner() if backend_name == "sqlite-inline" else ThreadRunner()
    async with SQLiteStore(tmp_path / "jobs.db", clock=TrioClock(EPOCH), runner=runner) as s:
        yield s
