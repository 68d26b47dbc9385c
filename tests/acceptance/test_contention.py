"""Contention: one web process and two worker processes writing one SQLite file at once.

Clients push jobs and sign users up through the web process for a few seconds as fast as it
answers, while both workers claim and record outcomes on the same file. SQLite allows one writer
at a time; every process must wait its turn (``busy_timeout``, ``BEGIN IMMEDIATE``) rather
than fail: no client sees a 5xx or "database is locked", no job records such an error, no process
logs one, and every acknowledged push is durable and completes.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from typing import TYPE_CHECKING

import httpx
import pytest
import trio
from support.faults import drained, effect_lines, query
from support.processes import ADMIN_TOKEN, service_env, service_process

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = pytest.mark.slow

CLIENTS = 6
PUSH_SECONDS = 4.0


async def push_for(
    url: str, seconds: float, numbers: Iterator[int], effects: Path,
    acknowledged: dict[int, int], statuses: Counter[int], users: list[str],
) -> None:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with httpx.AsyncClient(base_url=url, timeout=30, headers=headers) as http:
        deadline = trio.current_time() + seconds
        while trio.current_time() < deadline:  # not a cancel scope: never cut a request off
            n = next(numbers)
            if n % 5 == 0:
                response = await http.post("/api/users", json={
                    "name": f"User {n}", "email": f"user{n}@example.com"})
            else:
                response = await http.post("/api/jobs", json={
                    "task": "append", "args": {"path": str(effects), "n": n}})
            statuses[response.status_code] += 1
            if response.status_code == 201 and n % 5 == 0:
                users.append(response.json()["id"])
            elif response.status_code == 201:
                acknowledged[int(response.json()["id"])] = n
            else:
                assert "locked" not in response.text, response.text


async def test_a_web_and_two_worker_processes_share_one_sqlite_file_without_lock_errors(
    tmp_path: Path,
) -> None:
    env = service_env(tmp_path)
    effects = tmp_path / "effects.txt"
    acknowledged: dict[int, int] = {}
    users: list[str] = []
    statuses: Counter[int] = Counter()
    async with (
        service_process(env, "web") as web,
        service_process(env, "worker") as first,
        service_process(env, "worker") as second,
        web.admin() as admin,
    ):
        assert web.url is not None
        numbers = itertools.count()
        async with trio.open_nursery() as clients:
            for _ in range(CLIENTS):
                clients.start_soon(push_for, web.url, PUSH_SECONDS, numbers, effects,
                                   acknowledged, statuses, users)
        await drained(admin, {"append", "send_welcome_email"}, within=60)
        for process in (web, first, second):
            process.signal()
            assert await process.process.wait() == 0

    ran = effect_lines(effects)
    errors = [
        row[0] for row in await query(env, "SELECT errors FROM jobs WHERE errors != '[]'")
    ]
    states = Counter(row[0] for row in await query(env, "SELECT state FROM jobs"))
    sent = {
        row[0] for row in await query(
            env, "SELECT id FROM users WHERE welcome_email_sent_at IS NOT NULL")
    }
    workers = Counter(
        line.split()[2] for line in effects.read_text().splitlines()) if effects.exists() else {}
    print(f"\ncontention: {sum(statuses.values())} requests in {PUSH_SECONDS:g} s"
          f" ({dict(statuses)}), {len(acknowledged)} jobs and {len(users)} users acknowledged,"
          f" jobs per worker pid {dict(workers)}")

    assert set(statuses) == {201}, statuses
    assert [job for job in acknowledged if ran[job] != 1] == []
    assert [user for user in users if user not in sent] == []
    assert set(states) == {"completed"}, states
    assert errors == [], errors[:5]
    assert len(workers) == 2, "both workers took jobs"
    for process in (web, first, second):
        locked = [e for e in process.events if "locked" in json.dumps(e).lower()]
        assert locked == [], locked[:5]
        assert "unparsed" not in process.names(), "no traceback: nothing crashed"
