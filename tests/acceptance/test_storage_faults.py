"""Storage faults under a running service: a full disk, a database that cannot be written.

The faults are real, not mocked: the database lives on a tiny tmpfs that a filler file fills
up (SQLite: "database or disk is full"), or its files are made immutable with ``chattr +i``
(even root cannot write them; SQLite: "disk I/O error"). Both need root; without it the tests
are skipped with the reason. On PostgreSQL the database turns read-only under the service the
way a failover to a standby looks: its sessions are cut and every new one is read-only.

While the fault lasts: readiness finds it by itself (before any client writes), pushes and
sign-ups answer 503 with the JSON error, ``/healthz`` still answers, reads still work, and the
process stays up. No refused request leaves a row behind. Once the fault clears the service is
ready again by itself, takes pushes, and jobs that were running during the fault complete.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from support.faults import (
    Fault,
    FullDisk,
    ImmutableFiles,
    ReadOnlyDatabase,
    assert_unavailable,
    drained,
    effect_lines,
    push_append,
    query,
    run_command,
    sign_up,
    tiny_disk,
)
from support.postgres import fresh_database
from support.processes import service_env, service_process
from support.waiting import wait_for_status, wait_until

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = pytest.mark.slow

TASKS = {"append", "send_welcome_email"}
ROWS = "SELECT (SELECT count(*) FROM jobs), (SELECT count(*) FROM users)"


@pytest.fixture(params=["disk full", "read-only file", "postgresql read-only"])
def faulty(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Fault]]:
    """(database URL, its fault)."""
    if request.param == "disk full":
        with tiny_disk(tmp_path / "disk", "8m") as disk:
            yield f"sqlite:///{disk / 'service.db'}", FullDisk(disk)
        return
    if request.param == "postgresql read-only":
        with fresh_database() as url:
            fault = ReadOnlyDatabase(url)
            try:
                yield url, fault
            finally:
                fault.clear()
        return
    db = tmp_path / "db" / "service.db"
    probe = tmp_path / "chattr-probe"
    probe.touch()
    result = run_command("chattr", "+i", str(probe))
    if result.returncode != 0:
        pytest.skip(f"chattr +i does not work here: {result.stderr.strip()}")
    run_command("chattr", "-i", str(probe))
    immutable = ImmutableFiles(db)
    try:
        yield f"sqlite:///{db}", immutable
    finally:
        immutable.clear()


async def test_a_storage_fault_answers_503_keeps_the_process_up_and_heals_by_itself(
    tmp_path: Path, faulty: tuple[str, Fault]
) -> None:
    database_url, fault = faulty
    words = ("full", "disk I/O", "read-only", "readonly")
    effects = tmp_path / "effects.txt"
    env = service_env(tmp_path, database_url=database_url, lease_ttl="2",
                      rescue_interval="0.5")
    async with service_process(env) as service, service.admin() as admin:
        assert [await push_append(admin, effects, n) for n in range(5)] == [201] * 5
        first_user = await sign_up(admin, 0)
        assert first_user.status_code == 201
        await drained(admin, TASKS, within=15)
        # In flight when the fault strikes: their outcomes cannot be recorded until it clears.
        assert [await push_append(admin, effects, n, pause=2.0) for n in range(5, 9)] == [201] * 4
        await wait_until("10 job.started events (5 + 1 welcome email + these 4)",
                         lambda: service.names().count("job.started"),
                         lambda started: started >= 10, within=30)
        before = await query(env, ROWS)

        fault.inject()
        try:
            # Readiness finds the fault by itself, before any client has written into it.
            assert_unavailable(await admin.get("/readyz"), words)
            for n in range(100, 110):
                refused = await admin.post("/api/jobs", json={
                    "task": "append", "args": {"path": str(effects), "n": n}})
                assert_unavailable(refused, words)
                assert_unavailable(await sign_up(admin, n), words)
            assert_unavailable(await admin.get("/readyz"), words)
            assert (await admin.get("/healthz")).status_code == 200
            read = await admin.get(f"/api/users/{first_user.json()['id']}")
            assert read.status_code == 200, "reads still work"
            # The jobs in flight finish, and fail to record their outcome.
            await service.wait_for("job.record_failed", within=10)
            assert service.process.returncode is None, "the process stays up"
        finally:
            fault.clear()

        await wait_for_status(admin, "/readyz", 200, within=30)
        assert [await push_append(admin, effects, n) for n in range(200, 203)] == [201] * 3
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
    if database_url.startswith("sqlite:///"):
        path = database_url.removeprefix("sqlite:///")
        logged = [e["error"] for e in service.events if e.get("event") == "http.store_error"]
        assert all(f"SQLite database {path}:" in error for error in logged), (
            "the operator's log names the file that failed", logged)
    assert "unparsed" not in recorded, "no traceback: nothing crashed"
