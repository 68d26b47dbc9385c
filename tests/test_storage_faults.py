"""Storage faults under a running service: a full disk, a database file that cannot be written.

The faults are real, not mocked: the database lives on a tiny tmpfs that a filler file fills
up (SQLite: "database or disk is full"), or its files are made immutable with ``chattr +i``
(even root cannot write them; SQLite: "disk I/O error"). Both need root; without it the tests
are skipped with the reason.

While the fault lasts: readiness finds it by itself (before any client writes), pushes and
sign-ups answer 503 with the JSON error, ``/healthz`` still answers, reads still work, and the
process stays up. No refused request leaves a row behind. Once the fault clears the service is
ready again by itself, takes pushes, and jobs that were running during the fault complete.
"""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

import httpx
import pytest
import trio
from fault_support import drained, effect_lines, query
from process_support import service_env, service_process

pytestmark = pytest.mark.slow

TASKS = {"append", "send_welcome_email"}
ROWS = "SELECT (SELECT count(*) FROM jobs), (SELECT count(*) FROM users)"


class Fault(Protocol):
    def inject(self) -> None: ...

    def clear(self) -> None: ...


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=30)


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
            result = _run("chattr", "+i", str(path))
            assert result.returncode == 0, result.stderr

    def clear(self) -> None:
        for path in self.files:
            _run("chattr", "-i", str(path))


@contextmanager
def tiny_disk(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``path``; skips the test if it cannot be mounted."""
    path.mkdir()
    if os.geteuid() != 0:
        pytest.skip("a tiny filesystem needs root to mount")
    result = _run("mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path))
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {result.stderr.strip()}")
    try:
        yield path
    finally:
        _run("umount", "-l", str(path))


@pytest.fixture(params=["disk full", "read-only file"])
def faulty(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Path, Fault]]:
    """(database path, its fault)."""
    if request.param == "disk full":
        with tiny_disk(tmp_path / "disk", "8m") as disk:
            yield disk / "service.db", FullDisk(disk)
        return
    db = tmp_path / "db" / "service.db"
    probe = tmp_path / "chattr-probe"
    probe.touch()
    result = _run("chattr", "+i", str(probe))
    if result.returncode != 0:
        pytest.skip(f"chattr +i does not work here: {result.stderr.strip()}")
    _run("chattr", "-i", str(probe))
    fault = ImmutableFiles(db)
    try:
        yield db, fault
    finally:
        fault.clear()


async def _push(admin: httpx.AsyncClient, effects: Path, n: int, pause: float = 0.0) -> int:
    response = await admin.post("/api/jobs", json={
        "task": "append", "args": {"path": str(effects), "n": n, "pause": pause}})
    return response.status_code


async def _sign_up(admin: httpx.AsyncClient, n: int) -> httpx.Response:
    return await admin.post("/api/users", json={"name": f"User {n}",
                                                "email": f"user{n}@example.com"})


def _assert_unavailable(response: httpx.Response, words: tuple[str, ...]) -> None:
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["code"] == "unavailable"
    assert any(word in error["message"] for word in words), error


async def test_a_storage_fault_answers_503_keeps_the_process_up_and_heals_by_itself(
    tmp_path: Path, faulty: tuple[Path, Fault]
) -> None:
    db, fault = faulty
    words = ("full", "disk I/O", "read-only", "readonly")
    effects = tmp_path / "effects.txt"
    env = service_env(tmp_path, database_url=f"sqlite:///{db}", lease_ttl="2",
                      rescue_interval="0.5")
    async with service_process(env) as service, service.admin() as admin:
        assert [await _push(admin, effects, n) for n in range(5)] == [201] * 5
        first_user = await _sign_up(admin, 0)
        assert first_user.status_code == 201
        await drained(admin, TASKS, within=15)
        # In flight when the fault strikes: their outcomes cannot be recorded until it clears.
        assert [await _push(admin, effects, n, pause=2.0) for n in range(5, 9)] == [201] * 4
        with trio.fail_after(10):
            while service.names().count("job.started") < 10:  # 5 + 1 welcome email + these 4
                await trio.sleep(0.05)
        before = await query(env, ROWS)

        fault.inject()
        try:
            # Readiness finds the fault by itself, before any client has written into it.
            _assert_unavailable(await admin.get("/readyz"), words)
            for n in range(100, 110):
                refused = await admin.post("/api/jobs", json={
                    "task": "append", "args": {"path": str(effects), "n": n}})
                _assert_unavailable(refused, words)
                _assert_unavailable(await _sign_up(admin, n), words)
            _assert_unavailable(await admin.get("/readyz"), words)
            assert (await admin.get("/healthz")).status_code == 200
            read = await admin.get(f"/api/users/{first_user.json()['id']}")
            assert read.status_code == 200, "reads still work"
            # The jobs in flight finish, and fail to record their outcome.
            await service.wait_for("job.record_failed", within=10)
            assert service.process.returncode is None, "the process stays up"
        finally:
            fault.clear()

        with trio.fail_after(15):
            while (await admin.get("/readyz")).status_code != 200:
                await trio.sleep(0.1)
        assert [await _push(admin, effects, n) for n in range(200, 203)] == [201] * 3
        await drained(admin, TASKS, within=20)
        service.signal()
        assert await service.process.wait() == 0

    assert await query(env, ROWS) == [(before[0][0] + 3, before[0][1])], (
        "no refused request left a row")
    states = await query(env, "SELECT DISTINCT state FROM jobs")
    assert states == [("completed",)]
    ran = effect_lines(effects)
    numbers = {int(line.split()[0]) for line in effects.read_text().splitlines()}
    assert numbers == {*range(9), *range(200, 203)}, "every accepted job ran, no refused one did"
    assert all(count >= 1 for count in ran.values())
    recorded = {e.get("event") for e in service.events}
    assert "http.store_error" in recorded
    assert "unparsed" not in recorded, "no traceback: nothing crashed"
