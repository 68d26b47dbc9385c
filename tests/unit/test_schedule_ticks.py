"""The tick maths of schedules, as pure functions: DST rules, catch-up policies, long spans."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.jobs import InvalidSchedule, JobContext, Schedule, Task, TaskOptions
from service.jobs._schedule import ON_TIME_S, CronTicks, due_ticks

PARIS = ZoneInfo("Europe/Paris")
UTC = dt.UTC


@attrs.frozen(kw_only=True)
class Noop(Task):
    options = TaskOptions(name="ticks.noop")

    async def run(self, ctx: JobContext) -> None:
        pass


def at(*args: int, tz: dt.tzinfo = UTC) -> float:
    return dt.datetime(*args, tzinfo=tz).timestamp()  # type: ignore[misc]


def paris(ticks: list[float]) -> list[str]:
    return [dt.datetime.fromtimestamp(t, PARIS).isoformat() for t in ticks]


def test_fixed_hour_in_the_skipped_hour_runs_right_after_the_change() -> None:
    ticks = CronTicks("30 2 * * *", "Europe/Paris")
    found = ticks.between(at(2026, 3, 27, 12), at(2026, 3, 30, 12), 10)
    assert paris(found) == ["2026-03-28T02:30:00+01:00", "2026-03-29T03:00:00+02:00",
                            "2026-03-30T02:30:00+02:00"]


def test_fixed_hour_in_the_repeated_hour_runs_once_at_its_first_occurrence() -> None:
    ticks = CronTicks("30 2 * * *", "Europe/Paris")
    found = ticks.between(at(2026, 10, 23, 12), at(2026, 10, 26, 12), 10)
    assert paris(found) == ["2026-10-24T02:30:00+02:00", "2026-10-25T02:30:00+02:00",
                            "2026-10-26T02:30:00+01:00"]


def test_started_inside_the_repeated_hour_the_past_first_occurrence_is_not_handed_back() -> None:
    # 02:00+01:00 is the second pass through 02:00; 02:30+02:00 (an hour ago) is already past.
    ticks = CronTicks("30 2 * * *", "Europe/Paris")
    after = at(2026, 10, 25, 1, 0)
    assert paris([ticks.next_after(after) or 0]) == ["2026-10-26T02:30:00+01:00"]


def test_wildcard_hour_follows_real_time() -> None:
    ticks = CronTicks("0 * * * *", "Europe/Paris")
    autumn = ticks.between(at(2026, 10, 24, 23, 30), at(2026, 10, 25, 2, 30), 10)
    assert paris(autumn) == ["2026-10-25T02:00:00+02:00", "2026-10-25T02:00:00+01:00",
                             "2026-10-25T03:00:00+01:00"]
    spring = ticks.between(at(2026, 3, 29, 0, 30), at(2026, 3, 29, 2, 30), 10)
    assert paris(spring) == ["2026-03-29T03:00:00+02:00", "2026-03-29T04:00:00+02:00"]


@settings(deadline=None)  # cronsim's first step can take a while on a loaded machine
@given(st.floats(min_value=at(2026, 1, 1), max_value=at(2027, 1, 1)),
       st.sampled_from(["30 2 * * *", "0 * * * *", "*/5 * * * *", "0 3 * * 0", "15 1-3 * * *"]))
def test_the_next_tick_is_always_strictly_later_and_nothing_lies_between(
    after: float, cron: str,
) -> None:
    ticks = CronTicks(cron, "Europe/Paris")
    following = ticks.next_after(after)
    assert following is not None
    assert following > after
    assert ticks.between(after, following - 1, 5) == []
    assert ticks.between(after, following, 5) == [following]


def test_a_long_span_keeps_the_most_recent_ticks_without_walking_it() -> None:
    ticks = CronTicks("* * * * *", "UTC")
    found = ticks.between(at(2020, 1, 1), at(2026, 1, 1, 12), 3)
    assert found == [at(2026, 1, 1, 11, 58), at(2026, 1, 1, 11, 59), at(2026, 1, 1, 12)]


@pytest.mark.parametrize(("catch_up", "expected"), [
    ("latest", [at(2027, 1, 18, 10)]),
    ("all", [at(2027, 1, 18, h) for h in (8, 9, 10)]),
    ("none", []),
])
def test_catch_up_policies_after_downtime(catch_up: str, expected: list[float]) -> None:
    schedule = Schedule(name="s", cron="0 * * * *", task=Noop(), catch_up=catch_up,  # type: ignore[arg-type]
                        max_catch_up=3)
    due = due_ticks(schedule, schedule.ticks(), at(2027, 1, 15, 10), at(2027, 1, 18, 10, 30))
    assert due.push == expected
    assert due.latest == at(2027, 1, 18, 10)  # skipped ticks are recorded as handled
    assert due.upcoming == at(2027, 1, 18, 11)


def test_with_catch_up_none_a_tick_found_on_time_still_runs() -> None:
    schedule = Schedule(name="s", cron="0 * * * *", task=Noop(), catch_up="none")
    tick = at(2027, 1, 15, 10)
    assert due_ticks(schedule, schedule.ticks(), tick - 3600, tick + ON_TIME_S).push == [tick]
    assert due_ticks(schedule, schedule.ticks(), tick - 3600, tick + ON_TIME_S + 1).push == []


def test_nothing_is_due_before_the_first_tick() -> None:
    schedule = Schedule(name="s", cron="0 * * * *", task=Noop())
    due = due_ticks(schedule, schedule.ticks(), at(2027, 1, 15, 10, 5), at(2027, 1, 15, 10, 30))
    assert due.push == []
    assert due.latest is None
    assert due.upcoming == at(2027, 1, 15, 11)


@pytest.mark.parametrize(("cron", "timezone", "message"), [
    ("0 25 * * *", "UTC", "cron '0 25 \\* \\* \\*' is invalid"),
    ("@reboot", "UTC", "cron '@reboot' is not a 5-field expression"),
    ("0 0 * * *", "Not/AZone", "timezone 'Not/AZone'"),
    ("0 0 * * *", "", "timezone ''"),
])
def test_invalid_expressions_and_zones_name_the_schedule(
    cron: str, timezone: str, message: str,
) -> None:
    with pytest.raises(InvalidSchedule, match=f"schedule 'nightly': {message}"):
        CronTicks(cron, timezone, name="nightly")
