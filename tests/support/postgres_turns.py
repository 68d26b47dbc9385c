"""Turns on the PostgreSQL server between pytest processes.

The suite runs on two pytest-xdist workers (``-n 2`` in pyproject.toml). A test that restarts or
fills the server would fail the other worker's PostgreSQL work meanwhile, so it holds an
exclusive lock on a file every pytest process on this machine shares, and every other use of
PostgreSQL holds it shared: they wait for each other, tests without PostgreSQL run freely.
"""

from __future__ import annotations

import contextlib
import fcntl
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

LOCK = Path(tempfile.gettempdir()) / "service-tests-postgresql.lock"


@contextlib.contextmanager
def postgres_turn(*, exclusive: bool = False) -> Iterator[None]:
    """Hold the server: alone when ``exclusive`` (a restart, a full disk), else shared."""
    with open(LOCK, "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
