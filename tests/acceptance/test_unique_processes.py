"""Uniqueness across processes: two processes push the same keys at once, on SQLite and on
PostgreSQL, with ``on_conflict="replace"`` and with a ``unique_for`` window that has passed.

Each key ends with exactly one job; each pair of pushes of a key inserts it once.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING

import pytest
import trio
from support.pg_spawn import Helper, _env
from support.pg_tasks import Mark
from support.postgres import require_postgres, schema_store

from service.jobs import JobFilter, JobState, JobStore, Push, SQLiteStore

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

KEYS = 60
#: Real processes, real time.
pytestmark = pytest.mark.slow


@asynccontextmanager
async def backend_store(name: str, tmp_path: Path) -> AsyncIterator[tuple[JobStore, str]]:
    """An open store of backend ``name`` and where a pushing process finds it."""
    if name == "pg":
        require_postgres()
        async with schema_store() as pg:
            yield pg, pg.schema or ""
        return
    path = tmp_path / "jobs.db"
    async with SQLiteStore(path) as store:
        yield store, str(path)


@asynccontextmanager
async def pushers(backend: str, where: str, *options: str) -> AsyncIterator[list[Helper]]:
    """Two pushing processes (tags 1 and 2), each ready and waiting for "go"; the second pushes
    the keys in reverse order, so they meet in the middle."""
    async with AsyncExitStack() as stack:
        procs = []
        for tag, order in (("1", []), ("2", ["--reverse"])):
            process = await trio.lowlevel.open_process(
                [sys.executable, "-m", "support.unique_pusher", backend, where, tag, str(KEYS),
                 *options, *order],
                env=_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            )
            helper = Helper(process)
            stack.push_async_callback(helper.stop)
            procs.append(helper)
        for proc in procs:
            assert await proc.line(within=60) == "ready"
        yield procs


async def race(procs: list[Helper]) -> list[list[list[object]]]:
    """Say "go" to both at once; each one's [[id, unique], ...]."""
    for proc in procs:
        await proc.send_line("go")
    return [json.loads(await proc.line(within=60)) for proc in procs]


@pytest.mark.parametrize("backend", ["sqlite", "pg"])
async def test_two_processes_replacing_the_same_keys_leave_one_job_per_key(
    tmp_path: Path, backend: str
) -> None:
    async with backend_store(backend, tmp_path) as (store, where):
        async with pushers(backend, where, "--on-conflict", "replace") as procs:
            first, second = await race(procs)
        jobs = await store.job_list(JobFilter(limit=10 * KEYS))

    assert [job_id for job_id, _ in first] == [job_id for job_id, _ in second]
    assert len(jobs) == KEYS
    assert all(job.state == JobState.SCHEDULED for job in jobs)
    for (_, a), (_, b) in zip(first, second, strict=True):
        assert sorted([a, b]) == ["inserted", "replaced"]
    assert {json.loads(job.args)["seconds"] for job in jobs} <= {1.0, 2.0}


@pytest.mark.parametrize("backend", ["sqlite", "pg"])
async def test_two_processes_past_the_unique_for_window_insert_each_key_once(
    tmp_path: Path, backend: str
) -> None:
    async with backend_store(backend, tmp_path) as (store, where):
        finished = await store.push_many(Push(task=Mark(n=k), unique_key=f"k{k}")
                                         for k in range(KEYS))
        for job_id in finished:
            await store.job_cancel(job_id, store.clock.now(), "finished long ago")
        async with pushers(backend, where, "--unique-for", "0.001") as procs:
            first, second = await race(procs)
        jobs = await store.job_list(JobFilter(limit=10 * KEYS))

    assert [job_id for job_id, _ in first] == [job_id for job_id, _ in second]
    assert not {job_id for job_id, _ in first} & set(finished)
    states = Counter(job.state for job in jobs)
    assert states == {JobState.CANCELLED: KEYS, JobState.SCHEDULED: KEYS}
    for (_, a), (_, b) in zip(first, second, strict=True):
        assert sorted([a, b]) == ["inserted", "kept"]
