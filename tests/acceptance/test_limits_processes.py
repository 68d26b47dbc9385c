"""A global limit across four worker processes, one of them killed with SIGKILL mid-job, on
SQLite and PostgreSQL: never more than three jobs run at once, the dead process's slot is held
until a rescue returns its job, and then the three slots are used again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
import trio
from support.limits_process import CONFIG, GLOBAL, Slot, open_jobs_store
from support.postgres import new_schema_name, require_postgres, schema_store
from support.waiting import wait_until

from service.jobs import JobState, JobStore

TESTS = Path(__file__).resolve().parents[1]
JOBS = 40  # enough left after the rescue (~4.5 s in) for three at once again
SECONDS = 0.6


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), *sys.path])}


def _runs(out: Path, killed: int, killed_at: float) -> list[tuple[float, float, int]]:
    """(start, end, pid) of every run; a run of the killed process ends when it was killed."""
    runs = []
    for log in out.glob("*.log"):
        pid = int(log.stem)
        starts: dict[str, float] = {}
        for line in log.read_text().splitlines():
            what, job, at = line.split()
            if what == "start":
                starts[job] = float(at)
            else:
                runs.append((starts.pop(job), float(at), pid))
        assert not starts or pid == killed, f"a live process left runs unfinished: {starts}"
        runs += [(start, killed_at, pid) for start in starts.values()]
    return runs


def _running_at(runs: list[tuple[float, float, int]], at: float) -> int:
    return sum(1 for start, end, _ in runs if start <= at < end)


async def _workers(db: str, out: Path, schema: str | None, stack: AsyncExitStack,
                   n: int) -> list[trio.Process]:
    procs = []
    for _ in range(n):
        args = [sys.executable, "-m", "support.limits_process", db, str(out)]
        proc = await trio.lowlevel.open_process(args + ([schema] if schema else []),
                                                env=_env(), stdout=subprocess.PIPE)
        stack.push_async_callback(_stop, proc)
        procs.append(proc)
    for proc in procs:
        assert proc.stdout is not None
        with trio.fail_after(30):
            said = b""
            while not said.endswith(b"\n"):
                said += await proc.stdout.receive_some()
        assert said == b"ready\n"
    return procs


async def _stop(proc: trio.Process) -> None:
    with trio.CancelScope(shield=True):
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        with trio.move_on_after(15):
            await proc.wait()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        if proc.stdout is not None:
            await proc.stdout.aclose()


async def _completed(store: JobStore) -> int:
    return (await store.job_count_by_state()).get(("slot", JobState.COMPLETED), 0)


async def _check_a_kill(store: JobStore, db: str, schema: str | None, tmp_path: Path) -> None:
    out = tmp_path / "runs"
    out.mkdir()
    async with AsyncExitStack() as stack:
        procs = await _workers(db, out, schema, stack, 4)
        await store.push_many([Slot(seconds=SECONDS) for _ in range(JOBS)])

        async def victim() -> trio.Process | None:  # a process that has a job running
            for proc in procs:
                log = out / f"{proc.pid}.log"
                if log.exists():
                    lines = log.read_text().splitlines()
                    if sum(1 if ln.startswith("start") else -1 for ln in lines) > 0:
                        return proc
            return None

        doomed: trio.Process | None = await wait_until(
            "a process running a job", victim, lambda p: p is not None, within=30)
        assert doomed is not None
        doomed.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        await doomed.wait()
        completed: int = await wait_until("every job completed", lambda: _completed(store),
                                          lambda n: n == JOBS, within=60)
        assert completed == JOBS

    runs = _runs(out, doomed.pid, killed_at)
    held = [r for r in runs if r[2] == doomed.pid and r[1] == killed_at]
    assert held, "the killed process was running a job"
    instants = sorted({start for start, _, _ in runs})
    assert max(_running_at(runs, at) for at in instants) == GLOBAL
    # Until its lease expires, the dead process's job keeps its slot: the others run fewer.
    lease_end = killed_at + CONFIG.lease_ttl - CONFIG.lease_renew_interval
    before_rescue = [at for at in instants if killed_at <= at < lease_end]
    live = [r for r in runs if r[2] != doomed.pid]
    if len(held) < GLOBAL:
        assert before_rescue, "the free slots ran jobs while the dead process held its own"
    assert all(_running_at(live, at) <= GLOBAL - len(held) for at in before_rescue)
    # After the rescue the slot is back: three run at once again.
    after = [at for at in instants if at > killed_at + CONFIG.lease_ttl + CONFIG.rescue_interval]
    assert after, "jobs started after the rescue"
    assert max(_running_at(runs, at) for at in after) == GLOBAL


@pytest.mark.slow
async def test_a_killed_process_holds_its_slot_until_rescue_on_sqlite(tmp_path: Path) -> None:
    db = str(tmp_path / "jobs.db")
    async with open_jobs_store(db, None) as store:
        await _check_a_kill(store, db, None, tmp_path)


@pytest.mark.slow
async def test_a_killed_process_holds_its_slot_until_rescue_on_postgresql(
    tmp_path: Path,
) -> None:
    url = require_postgres()
    schema = new_schema_name()
    async with schema_store(schema) as store:
        await _check_a_kill(store, url, schema, tmp_path)
