"""Shared fixtures: real SQLite files under pytest's tmp_path, and a PostgreSQL schema per test."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from support.postgres import require_postgres, schema_store
from support.postgres_turns import postgres_turn

from service.jobs import InlineRunner, JobStore, SQLiteStore, ThreadRunner, TrioClock

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from pathlib import Path

#: Fixed start of virtual time in tests: 2027-01-15T08:00:00Z.
EPOCH = 1_800_000_000.0

#: A test module that mentions one of these talks to the PostgreSQL server.
POSTGRES_MARKS = ("support.postgres", "PostgresStore", "pg_url", "postgresql://")
#: Test modules that stop, restart or fill the PostgreSQL server itself.
POSTGRES_DISRUPTIVE = ("test_survives_restart.py", "test_service_on_postgres.py",
                       "test_disk_full.py")

_mentions: dict[Path, bool] = {}


def _uses_postgres(item: pytest.Item) -> bool:
    path = item.path
    if path not in _mentions:
        text = path.read_text(encoding="utf-8") if path.suffix == ".py" else ""
        _mentions[path] = any(mark in text for mark in POSTGRES_MARKS)
    return _mentions[path] or "postgres" in item.nodeid.lower()


@pytest.fixture(autouse=True)
def _postgres_turns(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each PostgreSQL test takes its turn on the server (see ``support.postgres_turns``)."""
    item = request.node
    if not _uses_postgres(item):
        yield
        return
    with postgres_turn(exclusive=item.path.name in POSTGRES_DISRUPTIVE):
        yield


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
