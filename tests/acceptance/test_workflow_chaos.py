"""Chaos for workflows: SIGKILL worker processes while a 200-member workflow runs.

Two worker processes (``support.workflow_process``) run a seeded random graph of 199 steps and a
callback that waits for all of them; the test kills one with SIGKILL at seeded moments and starts
another in its place, then lets the graph finish. What the processes wrote says:

- every member ran to completion at least once, and ended ``completed``;
- no member started before each of its dependencies had finished a run (its ``done`` line comes
  earlier in the shared, append-only log);
- every member saw the result of each dependency;
- the callback started once, plus once more per lease expiry recorded on it (a run cut short by
  a kill); it is released only once.

``CHAOS_SEED=<seed>`` replays a graph and its kill schedule.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest
import trio
from support.postgres import fresh_database
from support.processes import TESTS
from support.workflow_process import ChaosStep

from service.jobs import ErrorKind, JobState, JobStore, Workflow, open_store

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = pytest.mark.slow

MEMBERS = 199
KILLS = 4


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'jobs.db'}"
        return
    with fresh_database() as url:
        yield url


def random_graph(rng: random.Random) -> tuple[Workflow, list[list[int]]]:
    """199 steps, each after 0-3 of the 30 before it, and a callback after every step; the
    workflow, and each member's dependencies as member indexes."""
    wf = Workflow("chaos")
    handles = []
    deps: list[list[int]] = []
    for n in range(MEMBERS):
        after = sorted(rng.sample(range(max(0, n - 30), n), k=min(n, rng.randint(0, 3))))
        deps.append(after)
        handles.append(wf.add(ChaosStep(n=n, pause=rng.uniform(0.05, 0.3), deps=len(after)),
                              after=[handles[i] for i in after]))
    deps.append(list(range(MEMBERS)))
    wf.add(ChaosStep(n=MEMBERS, pause=0.01, deps=MEMBERS), after=handles)
    return wf, deps


async def start_worker(url: str, out: Path) -> trio.Process:
    """A worker process, once it says its worker runs."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), *sys.path])}
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "support.workflow_process", url, str(out)], env=env,
        stdout=subprocess.PIPE,
    )
    assert process.stdout is not None
    with trio.fail_after(30):
        said = b""
        while b"ready" not in said:
            chunk = await process.stdout.receive_some()
            assert chunk, "the worker process exited before it was ready"
            said += chunk
    return process


async def state_of(store: JobStore, job_id: int) -> JobState:
    return (await store.job_get(job_id)).state


async def test_sigkilled_workers_finish_a_workflow_in_dependency_order(
    tmp_path: Path, store_url: str
) -> None:
    seed = int(os.environ.get("CHAOS_SEED") or random.SystemRandom().randrange(2**32))
    print(f"\nworkflow chaos: seed {seed} (CHAOS_SEED={seed} replays it)")
    rng = random.Random(seed)
    out = tmp_path / "log.txt"
    wf, deps = random_graph(rng)
    async with open_store(store_url) as store:
        ids = await store.push_workflow(wf)
        callback = ids[-1]
        workers: list[trio.Process] = []

        async def start() -> None:
            workers.append(await start_worker(store_url, out))

        async with trio.open_nursery() as starting:
            for _ in range(2):
                starting.start_soon(start)
        try:
            kills = 0
            while kills < KILLS and await state_of(store, callback) is JobState.PENDING:
                await trio.sleep(rng.uniform(0.2, 1.0))
                victim = workers.pop(rng.randrange(len(workers)))
                victim.kill()
                await victim.wait()
                kills += 1
                workers.append(await start_worker(store_url, out))
            with trio.fail_after(60):
                while await state_of(store, callback) is not JobState.COMPLETED:
                    await trio.sleep(0.1)
        finally:
            for worker in workers:
                worker.kill()
                with trio.CancelScope(shield=True):
                    await worker.wait()
        rows = {job_id: await store.job_get(job_id) for job_id in ids}

    lines = [line.split() for line in out.read_text().splitlines()]
    assert not [job for word, job in lines if word == "bad"], "a member missed a result"
    position = {job_id: n for n, job_id in enumerate(ids)}
    first_done: dict[int, int] = {}
    for at, (word, job) in enumerate(lines):
        if word == "done":
            first_done.setdefault(int(job), at)
    for at, (word, job) in enumerate(lines):
        if word != "start":
            continue
        for dep in deps[position[int(job)]]:
            assert first_done.get(ids[dep], len(lines)) < at, (
                f"job {job} started before its dependency {ids[dep]} finished a run")
    assert {row.state for row in rows.values()} == {JobState.COMPLETED}
    assert set(first_done) == set(ids), "every member ran to completion at least once"
    starts = sum(1 for word, job in lines if word == "start" and int(job) == callback)
    expiries = sum(1 for e in rows[callback].errors if e.kind is ErrorKind.LEASE_EXPIRED)
    assert starts == 1 + expiries
    print(f"{kills} kills; {sum(1 for w, _ in lines if w == 'start') - len(ids)} extra runs")
