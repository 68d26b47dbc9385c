"""The helpers task authors use in their own tests (service.jobs.testing), used as they would."""

from __future__ import annotations

import inspect
import math
import threading
from collections import Counter
from typing import TYPE_CHECKING, Any, cast

import attrs
import pytest
import trio
from conftest import EPOCH
from trio.testing import MockClock, wait_all_tasks_blocked

from service.jobs import (
    Backoff,
    JobContext,
    JobState,
    JobStore,
    Snooze,
    SQLiteStore,
    Task,
    TaskOptions,
    TaskWorker,
    ThreadRunner,
    TrioClock,
    testing,
)
from service.jobs.testing import (
    TEST_CONFIG,
    VirtualTimeRequired,
    assert_not_pushed,
    assert_pushed,
    drain,
    pushed,
    run_task,
    sqlite_test_store,
    store_time,
)

if TYPE_CHECKING:
    from pathlib import Path

SENT: list[tuple[float, str]] = []


@attrs.frozen(kw_only=True)
class SendReminder(Task):
    """Fails twice (the mail server is down), then sends; backs off an hour between tries."""

    options = TaskOptions(
        name="send_reminder", max_attempts=5, backoff=Backoff(base=3600, cap=86_400, jitter=0.0)
    )
    email: str

    async def run(self, ctx: JobContext) -> str:
        if ctx.attempt < 3:
            raise ConnectionError("mail server down")
        SENT.append((trio.current_time(), self.email))
        return f"sent to {self.email}"


@attrs.frozen(kw_only=True)
class FollowUp(Task):
    """Snoozes until a day has passed since the first try, then pushes a reminder."""

    options = TaskOptions(name="follow_up")
    email: str

    async def run(self, ctx: JobContext) -> None:
        store = ctx.state
        if trio.current_time() < 86_400:
            raise Snooze(86_400 - trio.current_time())
        await store.push(SendReminder(email=self.email))


async def test_drain_runs_retries_and_snoozes_through_virtual_time(
    autojump_clock: MockClock, tmp_path: Path
) -> None:
    SENT.clear()
    async with sqlite_test_store(tmp_path / "jobs.db") as store:
        await store.push(FollowUp(email="ada@example.com"))
        await assert_pushed(store, FollowUp, email="ada@example.com")
        await assert_not_pushed(store, SendReminder)

        result = await drain(store, [FollowUp, SendReminder], state=store)

        assert result.completed == 2
        assert result.discarded == 0
        # one day of snooze, then two failures an hour and two hours apart
        assert SENT == [(86_400 + 3600 + 7200, "ada@example.com")]
        assert [t.email for t in await pushed(store, SendReminder)] == ["ada@example.com"]
        assert await pushed(store, SendReminder, state=JobState.COMPLETED) != []


async def test_drain_gives_up_when_work_never_ends(
    autojump_clock: MockClock, tmp_path: Path
) -> None:
    @attrs.frozen(kw_only=True)
    class Forever(Task):
        options = TaskOptions(name="forever")

        async def run(self, ctx: JobContext) -> None:
            raise Snooze(60)

    async with sqlite_test_store(tmp_path / "jobs.db") as store:
        await store.push(Forever())
        with pytest.raises(trio.TooSlowError):
            await drain(store, [Forever], max_seconds=3600)


async def test_assert_pushed_explains_what_was_pushed_instead(tmp_path: Path) -> None:
    async with sqlite_test_store(tmp_path / "jobs.db") as store:
        await store.push(SendReminder(email="bob@example.com"))
        with pytest.raises(AssertionError, match=r"bob@example\.com"):
            await assert_pushed(store, SendReminder, email="eve@example.com")
        with pytest.raises(AssertionError):
            await assert_not_pushed(store, SendReminder, email="bob@example.com")


async def test_run_task_runs_one_attempt_without_a_store() -> None:
    result = await run_task(SendReminder(email="c@example.com"), attempt=3)
    assert result.outcome == "completed"
    assert result.value == "sent to c@example.com"
    failed = await run_task(SendReminder(email="c@example.com"), attempt=1)
    assert failed.outcome == "failed"
    assert isinstance(failed.error, ConnectionError)


# -- what a drain costs ----------------------------------------------------------------------


