"""Two real processes share one SQLite file: pushes in one are run by a worker in the other."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import trio
from support.append_line import AppendLine
from support.workers import running

from service.jobs import JobState, SQLiteStore, TaskWorker

TESTS = Path(__file__).parent.parent
N = 300


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), *sys.path])}
    return subprocess.run(
        [sys.executable, "-m", "support.jobs_process", *args],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )


def _lines(path: Path) -> list[tuple[int, int]]:
    return [tuple(map(int, line.split())) for line in path.read_text().splitlines()]  # type: ignore[misc]


async def test_jobs_pushed_by_another_process_are_each_run_once_here(tmp_path: Path) -> None:
    db, out = tmp_path / "jobs.db", tmp_path / "out.txt"
    async with SQLiteStore(db) as store, running(TaskWorker(store, [AppendLine], state=str(out))):
        pusher = await trio.to_thread.run_sync(_run, "push", str(db), str(N))
        assert pusher.returncode == 0, pusher.stderr
        with trio.fail_after(30):
            while (await store.job_count_by_state()).get(
                ("append_line", JobState.COMPLETED), 0
            ) < N:
                await trio.sleep(0.05)
    lines = _lines(out)
    assert Counter(n for n, _ in lines) == Counter(range(N)), "each job ran exactly once"
    assert {pid for _, pid in lines} == {os.getpid()}


async def test_a_worker_in_another_process_runs_jobs_pushed_here(tmp_path: Path) -> None:
    db, out = tmp_path / "jobs.db", tmp_path / "out.txt"
    async with SQLiteStore(db) as store:
        await store.push_many(AppendLine(n=n) for n in range(N))
    worker = await trio.to_thread.run_sync(_run, "work", str(db), str(N), str(out))
    assert worker.returncode == 0, worker.stderr
    lines = _lines(out)
    assert Counter(n for n, _ in lines) == Counter(range(N))
    assert os.getpid() not in {pid for _, pid in lines}


async def test_workers_in_two_processes_share_one_queue_without_running_a_job_twice(
    tmp_path: Path,
) -> None:
    db, out = tmp_path / "jobs.db", tmp_path / "out.txt"
    total = 2000
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), *sys.path])}
    async with SQLiteStore(db) as store:
        await store.push_many(AppendLine(n=n) for n in range(total))
        other = await trio.lowlevel.open_process(
            [sys.executable, "-m", "support.jobs_process", "work", str(db), str(total), str(out)],
            env=env, stdout=subprocess.PIPE,
        )
        try:
            assert other.stdout is not None
            with trio.fail_after(30):
                said = b""
                while not said.endswith(b"\n"):
                    said += await other.stdout.receive_some()
                assert said == b"ready\n"
                async with running(TaskWorker(store, [AppendLine], state=str(out))):
                    assert await other.wait() == 0
        finally:
            other.kill()
            await other.wait()
            await other.stdout.aclose()
    lines = _lines(out)
    assert Counter(n for n, _ in lines) == Counter(range(total))
    assert len({pid for _, pid in lines}) == 2, "both processes took a share"
