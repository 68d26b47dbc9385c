"""The TaskWorker on a real SQLite file, driven through virtual time by MockClock."""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import TYPE_CHECKING

import attrs
import pytest
import trio
from conftest import EPOCH
from support.waiting import wait_for_job_state, wait_until
from support.workers import running

from service.jobs import (
    Backoff,
    Cancel,
    InlineRunner,
    JobContext,
    JobState,
    Snooze,
    SQLiteStore,
    Task,
    TaskOptions,
    TaskWorker,
    TrioClock,
)
from service.jobs._store import JobInsert
from service.jobs.testing import TEST_CONFIG
from service.logs import JsonFormatter

if TYPE_CHECKING:
    from pathlib import Path

    from trio.testing import MockClock

RUNS: list[tuple[float, str, int]] = []


@pytest.fixture(autouse=True)
def _clear_runs() -> None:
    RUNS.clear()


@attrs.frozen(kw_only=True)
class Flaky(Task):
    """Fails until ``succeed_on`` (never, if 0)."""

    options = TaskOptions(
        name="flaky", max_attempts=4, backoff=Backoff(base=2.0, factor=3.0, jitter=0.0)
    )
    label: str
    succeed_on: int = 0

    async def run(self, ctx: JobContext) -> dict[str, int]:
        RUNS.append((trio.current_time(), self.label, ctx.attempt))
        if ctx.attempt != self.succeed_on:
            raise ValueError(f"{self.label} failed on attempt {ctx.attempt}")
        return {"attempt": ctx.attempt}


@attrs.frozen(kw_only=True)
class Sleepy(Task):
    options = TaskOptions(name="sleepy", concurrency=3, timeout=30.0, max_attempts=2,
                          backoff=Backoff(base=10.0, jitter=0.0))
    seconds: float

    async def run(self, ctx: JobContext) -> None:
        RUNS.append((trio.current_time(), "sleepy", ctx.attempt))
        await trio.sleep(self.seconds)


@attrs.frozen(kw_only=True)
class Drowsy(Task):
    """Snoozes ``times`` times, then completes."""

    options = TaskOptions(name="drowsy", max_attempts=1)
    times: int

    async def run(self, ctx: JobContext) -> str:
        RUNS.append((trio.current_time(), "drowsy", ctx.attempt))
        snoozes = sum(1 for _, label, _ in RUNS if label == "drowsy") - 1
        if snoozes < self.times:
            raise Snooze(30)
        return "awake"


@attrs.frozen(kw_only=True)
class Quitter(Task):
    options = TaskOptions(name="quitter")

    async def run(self, ctx: JobContext) -> None:
        RUNS.append((trio.current_time(), "quitter", ctx.attempt))
        raise Cancel("the customer closed their account")


@attrs.frozen(kw_only=True)
class OneByOne(Task):
    options = TaskOptions(name="one_by_one", concurrency=1)
    label: str

    async def run(self, ctx: JobContext) -> None:
        RUNS.append((trio.current_time(), self.label, ctx.attempt))


ALL = [Flaky, Sleepy, Drowsy, Quitter, OneByOne]


async def wait_for_state(store: SQLiteStore, job_id: int, *states: JobState) -> None:
    # Virtual time (MockClock): a day is far beyond any test here (the latest job runs at 1 h).
    await wait_for_job_state(store, job_id, *states, within=86_400, poll=0.25)


async def test_failed_attempts_retry_on_the_backoff_schedule_then_discard(
    autojump_clock: MockClock, store: SQLiteStore,
) -> None:
    job_id = await store.push(Flaky(label="f"))
    async with running(TaskWorker(store, ALL)):
        await wait_for_state(store, job_id, JobState.DISCARDED)
    assert [(t, attempt) for t, _, attempt in RUNS] == [(0, 1), (2, 2), (8, 3), (26, 4)]
    job = await store.job_get(job_id)
    assert job.attempt == 4
    assert [e.message for e in job.errors[:3]] == [
        f"f failed on attempt {n}" for n in (1, 2, 3)
    ]
    assert "attempt 4 of 4: discarded" in job.errors[3].message
    assert all("ValueError" in e.traceback for e in job.errors)
    assert job.finished_at == EPOCH + 26


async def test_a_retry_that_succeeds_stores_the_result(
    autojump_clock: MockClock, store: SQLiteStore) -> None:
    job_id = await store.push(Flaky(label="f", succeed_on=2))
    async with running(TaskWorker(store, ALL)):
        await wait_for_state(store, job_id, JobState.COMPLETED)
    job = await store.job_get(job_id)
    assert job.result == '{"attempt":2}'
    assert len(job.errors) == 1