class CountingStore:
    """Forwards everything to a store and counts its awaited calls by name."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if not inspect.iscoroutinefunction(attr):
            return attr

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return await attr(*args, **kwargs)

        return counted


@attrs.frozen(kw_only=True)
class Ping(Task):
    options = TaskOptions(name="ping")

    async def run(self, ctx: JobContext) -> str:
        return "pong"


@attrs.frozen(kw_only=True)
class Nap(Task):
    """Runs for an hour of virtual time."""

    options = TaskOptions(name="nap")

    async def run(self, ctx: JobContext) -> None:
        await trio.sleep(3600)


async def test_a_drain_through_an_hour_long_delay_makes_a_few_dozen_store_calls(
    autojump_clock: MockClock, tmp_path: Path
) -> None:
    # Before: every 0.5-5 s of virtual time some loop woke up -- 334 store calls for this drain
    # (7,302 through a day), ~65-250 ms of real time. Now the worker's safety nets wake hourly
    # and the drain sleeps until the job is due.
    async with sqlite_test_store(tmp_path / "jobs.db") as store:
        await store.push(Ping(), delay=3600)
        counting = CountingStore(store)
        result = await drain(cast("JobStore", counting), [Ping])
        assert result.completed == 1
        assert trio.current_time() == pytest.approx(3600)
        assert sum(counting.calls.values()) <= 50, counting.calls


async def test_a_drain_through_a_day_costs_a_few_calls_per_virtual_hour(
    autojump_clock: MockClock, tmp_path: Path
) -> None:
    async with sqlite_test_store(tmp_path / "jobs.db") as store:
        await store.push(Ping(), delay=86_400)
        counting = CountingStore(store)
        assert (await drain(cast("JobStore", counting), [Ping])).completed == 1
        # 6 an hour, the heartbeat after each lease-renewal tick (3 an hour on TEST_CONFIG), and
        # flow control's refresh of limits and concurrency keys (2 an hour on TEST_CONFIG)
        assert sum(counting.calls.values()) <= 24 * (6 + 3 + 2), counting.calls


async def test_a_drain_waits_for_a_running_job_without_polling_the_store(
    autojump_clock: MockClock, tmp_path: Path
) -> None:
    # Before: the drain counted the jobs every 0.5 s of virtual time, 7,200 times an hour.
    async with sqlite_test_store(tmp_path / "jobs.db") as store:
        await store.push(Nap())
        counting = CountingStore(store)
        assert (await drain(cast("JobStore", counting), [Nap])).completed == 1
        assert counting.calls["job_count_by_state"] <= 5, counting.calls
        assert sum(counting.calls.values()) <= 50, counting.calls


async def test_a_worker_on_test_config_idles_through_a_day_on_a_few_calls_an_hour(
    autojump_clock: MockClock, tmp_path: Path
) -> None:
    async with sqlite_test_store(tmp_path / "jobs.db") as store:
        counting = CountingStore(store)
        worker = TaskWorker(cast("JobStore", counting), [Ping], config=TEST_CONFIG)
        async with trio.open_nursery() as nursery:
            await nursery.start(worker.run)
            await trio.sleep(86_400)
            job_id = await store.push(Ping())  # a push through the same store wakes it at once
            await trio.sleep(0.01)
            assert (await store.job_get(job_id)).state is JobState.COMPLETED
            await worker.shutdown()
        # the default WorkerConfig: a claim and a promotion every second, 170,000+ calls a day;
        # 3 of the hour's calls are the heartbeats written after each lease-renewal tick, 2 the
        # refresh of limits and concurrency keys
        assert sum(counting.calls.values()) <= 24 * (8 + 3 + 2), counting.calls


async def test_drain_leaves_jobs_of_other_task_types_alone(
    autojump_clock: MockClock, tmp_path: Path
) -> None:
    async with sqlite_test_store(tmp_path / "jobs.db") as store:
        other = await store.push(Nap())
        await store.push(Ping(), delay=3600)
        assert (await drain(store, [Ping])).completed == 1
        assert (await store.job_get(other)).state is JobState.AVAILABLE


# -- clocks that do not autojump -------------------------------------------------------------


async def test_drain_on_a_mock_clock_that_does_not_autojump_refuses_a_future_job_at_once(
    mock_clock: MockClock, tmp_path: Path
) -> None:
    async with sqlite_test_store(tmp_path / "jobs.db") as store:
        await store.push(Ping(), delay=60)
        with pytest.raises(VirtualTimeRequired, match=r"due in 60 s.*autojump_clock") as caught:
            await drain(store, [Ping])
        assert "mock_clock fixture" in str(caught.value)
        assert trio.current_time() == 0


async def test_drain_on_the_real_clock_refuses_a_future_job_at_once(tmp_path: Path) -> None:
    async with sqlite_test_store(tmp_path / "jobs.db") as store:
        await store.push(Ping(), delay=3600)
        started = trio.current_time()
        with pytest.raises(VirtualTimeRequired, match=r"the real one.*real time"):
            await drain(store, [Ping])
        assert trio.current_time() - started < 30  # at once, not in an hour


async def test_drain_on_the_real_clock_runs_jobs_that_are_due(tmp_path: Path) -> None:
    async with sqlite_test_store(tmp_path / "jobs.db") as store:
        await store.push_many([Ping(), Ping()])
        assert (await drain(store, [Ping])).completed == 2


async def test_drain_on_a_mock_clock_that_does_not_autojump_runs_jobs_that_are_due(
    mock_clock: MockClock, tmp_path: Path
) -> None:
    async with sqlite_test_store(tmp_path / "jobs.db") as store:
        await store.push(Ping())
        assert (await drain(store, [Ping])).completed == 1


async def test_drain_gives_up_on_a_task_that_waits_for_a_clock_that_never_moves(
    mock_clock: MockClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(testing, "STALL_SECONDS", 0.01)
    async with sqlite_test_store(tmp_path / "jobs.db") as store:
        job_id = await store.push(Nap())
        with pytest.raises(VirtualTimeRequired, match=r"^drain is waiting for trio's clock"):
            await drain(store, [Nap])
        # the worker was stopped: its job went back to the queue
        assert (await store.job_get(job_id)).state is JobState.AVAILABLE


async def test_run_task_gives_up_on_a_task_that_waits_for_a_clock_that_never_moves(
    mock_clock: MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(testing, "STALL_SECONDS", 0.01)
    with pytest.raises(
        VirtualTimeRequired, match=r"run_task\(nap\) is waiting for trio's clock to move 3600 s"
    ):
        await run_task(Nap())


async def test_run_task_on_a_mock_clock_still_lets_the_test_jump_it_by_hand(
    mock_clock: MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(testing, "STALL_SECONDS", 0.01)
    results: list[str] = []

    async def run() -> None:
        results.append((await run_task(Nap())).outcome)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run)
        await wait_all_tasks_blocked()
        mock_clock.jump(3600)
    assert results == ["completed"]


async def test_run_task_on_a_mock_clock_runs_a_task_that_does_not_wait(
    mock_clock: MockClock,
) -> None:
    assert (await run_task(Ping())).value == "pong"


# -- timestamps ------------------------------------------------------------------------------


async def test_store_time_is_the_timestamp_the_store_writes_at_a_trio_time(
    autojump_clock: MockClock, tmp_path: Path
) -> None:
    ran_at: list[float] = []

    @attrs.frozen(kw_only=True)
    class Note(Task):
        options = TaskOptions(name="note")

        async def run(self, ctx: JobContext) -> None:
            ran_at.append(trio.current_time())

    async with sqlite_test_store(tmp_path / "jobs.db", clock=TrioClock(EPOCH)) as store:
        await trio.sleep(5)
        assert store_time(store) == store.clock.now()
        job_id = await store.push(Note(), delay=60)
        job = await store.job_get(job_id)
        assert job.run_at == pytest.approx(store_time(store, trio.current_time() + 60), abs=1e-6)
        await drain(store, [Note])
        [at] = ran_at
        assert at == pytest.approx(65)
        done = await store.job_get(job_id)
        assert done.finished_at == pytest.approx(store_time(store, at), abs=1e-6)
        # the store read its clock first when it opened, at trio time 0
        assert done.finished_at == pytest.approx(EPOCH + 65, abs=1e-6)


async def test_a_thread_call_in_flight_does_not_make_the_clock_look_frozen(
    autojump_clock: MockClock,
) -> None:
    # The thread runner turns autojump off while its call runs; the clock still autojumps.
    runner = ThreadRunner()
    release = threading.Event()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(runner.run, release.wait)
        await wait_all_tasks_blocked()
        held = autojump_clock.autojump_threshold
        autojumps_while_held = testing.clock_autojumps()
        release.set()
    await runner.aclose()
    assert held == math.inf
    assert autojumps_while_held
    assert testing.clock_autojumps()


async def test_drain_on_a_thread_runner_store_goes_through_virtual_time(
    autojump_clock: MockClock, tmp_path: Path
) -> None:
    SENT.clear()
    async with SQLiteStore(
        tmp_path / "jobs.db", clock=TrioClock(EPOCH), runner=ThreadRunner()
    ) as store:
        await store.push(SendReminder(email="ada@example.com"), delay=60)
        assert (await drain(store, [SendReminder])).completed == 1
    assert SENT == [(60 + 3600 + 7200, "ada@example.com")]
