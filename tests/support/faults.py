"""Support for the fault tests: the faults themselves, reading the database behind a service,
waiting for its queues.

The database is read through the service's own store (``runtime.open_store``), so the same
code reads SQLite and PostgreSQL; app SQL keeps ``?`` placeholders on both.
"""

from __future__ import annotations

import errno
import json
import os
import re
import subprocess
from collections import Counter
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

import psycopg
import pytest
from psycopg import sql

from service.jobs import AttemptError, JobState
from service.jobs._rows import errors_from_json
from service.runtime import open_store
from service.settings import load
from support.waiting import wait_until

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    import httpx

UNFINISHED = {s.value for s in JobState} - {"completed", "cancelled", "discarded"}


async def query(
    env: dict[str, str], sql: str, params: tuple[Any, ...] = ()
) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` from the database the service with ``env`` uses."""
    async with open_store(load(environ=env)) as store:
        return await store.query(sql, params)


def errors_of(raw: Any) -> list[AttemptError]:
    """A job's ``errors`` column as typed entries (text on SQLite, decoded jsonb on PostgreSQL)."""
    value = json.loads(raw) if isinstance(raw, str) else raw
    return errors_from_json(value or [])


_OWNER = re.compile(r"lease of (\S+) expired")


def rescued_pids(errors: list[AttemptError]) -> list[int]:
    """The pid of the owner named by each lease-expiry error (owner is ``host:pid:token``)."""
    pids = []
    for entry in errors:
        if entry.kind != "lease_expired":
            continue
        match = _OWNER.search(entry.message)
        assert match is not None, entry
        pids.append(int(match.group(1).rsplit(":", 2)[1]))
    return pids


def effect_lines(path: Path) -> Counter[int]:
    """How many times each job id's side effect (``"<n> <job id> <pid>"``) was written."""
    if not path.exists():
        return Counter()
    return Counter(int(line.split()[1]) for line in path.read_text().splitlines())


async def unfinished(admin: httpx.AsyncClient, tasks: set[str]) -> int:
    """Jobs of ``tasks`` not yet finished, from ``GET /api/queues``."""
    response = await admin.get("/api/queues")
    assert response.status_code == 200, response.text
    return sum(
        count
        for queue in response.json()["queues"] if queue["task"] in tasks
        for state, count in queue["counts"].items() if state in UNFINISHED
    )


async def drained(admin: httpx.AsyncClient, tasks: set[str], within: float) -> None:
    """Wait until every job of ``tasks`` is finished (polling the operator API)."""
    await wait_until(f"every job of {sorted(tasks)} to finish (unfinished count)",
                     lambda: unfinished(admin, tasks), lambda left: left == 0, within=within,
                     poll=0.1)


class Fault(Protocol):
    def inject(self) -> None: ...

    def clear(self) -> None: ...


def run_command(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=30)


class ReadOnlyDatabase:
    """A PostgreSQL database turned read-only as a failover to a standby would look.

    New sessions default to read-only transactions and the open ones are cut, so the service
    reconnects into read-only sessions. Clearing only resets the default: the service has to
    drop its read-only connections by itself to recover.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.name = urlsplit(url).path.lstrip("/")

    def _alter(self, change: sql.Composable) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute("SET default_transaction_read_only = off")  # this session may write
            conn.execute(sql.SQL("ALTER DATABASE {} ").format(sql.Identifier(self.name)) + change)

    def inject(self) -> None:
        self._alter(sql.SQL("SET default_transaction_read_only = on"))
        with psycopg.connect(self.url, autocommit=True) as conn:
            # With a timeout the call waits for each backend to be gone (its goodbye sent).
            conn.execute("SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
                         " WHERE datname = %s AND pid <> pg_backend_pid()", (self.name,))

    def clear(self) -> None:
        self._alter(sql.SQL("RESET default_transaction_read_only"))


class FullDisk:
    """The database's tmpfs filled to the last byte by a filler file; clearing deletes it."""

    def __init__(self, disk: Path) -> None:
        self.filler = disk / "filler"

    def inject(self) -> None:
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            for size in (1 << 16, 1 << 12, 1):
                try:
                    while True:
                        os.write(fd, b"\0" * size)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
        finally:
            os.close(fd)

    def clear(self) -> None:
        self.filler.unlink()


class ImmutableFiles:
    """The database file and its WAL made immutable (``chattr +i``); clearing undoes it.

    The ``-shm`` file is left alone: SQLite maps it into memory, and a write to an immutable
    mapping kills the process with SIGBUS, which is not the fault under test.
    """

    def __init__(self, db: Path) -> None:
        self.files = [db, db.with_name(db.name + "-wal")]

    def inject(self) -> None:
        for path in self.files:
            result = run_command("chattr", "+i", str(path))
            assert result.returncode == 0, result.stderr

    def clear(self) -> None:
        for path in self.files:
            run_command("chattr", "-i", str(path))


@contextmanager
def tiny_disk(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``path``; skips the test if it cannot be mounted."""
    path.mkdir()
    if os.geteuid() != 0:
        pytest.skip("a tiny filesystem needs root to mount")
    result = run_command("mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path))
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {result.stderr.strip()}")
    try:
        yield path
    finally:
        run_command("umount", "-l", str(path))


async def push_append(admin: httpx.AsyncClient, effects: Path, n: int, pause: float = 0.0) -> int:
    response = await admin.post("/api/jobs", json={
        "task": "append", "args": {"path": str(effects), "n": n, "pause": pause}})
    return response.status_code


async def sign_up(admin: httpx.AsyncClient, n: int) -> httpx.Response:
    return await admin.post("/api/users", json={"name": f"User {n}",
                                                "email": f"user{n}@example.com"})


def assert_unavailable(response: httpx.Response, words: tuple[str, ...]) -> None:
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["code"] == "unavailable"
    assert any(word in error["message"] for word in words), error
