"""Shared fixtures: real SQLite files under pytest's tmp_path."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from service.jobs import InlineRunner, SQLiteStore, ThreadRunner, TrioClock

#: Fixed start of virtual time in tests: 2027-01-15T08:00:00Z.
EPOCH = 1_800_000_000.0


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    """A SQLite store on a real file, statements inline, timestamps following trio's clock."""
    async with SQLiteStore(
        tmp_path / "jobs.db", clock=TrioClock(EPOCH), runner=InlineRunner()
    ) as s:
        yield s


@pytest.fixture(params=["sqlite-inline", "sqlite-thread"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    """Every JobStore backend the conformance suite runs against."""
    runner = InlineRunner() if request.param == "sqlite-inline" else ThreadRunner()
    async with SQLiteStore(tmp_path / "jobs.db", clock=TrioClock(EPOCH), runner=runner) as s:
        yield s
