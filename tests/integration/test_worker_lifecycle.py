"""Shutdown, leases and rescue: the worker's crash-safety on a real SQLite file, in virtual time."""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs
import trio
from support.waiting import wait_for_job_state, wait_until
from support.workers import running

from service.jobs import (
    JobContext,
    JobState,
    SQLiteStore,
    Task,
    TaskOptions,
    TaskWorker,
    WorkerConfig,
)
from service.jobs._store import REPEAT_RESCUE_SPREAD_S

if TYPE_CHECKING:
    from trio.testing import MockClock

STARTED: list[tuple[float, int, int]] = []  # (time, seconds, attempt)
FINISHED: list[tuple[float, int]] = []
CANCELLED: list[tuple[float, int]] = []


@attrs.frozen(kw_only=True)
class Work(Task):
    options = TaskOptions(name="work", concurrency=4, max_attempts=3)
    seconds: int

    async def run(self, ctx: JobContext) -> int:
        STARTED.append((trio.current_time(), self.seconds, ctx.attempt))
        try:
            await trio.sleep(self.seconds)
        except trio.Cancelled:
            CANCELLED.append((trio.current_time(), self.seconds))
            raise
        FINISHED.append((trio.current_time(), self.seconds))
        return self.seconds


def setup_function() -> None:
    STARTED.clear()
    FINISHED.clear()
    CANCELLED.clear()


async def started(count: int) -> None:
    await wait_until(f"{count} job(s) to start", lambda: len(STARTED), lambda n: n >= count,
                     within=3600, poll=0.1)


async def completed(store: SQLiteStore, job_id: int, poll: float) -> None:
    """Wait (virtual time, at most an hour) for ``job_id`` to complete."""
    await wait_for_job_state(store, job_id, JobState.COMPLETED, within=3600, poll=poll)


async def test_shutdown_lets_short_jobs_finish_and_returns_long_ones_to_the_queue(
    autojump_clock: MockClock, store: SQLiteStore
) -> None:
    short = await store.push(Work(seconds=2))
    long = await store.push(Work(seconds=60))
    worker = TaskWorker(store, [Work])
    async with trio.open_nursery() as nursery:
        await nursery.start(worker.run)
        await started(2)
        t0 = trio.current_time()
        await worker.shutdown(grace=5)
        stopped_after = trio.current_time() - t0
    assert stopped_after == 5
    assert [s for _, s in FINISHED] == [2]
    assert [(t0 + 5, 60)] == CANCELLED
    done = await store.job_get(short)
    assert done.state is JobState.COMPLETED
    assert done.result == "2"
    back = await store.job_get(long)
    assert back.state is JobState.AVAILABLE
    assert back.attempt == 0, "the interrupted attempt is not counted"
    assert back.lease_owner is None
    [note] = back.errors
    assert note.kind == "interrupted"
    assert "shutdown" in note.message


async def test_shutdown_returns_at_once_when_nothing_is_running(
    autojump_clock: MockClock, store: SQLiteStore
) -> None:
    worker = TaskWorker(store, [Work])
    async with trio.open_nursery() as nursery:
        await nursery.start(worker.run)
        t0 = trio.current_time()
        await worker.shutdown(grace=30)
        assert trio.current_time() == t0


async def test_an_interrupted_job_runs_again_after_restart_with_its_attempt_intact(
    autojump_clock: MockClock, store: SQLiteStore
) -> None:
    job_id = await store.push(Work(seconds=60))
    async with running(TaskWorker(store, [Work]), grace=1):
        await started(1)
    async with running(TaskWorker(store, [Work])):
        await completed(store, job_id, poll=1)
    assert [attempt for _, _, attempt in STARTED] == [1, 1]
    assert (await store.job_get(job_id)).attempt == 1


async def test_shutdown_stops_claiming_at_once(
    autojump_clock: MockClock, store: SQLiteStore
) -> None:
    await store.push(Work(seconds=10))
    worker = TaskWorker(store, [Work])
    async with trio.open_nursery() as nursery:
        await nursery.start(worker.run)
        await started(1)
        nursery.start_soon(worker.shutdown, 30.0)
        await trio.testing.wait_all_tasks_blocked()
        late = await store.push(Work(seconds=1))
    assert len(STARTED) == 1
    assert (await store.job_get(late)).state is JobState.AVAILABLE


async def test_cancelling_the_worker_from_outside_still_returns_its_jobs(
    autojump_clock: MockClock, store: SQLiteStore
) -> None:
    job_id = await store.push(Work(seconds=60))
    async with trio.open_nursery() as nursery:
        await nursery.start(TaskWorker(store, [Work]).run)
        await started(1)
        nursery.cancel_scope.cancel()
    job = await store.job_get(job_id)
    assert job.state is JobState.AVAILABLE
    assert job.attempt == 0


async def test_shutdown_records_the_grace_it_was_given_not_the_configured_one(
    autojump_clock: MockClock, store: SQLiteStore
) -> None:
    job_id = await store.push(Work(seconds=60))
    worker = TaskWorker(store, [Work], config=WorkerConfig(shutdown_grace=10))
    async with trio.open_nursery() as nursery:
        await nursery.start(worker.run)
        await started(1)
        t0 = trio.current_time()
        await worker.shutdown(grace=3)
        assert trio.current_time() - t0 == 3
    [note] = (await store.job_get(job_id)).errors
    assert note.kind == "interrupted"
    assert note.message == (
        "interrupted by shutdown: still running after the 3 s grace period"
    )