async def test_scheduled_jobs_run_at_their_time(
    autojump_clock: MockClock, store: SQLiteStore) -> None:
    delayed = await store.push(Sleepy(seconds=0), delay=90)
    at = await store.push(Sleepy(seconds=0),
                          run_at=dt.datetime.fromtimestamp(EPOCH + 3600, tz=dt.UTC))
    assert (await store.job_get(delayed)).state is JobState.SCHEDULED
    # TEST_CONFIG: the worker sleeps until the next run_at instead of polling every second
    async with running(TaskWorker(store, ALL, config=TEST_CONFIG)):
        await wait_for_state(store, at, JobState.COMPLETED)
    assert [t for t, _, _ in RUNS] == [90, 3600]
    assert (await store.job_get(delayed)).attempted_at == EPOCH + 90


async def test_a_push_in_the_same_process_is_claimed_without_waiting_for_a_poll(
    autojump_clock: MockClock, store: SQLiteStore,
) -> None:
    async with running(TaskWorker(store, ALL)):
        await trio.sleep(100)  # the worker is idle, its poll backed off to the maximum
        pushed_at = trio.current_time()
        job_id = await store.push(Sleepy(seconds=0))
        await wait_for_state(store, job_id, JobState.COMPLETED)
    assert RUNS[0][0] == pushed_at


async def test_a_push_from_another_store_wakes_the_idle_worker_at_once(
    autojump_clock: MockClock, store: SQLiteStore
) -> None:
    other = SQLiteStore(store.path, clock=store.clock, runner=type(store._runner)())
    async with other, running(TaskWorker(store, ALL)):
        await trio.sleep(100)  # the worker's poll has backed off to poll_max
        pushed_at = trio.current_time()
        job_id = await other.push(Sleepy(seconds=0))
        await wait_for_state(store, job_id, JobState.COMPLETED)
    assert RUNS[0][0] == pushed_at  # the push's datagram, not the poll


async def test_a_push_from_another_store_is_found_by_the_poll_within_its_bound_without_channel(
    autojump_clock: MockClock, tmp_path: Path
) -> None:
    (tmp_path / "jobs.db-wake").write_text("not a directory: the wake channel stays off")
    store = SQLiteStore(tmp_path / "jobs.db", clock=TrioClock(EPOCH), runner=InlineRunner())
    other = SQLiteStore(store.path, clock=store.clock, runner=InlineRunner())
    async with store, other, running(TaskWorker(store, ALL)) as worker:
        await trio.sleep(100)
        pushed_at = trio.current_time()
        job_id = await other.push(Sleepy(seconds=0))
        await wait_for_state(store, job_id, JobState.COMPLETED)
    assert 0 < RUNS[0][0] - pushed_at <= worker.config.poll_max


async def test_concurrency_bounds_jobs_running_at_once(
    autojump_clock: MockClock, store: SQLiteStore) -> None:
    await store.push_many([Sleepy(seconds=10) for _ in range(10)])
    async with running(TaskWorker(store, ALL)):
        await wait_until("10 runs and 40 s", lambda: (len(RUNS), trio.current_time()),
                         lambda seen: seen[0] >= 10 and seen[1] >= 40, within=600, poll=1)
    starts = sorted(t for t, _, _ in RUNS)
    assert starts == [0, 0, 0, 10, 10, 10, 20, 20, 20, 30]


async def test_an_attempt_past_its_timeout_fails_saying_so(
    autojump_clock: MockClock, store: SQLiteStore) -> None:
    job_id = await store.push(Sleepy(seconds=1000))
    async with running(TaskWorker(store, ALL)):
        await wait_for_state(store, job_id, JobState.DISCARDED)
    job = await store.job_get(job_id)
    assert [t for t, _, _ in RUNS] == [0, 40]  # 30 s timeout, then 10 s backoff
    assert job.errors[0].message == "timed out after 30 s"
    assert job.errors[0].kind == "timeout"


async def test_snooze_runs_again_later_without_using_an_attempt(
    autojump_clock: MockClock, store: SQLiteStore) -> None:
    job_id = await store.push(Drowsy(times=2))
    async with running(TaskWorker(store, ALL)):
        await wait_for_state(store, job_id, JobState.COMPLETED)
    # max_attempts is 1: only possible because snoozes do not count
    assert [(t, attempt) for t, _, attempt in RUNS] == [(0, 1), (30, 1), (60, 1)]
    job = await store.job_get(job_id)
    assert job.attempt == 1
    assert job.errors == []
    assert job.result == '"awake"'


