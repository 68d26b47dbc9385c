"""Support for the fault tests: reading the database behind a service, waiting for its queues.

The database is read through the service's own store (``runtime.open_store``), so the same
code reads SQLite and PostgreSQL; app SQL keeps ``?`` placeholders on both.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import trio

from service.jobs import JobState
from service.runtime import open_store
from service.settings import load

UNFINISHED = {s.value for s in JobState} - {"completed", "cancelled", "discarded"}


async def query(
    env: dict[str, str], sql: str, params: tuple[Any, ...] = ()
) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` from the database the service with ``env`` uses."""
    async with open_store(load(environ=env)) as store:
        return await store.query(sql, params)


def errors_of(raw: Any) -> list[dict[str, Any]]:
    """A job's ``errors`` column as a list (text on SQLite, decoded jsonb on PostgreSQL)."""
    value = json.loads(raw) if isinstance(raw, str) else raw
    return list(value or [])


_OWNER = re.compile(r"lease of (\S+) expired")


def rescued_pids(errors: list[dict[str, Any]]) -> list[int]:
    """The pid of the owner named by each lease-expiry error (owner is ``host:pid:token``)."""
    pids = []
    for entry in errors:
        if entry.get("kind") != "lease_expired":
            continue
        match = _OWNER.search(str(entry.get("message", "")))
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
    with trio.fail_after(within):
        while await unfinished(admin, tasks):
            await trio.sleep(0.1)
