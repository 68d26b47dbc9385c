"""Task bodies off the event loop (``run_in``): threads and real child processes, on a real
SQLite file and in real time (a process cannot be driven by a MockClock)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import pytest
import trio
from conftest import EPOCH
from support.postgres import schema_store
from support.run_in_tasks import Broken, BrokenThread, Digest, Grind, Spin, Square, Stall
from support.waiting import wait_for_job_state, wait_until
from support.workers import running

from service.jobs import (
    ErrorKind,
    JobContext,
    JobState,
    LoopWatchdog,
    SQLiteStore,
    Task,
    TaskOptions,
    TaskWorker,
    TrioClock,
)
from service.jobs.testing import TEST_CONFIG, drain

if TYPE_CHECKING:
    from trio.testing import MockClock

    from service.jobs import JobRow, JobStore

@attrs.frozen(kw_only=True)
class Ping(Task):
    """An ordinary async task: it runs only if the event loop is free."""

    options = TaskOptions(name="ping")

    async def run(self, ctx: JobContext) -> str:
        await trio.sleep(0.01)
        return "pong"


FINAL = (JobState.COMPLETED, JobState.DISCARDED, JobState.CANCELLED, JobState.RETRYABLE)


def _result(job: JobRow) -> Any:
    assert job.result is not None, job
    return json.loads(job.result)


async def _run_one(store: JobStore, task: Any, *tasks: type, within: float = 20) -> JobRow:
    worker = TaskWorker(store, [type(task), *tasks], config=TEST_CONFIG, state="app-state")
    async with running(worker):
        job_id = await store.push(task)
        return await wait_for_job_state(store, job_id, *FINAL, within=within)


async def test_a_thread_task_completes_and_its_result_is_stored(store: SQLiteStore) -> None:
    job = await _run_one(store, Digest(text="abc", rounds=2))
    assert job.state is JobState.COMPLETED, job.errors
    result = _result(job)
    assert result["in_main_thread"] is False
    assert result["job"] == job.id
    assert result["attempt"] == 1
    assert result["digest"] == (
        "4f8b42c22dd3729b519ba6f68d2da7cc5b2d606d05daed5ad5128cc03e6c6358")


async def test_a_process_task_completes_in_another_process(store: SQLiteStore) -> None:
    job = await _run_one(store, Square(n=12))
    assert job.state is JobState.COMPLETED, job.errors
    result = _result(job)
    assert result["square"] == 144
    assert result["pid"] != os.getpid()
    # The child is told its job, but never gets the app state (it does not cross processes).
    assert result == {"square": 144, "pid": result["pid"], "task": "square", "job": job.id,
                      "state": None}


@pytest.mark.parametrize("task", [Broken(message="no such page"),
                                  BrokenThread(message="no such page")],
                         ids=["process", "thread"])
async def test_an_exception_in_run_sync_fails_the_attempt_with_its_message(
    store: SQLiteStore, task: Any,
) -> None:
    job = await _run_one(store, task)
    assert job.state is (JobState.RETRYABLE if isinstance(task, Broken) else JobState.DISCARDED)
    [error] = job.errors
    assert error.kind is ErrorKind.ERROR
    assert error.error == ("ValueError" if isinstance(task, Broken) else "LookupError")
    assert "no such page" in error.message
    assert "run_sync" in (error.traceback or "")  # the traceback is the child's own


@pytest.mark.parametrize(("outcome", "state"), [("snooze", JobState.SCHEDULED),
                                                ("cancel", JobState.CANCELLED)])
async def test_snooze_and_cancel_raised_in_a_child_choose_the_outcome(
    store: SQLiteStore, outcome: str, state: JobState,
) -> None:
    worker = TaskWorker(store, [Broken], config=TEST_CONFIG)
    async with running(worker):
        job_id = await store.push(Broken(message="duplicate upload", outcome=outcome))
        job = await wait_for_job_state(store, job_id, state)
    if outcome == "snooze":
        assert job.attempt == 0  # the attempt was given back
        assert job.errors == []
    else:
        assert [e.message for e in job.errors] == ["duplicate upload"]


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs: neither gone nor a zombie (an orphan's zombie waits for init)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def _child_pid(pid_file: Path) -> int:
    text = await wait_until("the child to write its pid",
                            lambda: pid_file.read_text() if pid_file.exists() else None)
    return int(text)


async def test_a_process_past_its_timeout_is_killed_while_the_loop_runs_other_jobs(
    store: SQLiteStore, tmp_path: Path,
) -> None:
    pid_file = tmp_path / "spin.pid"
    watchdog = LoopWatchdog(interval=0.05, threshold=0.5)
    worker = TaskWorker(store, [Spin, Square, Ping], config=TEST_CONFIG)
    async with trio.open_nursery() as nursery:
        await nursery.start(watchdog.run)
        async with running(worker):
            # A pool process already started (as in a worker that ran one before): the 1.5 s
            # timeout is all the task's, not the child's start-up.
            warm = await store.push(Square(n=2))
            await wait_for_job_state(store, warm, JobState.COMPLETED)
            spin_id = await store.push(Spin(pid_file=str(pid_file)))
            pid = await _child_pid(pid_file)
            assert pid != os.getpid()
            assert _alive(pid)
            ping_id = await store.push(Ping())
            ping = await wait_for_job_state(store, ping_id, JobState.COMPLETED)
            spin = await wait_for_job_state(store, spin_id, JobState.DISCARDED)
        nursery.cancel_scope.cancel()
    [error] = spin.errors
    assert error.kind is ErrorKind.TIMEOUT
    assert error.message.startswith("timed out after 1.5 s (killed)"), error.message
    assert not _alive(pid)
    assert ping.finished_at is not None
    assert spin.finished_at is not None
    assert ping.finished_at < spin.finished_at  # it ran while the child burnt its CPU
    assert watchdog.stalls == 0  # and the loop never stood still for half a second


async def test_shutdown_kills_a_process_task_and_returns_its_job_to_the_queue(
    store: SQLiteStore, tmp_path: Path,
) -> None:
    pid_file = tmp_path / "grind.pid"
    worker = TaskWorker(store, [Grind], config=TEST_CONFIG)
    async with trio.open_nursery() as nursery:
        await nursery.start(worker.run)
        job_id = await store.push(Grind(pid_file=str(pid_file)))
        pid = await _child_pid(pid_file)
        with trio.fail_after(5):
            await worker.shutdown(grace=0)
    assert not _alive(pid)
    job = await store.job_get(job_id)
    assert job.state is JobState.AVAILABLE
    assert job.attempt == 0  # not counted as a failed attempt
    assert [e.kind for e in job.errors] == [ErrorKind.INTERRUPTED]


async def test_a_thread_past_its_timeout_is_abandoned_and_keeps_its_slot_until_it_returns(
    store: SQLiteStore, tmp_path: Path,
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    worker = TaskWorker(store, [Stall], config=TEST_CONFIG)
    queue = worker.queues["stall"]
    async with running(worker):
        a = await store.push(Stall(seconds=1.5, marker=str(first)))
        timed_out = await wait_for_job_state(store, a, JobState.DISCARDED)
        assert not first.exists()  # its thread still runs...
        assert queue.free_slots == 0  # ...in the task's one slot
        b = await store.push(Stall(seconds=0.01, marker=str(second)))
        done = await wait_for_job_state(store, b, JobState.COMPLETED)
    assert [e.message for e in timed_out.errors] == [
        "timed out after 0.5 s (attempt 1 of 1: discarded)"]
    assert first.read_text() == "returned"
    assert timed_out.attempted_at is not None
    assert done.attempted_at is not None
    # The second job started only once the abandoned thread had returned (1.5 s after it began).
    assert done.attempted_at - timed_out.attempted_at >= 1.4


async def test_a_process_task_completes_on_postgresql(pg_url: str) -> None:
    async with schema_store(clock=TrioClock(EPOCH)) as pg:
        job = await _run_one(pg, Square(n=9))
    assert job.state is JobState.COMPLETED, job.errors
    assert _result(job)["square"] == 81


def test_a_worker_whose_tasks_run_on_the_loop_or_in_threads_starts_no_process(
    tmp_path: Path,
) -> None:
    # A fresh interpreter: this test process has pool workers from the tests above.
    code = textwrap.dedent("""
        import multiprocessing, sys, trio
        from service.jobs import SQLiteStore, TaskWorker
        from service.jobs.testing import TEST_CONFIG, drain
        from support.run_in_tasks import Digest, Square

        async def main():
            async with SQLiteStore(sys.argv[1]) as store:
                worker = TaskWorker(store, [Digest, Square], config=TEST_CONFIG)
                async with trio.open_nursery() as nursery:
                    await nursery.start(worker.run)
                    job = await store.push(Digest(text="x"))
                    while (await store.job_get(job)).state.value != "completed":
                        await trio.sleep(0.01)
                    print(len(multiprocessing.active_children()))
                    await worker.shutdown()

        trio.run(main)
    """)
    tests = str(Path(__file__).parent.parent)
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "jobs.db")],
                          capture_output=True, text=True, timeout=60, check=False,
                          env={**os.environ, "PYTHONPATH": tests})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0"


async def test_a_pool_process_exits_when_its_worker_is_killed(tmp_path: Path) -> None:
    # SIGKILL leaves the worker no time to kill its children: the child must notice by itself.
    pid_file = tmp_path / "grind.pid"
    code = textwrap.dedent("""
        import sys, trio
        from service.jobs import SQLiteStore, TaskWorker
        from service.jobs.testing import TEST_CONFIG, drain
        from support.run_in_tasks import Grind

        async def main():
            async with SQLiteStore(sys.argv[1]) as store:
                worker = TaskWorker(store, [Grind], config=TEST_CONFIG)
                async with trio.open_nursery() as nursery:
                    await nursery.start(worker.run)
                    await store.push(Grind(pid_file=sys.argv[2]))

        trio.run(main)
    """)
    tests = str(Path(__file__).parent.parent)
    worker = await trio.lowlevel.open_process(
        [sys.executable, "-c", code, str(tmp_path / "jobs.db"), str(pid_file)],
        env={**os.environ, "PYTHONPATH": tests})
    try:
        pid = await _child_pid(pid_file)
        assert _alive(pid)
    finally:
        worker.kill()
        await worker.wait()
    await wait_until("the orphaned pool process to exit", lambda: not _alive(pid), within=5)


async def test_virtual_time_does_not_leap_past_a_timeout_while_a_thread_works(
    store: SQLiteStore, autojump_clock: MockClock, tmp_path: Path,
) -> None:
    # An autojumping MockClock would jump to the 0.5 s timeout while the loop waits on the
    # thread (field notes: MockClock and threads); the body is held to real time instead.
    marker = tmp_path / "marker"
    job_id = await store.push(Stall(seconds=0.2, marker=str(marker)))
    started = trio.current_time()
    result = await drain(store, [Stall])
    assert result.completed == 1, (await store.job_get(job_id)).errors
    assert marker.read_text() == "returned"
    assert trio.current_time() - started < 0.5
