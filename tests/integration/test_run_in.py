"""Task bodies off the event loop (``run_in``): threads and real child processes, on a real
SQLite file and in real time (a process cannot be driven by a MockClock)."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

import pytest
from support.run_in_tasks import Broken, BrokenThread, Digest, Square
from support.waiting import wait_for_job_state
from support.workers import running

from service.jobs import ErrorKind, JobState, SQLiteStore, TaskWorker
from service.jobs.testing import TEST_CONFIG

if TYPE_CHECKING:
    from service.jobs import JobRow, JobStore

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
    assert result["job"] == job.id and result["attempt"] == 1
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
