"""The checkpoint survives a SIGKILL: a worker process reports pages with checkpoints, its lease
renewals write them, it is killed mid-job; another worker rescues the job and its next attempt
resumes from the last checkpoint that reached the database. On SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest
import trio
from support.postgres import fresh_database
from support.processes import TESTS
from support.progress_process import CONFIG, HANG_AFTER, ResumablePages
from support.waiting import wait_until

from service.jobs import ErrorKind, JobState, JobStore, TaskWorker, open_store

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = pytest.mark.slow


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'jobs.db'}"
        return
    with fresh_database() as url:
        yield url


async def start_worker(url: str) -> trio.Process:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), *sys.path])}
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "support.progress_process", url], env=env,
        stdout=subprocess.PIPE)
    assert process.stdout is not None
    with trio.fail_after(30):
        said = b""
        while b"ready" not in said:
            chunk = await process.stdout.receive_some()
            assert chunk, "the worker process exited before it was ready"
            said += chunk
    return process


async def test_a_rescued_job_resumes_from_the_last_checkpoint_a_renewal_wrote(
    store_url: str,
) -> None:
    async with open_store(store_url) as store:
        job_id = await store.push(ResumablePages(pages=10))
        process = await start_worker(store_url)
        try:
            await wait_until("the renewal wrote the checkpoint of page 3",
                             lambda: _checkpoint(store, job_id), within=20)
            process.send_signal(signal.SIGKILL)
            await process.wait()
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        killed = await store.job_get(job_id)
        assert killed.state == JobState.RUNNING
        assert killed.progress is not None
        assert killed.progress.message == f"page {HANG_AFTER} of 10"

        worker = TaskWorker(store, [ResumablePages], config=CONFIG)
        async with trio.open_nursery() as nursery:
            await nursery.start(worker.run)
            done = await store.job_wait(job_id, timeout=20)
            await worker.shutdown()

    assert done.state == JobState.COMPLETED, done.errors
    assert done.result == f'{{"resumed_after":{HANG_AFTER},"attempt":2}}'
    assert [e.kind for e in done.errors] == [ErrorKind.LEASE_EXPIRED]
    assert done.progress is not None
    assert (done.progress.fraction, done.progress.message) == (1.0, "page 10 of 10")


async def _checkpoint(store: JobStore, job_id: int) -> bool:
    row = await store.job_get(job_id)
    return row.checkpoint == f'{{"page":{HANG_AFTER}}}'