async def test_a_job_cancelled_from_outside_during_the_grace_records_a_forced_interruption(
    autojump_clock: MockClock, store: SQLiteStore
) -> None:
    # The runtime's second signal: the worker is shutting down with a long grace when the scope
    # around it is cancelled; the job never saw the worker's own shutdown cancel it.
    job_id = await store.push(Work(seconds=600))
    worker = TaskWorker(store, [Work])
    async with trio.open_nursery() as nursery:
        await nursery.start(worker.run)
        await started(1)
        nursery.start_soon(worker.shutdown, 60.0)
        await trio.sleep(1)
        t0 = trio.current_time()
        nursery.cancel_scope.cancel()
    assert trio.current_time() == t0
    assert [(t0, 600)] == CANCELLED
    job = await store.job_get(job_id)
    assert job.state is JobState.AVAILABLE
    assert job.attempt == 0
    assert job.lease_owner is None
    [note] = job.errors
    assert note.kind == "interrupted"
    assert note.message == (
        "interrupted by a forced shutdown: the worker was cancelled from outside,"
        " with no grace period"
    )


async def test_each_recorded_attempt_reports_its_own_duration(
    autojump_clock: MockClock, store: SQLiteStore
) -> None:
    seen: list[tuple[str, float, JobState]] = []
    for seconds in (5, 2):
        await store.push(Work(seconds=seconds))
    worker = TaskWorker(
        store, [Work], on_attempt=lambda task, took, outcome: seen.append(
            (task, took, outcome.state))
    )
    async with running(worker):
        while len(seen) < 2:
            await trio.sleep(1)
    assert sorted(seen) == [("work", 2.0, JobState.COMPLETED), ("work", 5.0, JobState.COMPLETED)]


async def test_the_job_of_a_dead_worker_runs_again_within_the_documented_bound(
    autojump_clock: MockClock, store: SQLiteStore
) -> None:
    config = WorkerConfig()
    job_id = await store.push(Work(seconds=1))
    now = store.clock.now()
    # A worker claimed it and then died (SIGKILL): its lease is never renewed.
    await store.job_claim("work", "dead-host:1", 1, now, now + config.lease_ttl)
    t0 = trio.current_time()
    async with running(TaskWorker(store, [Work], config=config)):
        await completed(store, job_id, poll=0.5)
    rerun_after = STARTED[0][0] - t0
    bound = config.lease_ttl + config.rescue_interval + config.poll_max
    assert config.lease_ttl < rerun_after <= bound <= 30
    job = await store.job_get(job_id)
    assert job.rescues == 1
    assert job.attempt == 2
    assert job.errors[0].kind == "lease_expired"
    assert "dead-host:1" in job.errors[0].message


async def test_leases_of_long_jobs_are_renewed_so_no_other_worker_rescues_them(
    autojump_clock: MockClock, store: SQLiteStore
) -> None:
    job_id = await store.push(Work(seconds=120))
    other = SQLiteStore(store.path, clock=store.clock, runner=type(store._runner)())
    # A second worker (another process) sweeps for expired leases all along.
    async with other, running(TaskWorker(store, [Work], owner="a")), running(
        TaskWorker(other, [], owner="b")
    ):
        await completed(store, job_id, poll=1)
    assert len(STARTED) == 1
    assert (await store.job_get(job_id)).rescues == 0


async def test_a_running_job_cancelled_by_an_operator_is_stopped_by_its_worker(
    autojump_clock: MockClock, store: SQLiteStore
) -> None:
    job_id = await store.push(Work(seconds=600))
    worker = TaskWorker(store, [Work])
    async with running(worker):
        await started(1)
        t0 = trio.current_time()
        await store.job_cancel(job_id, store.clock.now(), "no longer needed")
        await wait_until("the job to be cancelled", lambda: list(CANCELLED), bool, poll=0.5,
                         within=3600)
        stopped_after = trio.current_time() - t0
        assert worker.in_flight == 0
    assert stopped_after <= worker.config.lease_renew_interval
    job = await store.job_get(job_id)
    assert job.state is JobState.CANCELLED
    assert job.errors[-1].message == "no longer needed"
    assert FINISHED == []


async def test_a_job_that_keeps_killing_its_process_is_discarded_after_bounded_rescues(
    autojump_clock: MockClock, store: SQLiteStore
) -> None:
    config = WorkerConfig(max_rescues=3)
    job_id = await store.push(Work(seconds=1), max_attempts=10)
    for n in range(3):
        now = store.clock.now()
        # A repeat rescue comes back after a short random pause.
        await store.job_promote_due(now + REPEAT_RESCUE_SPREAD_S)
        claimed = await store.job_claim("work", f"doomed:{n}", 1, now, now + config.lease_ttl)
        assert [j.id for j in claimed] == [job_id]
        await trio.sleep(config.lease_ttl + 1)
        await store.job_rescue_expired(store.clock.now(), config.max_rescues)
    job = await store.job_get(job_id)
    assert job.state is JobState.DISCARDED
    assert "lease expired 3 times" in job.errors[-1].message


async def test_a_stopped_worker_no_longer_listens_for_pushes(
    autojump_clock: MockClock, store: SQLiteStore
) -> None:
    # drain() and tests build many workers over one store: a stopped one must not stay wired in.
    worker = TaskWorker(store, [Work])
    async with trio.open_nursery() as nursery:
        await nursery.start(worker.run)
        assert worker._on_push in store._listeners.push
        assert worker.cancels.heard in store._listeners.cancel
        await worker.shutdown()
    assert worker._on_push not in store._listeners.push
    assert worker.cancels.heard not in store._listeners.cancel