async def test_cancel_from_a_task_stops_its_job_for_good(
    autojump_clock: MockClock, store: SQLiteStore) -> None:
    job_id = await store.push(Quitter())
    async with running(TaskWorker(store, ALL)):
        await wait_for_state(store, job_id, JobState.CANCELLED)
        await trio.sleep(300)
    job = await store.job_get(job_id)
    assert len(RUNS) == 1
    assert job.errors[-1].message == "the customer closed their account"


async def test_a_payload_that_no_longer_decodes_is_discarded_and_work_goes_on(
    autojump_clock: MockClock, store: SQLiteStore,
) -> None:
    now = store.clock.now()
    [bad] = await store.job_insert_many([
        JobInsert(task="sleepy", args='{"seconds": "soon"}', state=JobState.AVAILABLE,
                  priority=-1, max_attempts=5, run_at=now, created_at=now)
    ])
    good = await store.push(Sleepy(seconds=0))
    async with running(TaskWorker(store, ALL)):
        await wait_for_state(store, good, JobState.COMPLETED)
        await wait_for_state(store, bad.id, JobState.DISCARDED)
    job = await store.job_get(bad.id)
    message = job.errors[0].message
    assert "sleepy" in message
    assert "$.seconds" in message
    assert job.errors[0].kind == "payload"


async def test_jobs_of_tasks_this_worker_does_not_know_are_discarded_after_a_grace(
    autojump_clock: MockClock, store: SQLiteStore,
) -> None:
    now = store.clock.now()
    [orphan] = await store.job_insert_many([
        JobInsert(task="renamed_long_ago", args="{}", state=JobState.AVAILABLE,
                  priority=0, max_attempts=5, run_at=now, created_at=now)
    ])
    async with running(TaskWorker(store, ALL)) as worker:
        await trio.sleep(worker.config.unknown_task_grace / 2)
        assert (await store.job_get(orphan.id)).state is JobState.AVAILABLE
        await wait_for_state(store, orphan.id, JobState.DISCARDED)
    job = await store.job_get(orphan.id)
    assert "renamed_long_ago" in job.errors[0].message
    assert "not registered" in job.errors[0].message


async def test_priority_orders_claims(
    autojump_clock: MockClock, store: SQLiteStore) -> None:
    await store.push(OneByOne(label="late"), priority=5)
    await store.push(OneByOne(label="urgent"), priority=-5)
    await store.push(OneByOne(label="normal"))
    await store.push(OneByOne(label="normal, pushed later"))
    async with running(TaskWorker(store, ALL)):
        await wait_until("4 runs", lambda: len(RUNS), lambda runs: runs >= 4, within=600, poll=1)
    assert [label for _, label, _ in RUNS] == ["urgent", "normal", "normal, pushed later", "late"]


async def test_jobs_pushed_in_a_transaction_wake_the_worker_only_after_commit(
    autojump_clock: MockClock, store: SQLiteStore,
) -> None:
    async with running(TaskWorker(store, ALL)):
        async with store.transaction() as tx:
            job_id = await tx.push(Sleepy(seconds=0))
            await trio.sleep(5)  # the worker cannot see the job yet
            assert RUNS == []
        committed_at = trio.current_time()
        await wait_for_state(store, job_id, JobState.COMPLETED)
    assert RUNS[0][0] == committed_at


async def test_outcome_lines_say_how_long_the_attempt_ran_and_when_it_runs_again_in_iso(
    autojump_clock: MockClock, store: SQLiteStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="service.jobs")
    flaky = await store.push(Flaky(label="f", succeed_on=2))
    sleepy = await store.push(Sleepy(seconds=3))
    async with running(TaskWorker(store, ALL)):
        await wait_for_state(store, flaky, JobState.COMPLETED)
        await wait_for_state(store, sleepy, JobState.COMPLETED)
    # As the operator reads them: JSON lines.
    lines = [json.loads(JsonFormatter().format(r)) for r in caplog.records
             if getattr(r, "event", "") in ("job.retryable", "job.completed")]
    [retryable] = [line for line in lines if line["event"] == "job.retryable"]
    assert retryable["id"] == flaky
    # Backoff base 2 s: due again 2 s after the failure, as a UTC time, not epoch seconds.
    assert retryable["run_at"] == dt.datetime.fromtimestamp(EPOCH + 2, dt.UTC).isoformat(
        timespec="milliseconds")
    assert retryable["run_at"].endswith("+00:00")
    completed = {line["id"]: line for line in lines if line["event"] == "job.completed"}
    assert completed[sleepy]["ms"] == pytest.approx(3000, abs=1)
    assert completed[flaky]["ms"] == pytest.approx(0, abs=1)
