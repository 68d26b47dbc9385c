"""Periodic schedules through real workers on real SQLite files, in MockClock virtual time."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import time
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import attrs
import pytest
import trio

from service.jobs import (
    InvalidSchedule,
    JobAdmin,
    JobContext,
    JobFilter,
    JobState,
    JobStore,
    Schedule,
    ScheduleNotFound,
    Task,
    TaskOptions,
    TaskRegistry,
    TaskWorker,
    TrioClock,
)
from service.jobs.testing import TEST_CONFIG, sqlite_test_store

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterable
    from pathlib import Path

PARIS = ZoneInfo("Europe/Paris")
HOUR = 3600.0
DAY = 86_400.0
#: Each Tick job appends (schedule label, ctx.tick) here when it runs.
RUNS: list[tuple[str, dt.datetime | None]] = []


@attrs.frozen(kw_only=True)
class Tick(Task):
    options = TaskOptions(name="sched.tick")

    label: str = "tick"

    async def run(self, ctx: JobContext) -> None:
        RUNS.append((self.label, ctx.tick))


@pytest.fixture(autouse=True)
def _clear_runs() -> None:
    RUNS.clear()


def utc(*args: int) -> float:
    return dt.datetime(*args, tzinfo=dt.UTC).timestamp()  # type: ignore[misc]


def ticks_of(label: str = "tick") -> list[dt.datetime]:
    """The ticks of the jobs that ran, in tick order (jobs due together run concurrently)."""
    return sorted(tick for name, tick in RUNS if name == label and tick is not None)


#: TEST_CONFIG, but after an empty claim the queue waits for a wake-up (a push through the same
#: store, as every tick's is) rather than polling from 50 ms up: the poll is the safety net for
#: pushes from other processes, and would cost a dozen empty claims after every job here.
CONFIG = attrs.evolve(TEST_CONFIG, poll_min=TEST_CONFIG.poll_max)


@asynccontextmanager
async def running(store: JobStore, schedules: Iterable[Schedule]) -> AsyncIterator[TaskWorker]:
    worker = TaskWorker(store, [Tick], config=CONFIG, schedules=schedules)
    async with trio.open_nursery() as nursery:
        await nursery.start(worker.run)
        yield worker
        await worker.shutdown()


async def run_for(seconds: float, store: JobStore, schedules: Iterable[Schedule]) -> None:
    async with running(store, schedules):
        await trio.sleep(seconds)


EVERY_5 = Schedule(name="every-5", cron="*/5 * * * *", task=Tick())


@pytest.mark.parametrize(("days", "expected"), [(1, 288), (7, 2016)])
async def test_a_five_minute_schedule_runs_every_tick_once_through_a_real_worker(
    autojump_clock: trio.testing.MockClock, tmp_path: Path, days: int, expected: int,
    capsys: pytest.CaptureFixture[str],
) -> None:
    start = utc(2027, 1, 15, 8, 0, 30)  # first seen just after 08:00: the first tick is 08:05
    async with sqlite_test_store(tmp_path / "jobs.db", clock=TrioClock(start)) as store:
        looks = 0
        schedule_get = store.schedule_get

        async def counted(name: str) -> Any:
            nonlocal looks
            looks += 1
            return await schedule_get(name)

        store.schedule_get = counted  # type: ignore[method-assign]
        began = time.perf_counter()
        await run_for(days * DAY, store, [EVERY_5])
        elapsed = time.perf_counter() - began
    ticks = ticks_of()
    assert len(ticks) == expected
    assert ticks[0] == dt.datetime(2027, 1, 15, 8, 5, tzinfo=dt.UTC)
    assert all(b - a == dt.timedelta(minutes=5) for a, b in itertools.pairwise(ticks))
    assert all(t.tzinfo is not None for t in ticks)
    with capsys.disabled():
        print(f"\n  {days} virtual day(s) of */5: {expected} jobs in {elapsed:.2f} s real time")
    # The loop wakes at each tick and looks at the store once (plus the first look, which
    # registers the schedule): a loop that polled every second would look 86,400 times a day.
    # (Measured 0.4 s of real time a virtual day on our 2-core machine, more under load.)
    assert looks <= expected + 2


async def test_four_workers_with_their_own_store_on_one_file_push_each_tick_once(
    autojump_clock: trio.testing.MockClock, tmp_path: Path,
) -> None:
    path = tmp_path / "jobs.db"
    clock = TrioClock(utc(2027, 1, 15, 8, 0, 30))
    async with sqlite_test_store(path, clock=clock) as a, sqlite_test_store(
            path, clock=clock) as b, sqlite_test_store(path, clock=clock) as c, \
            sqlite_test_store(path, clock=clock) as d:
        async with running(a, [EVERY_5]), running(b, [EVERY_5]), running(c, [EVERY_5]), \
                running(d, [EVERY_5]):
            await trio.sleep(DAY)
        jobs = await a.job_list(JobFilter(limit=1000))
    assert len(jobs) == 288
    ticks = ticks_of()
    assert len(ticks) == len(set(ticks)) == 288


HOURLY = "0 * * * *"


@pytest.mark.parametrize(("catch_up", "max_catch_up", "expected_missed"), [
    ("latest", 100, 1), ("all", 100, 72), ("all", 10, 10), ("none", 100, 0),
])
async def test_three_days_of_downtime_follow_the_catch_up_policy(
    autojump_clock: trio.testing.MockClock, tmp_path: Path, catch_up: Any, max_catch_up: int,
    expected_missed: int,
) -> None:
    schedule = Schedule(name="hourly", cron=HOURLY, task=Tick(), catch_up=catch_up,
                        max_catch_up=max_catch_up)
    start = utc(2027, 1, 15, 8, 30)
    async with sqlite_test_store(tmp_path / "jobs.db", clock=TrioClock(start)) as store:
        await run_for(2 * HOUR, store, [schedule])  # 09:00 and 10:00
        assert len(ticks_of()) == 2
        await trio.sleep(3 * DAY)  # down from 10:30 until 3 days later, 10:30
        await run_for(HOUR, store, [schedule])  # back: catch up, then 11:00
    after = ticks_of()[2:]
    missed, on_time = after[:-1], after[-1]
    assert on_time == dt.datetime(2027, 1, 18, 11, tzinfo=dt.UTC)
    assert len(missed) == expected_missed
    if missed:  # the most recent missed ticks, in order
        assert missed[-1] == dt.datetime(2027, 1, 18, 10, tzinfo=dt.UTC)
        assert len(set(missed)) == len(missed)


async def run_paris(tmp_path: Path, cron: str, start: float, days: float) -> list[str]:
    schedule = Schedule(name="paris", cron=cron, task=Tick(), timezone="Europe/Paris")
    async with sqlite_test_store(tmp_path / "jobs.db", clock=TrioClock(start)) as store:
        await run_for(days * DAY, store, [schedule])
    return [t.astimezone(PARIS).isoformat() for t in ticks_of()]


async def test_a_fixed_hour_schedule_runs_once_per_local_day_across_both_dst_changes(
    autojump_clock: trio.testing.MockClock, tmp_path: Path,
) -> None:
    spring = await run_paris(tmp_path / "spring", "30 2 * * *", utc(2026, 3, 27, 12), 3)
    # 29 March: 02:30 does not exist (02:00 -> 03:00); it runs right after the change.
    assert spring == ["2026-03-28T02:30:00+01:00", "2026-03-29T03:00:00+02:00",
                      "2026-03-30T02:30:00+02:00"]
    RUNS.clear()
    autumn = await run_paris(tmp_path / "autumn", "30 2 * * *", utc(2026, 10, 23, 12), 3)
    # 25 October: 02:30 happens twice (03:00 -> 02:00); it runs once, at its first occurrence.
    assert autumn == ["2026-10-24T02:30:00+02:00", "2026-10-25T02:30:00+02:00",
                      "2026-10-26T02:30:00+01:00"]


async def test_a_wildcard_hour_schedule_follows_real_time_across_both_dst_changes(
    autojump_clock: trio.testing.MockClock, tmp_path: Path,
) -> None:
    # From 00:30 local for six real hours.
    spring = await run_paris(tmp_path / "spring", HOURLY, utc(2026, 3, 28, 23, 30), 0.25)
    assert spring == ["2026-03-29T01:00:00+01:00", "2026-03-29T03:00:00+02:00",
                      "2026-03-29T04:00:00+02:00", "2026-03-29T05:00:00+02:00",
                      "2026-03-29T06:00:00+02:00", "2026-03-29T07:00:00+02:00"]
    RUNS.clear()
    autumn = await run_paris(tmp_path / "autumn", HOURLY, utc(2026, 10, 24, 22, 30), 0.25)
    assert autumn == ["2026-10-25T01:00:00+02:00", "2026-10-25T02:00:00+02:00",
                      "2026-10-25T02:00:00+01:00", "2026-10-25T03:00:00+01:00",
                      "2026-10-25T04:00:00+01:00", "2026-10-25T05:00:00+01:00"]


async def test_a_paused_schedule_pushes_nothing_and_on_resume_follows_its_catch_up_policy(
    autojump_clock: trio.testing.MockClock, tmp_path: Path,
) -> None:
    schedule = Schedule(name="hourly", cron=HOURLY, task=Tick())
    admin_of = lambda store: JobAdmin(store, TaskRegistry([Tick]), schedules=[schedule])  # noqa: E731
    async with sqlite_test_store(tmp_path / "jobs.db",
                                 clock=TrioClock(utc(2027, 1, 15, 8, 30))) as store:
        admin = admin_of(store)
        async with running(store, [schedule]):
            await trio.sleep(HOUR)  # 09:00 runs
            paused = await admin.pause_schedule("hourly")
            assert paused.paused
            assert paused.next_run_at is None
            await trio.sleep(5 * HOUR)  # 10:00 ... 14:00 are not pushed
            assert len(ticks_of()) == 1
            resumed = await admin.resume_schedule("hourly")  # at 14:30
            assert not resumed.paused
            assert resumed.next_run_at == utc(2027, 1, 15, 15)
            await trio.sleep(60)
            # catch_up="latest": the most recent tick missed while paused runs, at once.
            assert ticks_of()[1:] == [dt.datetime(2027, 1, 15, 14, tzinfo=dt.UTC)]
            summary = await admin.schedule("hourly")
            assert summary.last_tick == utc(2027, 1, 15, 14)
            assert summary.last_job_id is not None
            await trio.sleep(HOUR)  # and on it goes: 15:00
            assert [t.hour for t in ticks_of()] == [9, 14, 15]


async def test_a_renamed_or_removed_schedule_stops_and_is_shown_orphaned(
    autojump_clock: trio.testing.MockClock, tmp_path: Path,
) -> None:
    old = Schedule(name="report", cron=HOURLY, task=Tick(label="old"))
    new = Schedule(name="report-v2", cron=HOURLY, task=Tick(label="new"))
    async with sqlite_test_store(tmp_path / "jobs.db",
                                 clock=TrioClock(utc(2027, 1, 15, 8, 30))) as store:
        await run_for(2 * HOUR, store, [old])  # 09:00, 10:00
        await trio.sleep(HOUR)  # a deploy: the schedule is renamed
        await run_for(2 * HOUR, store, [new])  # first seen 11:30: starts at 12:00, not before
        assert [t.hour for t in ticks_of("old")] == [9, 10]
        assert [t.hour for t in ticks_of("new")] == [12, 13]
        listing = await JobAdmin(store, TaskRegistry([Tick]), schedules=[new]).schedules()
        by_name = {s.name: s for s in listing}
        assert by_name["report"].orphaned
        assert by_name["report"].next_run_at is None
        assert by_name["report"].last_tick == utc(2027, 1, 15, 10)
        assert not by_name["report-v2"].orphaned
        with pytest.raises(ScheduleNotFound):
            await JobAdmin(store, TaskRegistry([Tick]), schedules=[new]).pause_schedule("nope")


@pytest.mark.parametrize(("schedules", "message"), [
    ([Schedule(name="bad-cron", cron="61 * * * *", task=Tick())], "'bad-cron': cron"),
    ([Schedule(name="six", cron="0 0 * * * *", task=Tick())], "'six': cron"),
    ([Schedule(name="tz", cron=HOURLY, task=Tick(), timezone="Mars/Olympus")], "'tz': timezone"),
    ([Schedule(name="twice", cron=HOURLY, task=Tick()),
      Schedule(name="twice", cron="@daily", task=Tick())], "'twice': two schedules"),
    ([Schedule(name="policy", cron=HOURLY, task=Tick(), catch_up="some")],  # type: ignore[arg-type]
     "'policy': catch_up"),
    ([Schedule(name="never", cron="0 0 30 2 *", task=Tick())], "'never': cron"),
    ([Schedule(name="a/b", cron=HOURLY, task=Tick())], "'a/b': name"),
    ([Schedule(name="exp", cron=HOURLY, task=Tick(), expire_after=0)], "'exp': expire_after"),
    ([Schedule(name="exp2", cron=HOURLY, task=Tick(), expire_after="soon")],  # type: ignore[arg-type]
     "'exp2': expire_after"),
])
async def test_an_invalid_schedule_fails_at_worker_construction_naming_it(
    tmp_path: Path, schedules: list[Schedule], message: str,
) -> None:
    async with sqlite_test_store(tmp_path / "jobs.db") as store:
        with pytest.raises(InvalidSchedule, match=message):
            TaskWorker(store, [Tick], schedules=schedules)


async def test_a_schedule_of_an_unregistered_task_fails_at_worker_construction(
    tmp_path: Path,
) -> None:
    @attrs.frozen(kw_only=True)
    class Other(Task):
        options = TaskOptions(name="sched.other")

        async def run(self, ctx: JobContext) -> None:
            pass

    async with sqlite_test_store(tmp_path / "jobs.db") as store:
        with pytest.raises(InvalidSchedule, match=r"'x': its task 'sched\.other' is not regis"):
            TaskWorker(store, [Tick], schedules=[Schedule(name="x", cron=HOURLY, task=Other())])


def test_nicknames_are_standard_expressions() -> None:
    assert Schedule(name="h", cron="@hourly", task=Tick()).ticks().next_after(
        utc(2027, 1, 1, 0, 30)) == utc(2027, 1, 1, 1)
    assert Schedule(name="d", cron="@daily", task=Tick()).ticks().next_after(
        utc(2027, 1, 1, 0, 30)) == utc(2027, 1, 2)



async def test_a_frequent_schedules_tick_expires_when_it_cannot_start_within_its_interval(
    autojump_clock: trio.testing.MockClock, tmp_path: Path,
) -> None:
    start = utc(2027, 1, 15, 8, 0, 30)
    every_5 = Schedule(name="every-5", cron="*/5 * * * *", task=Tick(label="5"))
    hourly = Schedule(name="hourly", cron=HOURLY, task=Tick(label="h"))
    kept = Schedule(name="kept", cron="*/5 * * * *", task=Tick(label="k"), expire_after=None)
    minute = Schedule(name="minute", cron="*/5 * * * *", task=Tick(label="m"), expire_after=60)
    async with sqlite_test_store(tmp_path / "jobs.db", clock=TrioClock(start)) as store:
        await store.queue_set_paused("sched.tick", True)  # nothing starts: ticks pile up
        await run_for(HOUR, store, [every_5, hourly, kept, minute])  # until 09:00:30
        jobs = await store.job_list(JobFilter(limit=100))
    assert RUNS == []
    by_label: dict[str, list[Any]] = {}
    for job in jobs:
        by_label.setdefault(json.loads(job.args)["label"], []).append(job)
    # */5 pushed 08:05 ... 09:00: each expired 5 minutes after its push, but the last one.
    fives = sorted(by_label["5"], key=lambda j: j.run_at)
    assert len(fives) == 12
    assert [j.state for j in fives[:-1]] == [JobState.DISCARDED] * 11
    assert all(j.errors[-1].kind == "expired" for j in fives[:-1])
    assert all(j.expires_at == j.created_at + 300 for j in fives)
    assert fives[-1].state == JobState.AVAILABLE
    [hour_job] = by_label["h"]  # 09:00: hourly ticks do not expire by default
    assert hour_job.expires_at is None
    assert {j.state for j in by_label["k"]} == {JobState.AVAILABLE}, "expire_after=None keeps"
    assert all(j.expires_at == j.created_at + 60 for j in by_label["m"])
    assert sum(j.state == JobState.DISCARDED for j in by_label["m"]) == 11
