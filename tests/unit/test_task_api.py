"""What a task author touches: TaskOptions, TaskRegistry, push rows, and ``run_task``."""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

import attrs
import pytest
import trio
import trio.testing

from service.jobs import _outcomes as outcomes
from service.jobs._errors import Cancel, PayloadError, ServiceError, Snooze, UnknownTask
from service.jobs._push import Push, build_insert
from service.jobs._retry import Backoff
from service.jobs._states import JobState
from service.jobs._store import ClaimedJob
from service.jobs._task import JobContext, Task, TaskOptions, TaskRegistry, task_options
from service.jobs.testing import run_task

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z


@attrs.frozen(kw_only=True)
class Greet(Task):
    options = TaskOptions(name="greet")

    who: str

    async def run(self, ctx: JobContext) -> Any:
        return {"greeting": f"hello {self.who}"}


@attrs.frozen(kw_only=True)
class Urgent(Task):
    options = TaskOptions(name="urgent", priority=-5, max_attempts=3)

    n: int = 0


@attrs.frozen(kw_only=True)
class OtherGreet(Task):
    options = TaskOptions(name="greet")

    who: str


# -- TaskOptions -----------------------------------------------------------------------------


def test_task_options_defaults() -> None:
    options = TaskOptions(name="x")
    assert options.concurrency == 10
    assert options.max_attempts == 20
    assert options.timeout is None
    assert options.priority == 0
    assert options.backoff == Backoff()


@pytest.mark.parametrize(
    "name", ["a", "send_welcome_email", "a.b:c-d_9", "x" * 100], ids=lambda n: n[:20]
)
def test_valid_task_name_is_accepted(name: str) -> None:
    assert TaskOptions(name=name).name == name


@pytest.mark.parametrize(
    "name",
    ["", "Greet", "1greet", "_greet", "-greet", "has space", "é", "a/b", "x" * 101, " greet"],
    ids=[
        "empty",
        "upper",
        "digit",
        "underscore",
        "dash",
        "space",
        "accent",
        "slash",
        "101",
        "lead",
    ],
)
def test_invalid_task_name_is_rejected(name: str) -> None:
    with pytest.raises(ValueError, match="task name"):
        TaskOptions(name=name)


def test_task_name_with_a_trailing_newline_is_rejected() -> None:
    with pytest.raises(ValueError, match="task name"):
        TaskOptions(name="greet\n")


@pytest.mark.parametrize("option", ["concurrency", "max_attempts"])
@pytest.mark.parametrize("value", [0, -1, 1.5, True, "2"], ids=["0", "-1", "1.5", "True", "str"])
def test_count_option_below_one_or_not_an_integer_is_rejected(option: str, value: Any) -> None:
    with pytest.raises(ValueError, match=f"{option} must be an integer >= 1"):
        TaskOptions(name="x", **{option: value})


@pytest.mark.parametrize("value", [0, -1, -0.5, math.nan], ids=["0", "-1", "neg", "nan"])
def test_timeout_that_is_not_positive_is_rejected(value: float) -> None:
    with pytest.raises(ValueError, match="timeout must be > 0"):
        TaskOptions(name="x", timeout=value)


@pytest.mark.parametrize("value", [None, 0.001, 30, math.inf])
def test_positive_timeout_or_none_is_accepted(value: float | None) -> None:
    assert TaskOptions(name="x", timeout=value).timeout == value


def test_task_options_are_frozen() -> None:
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        TaskOptions(name="x").name = "y"  # type: ignore[misc]


def test_task_options_are_read_from_the_class_or_an_instance() -> None:
    assert task_options(Greet) is Greet.options
    assert task_options(Greet(who="a")) is Greet.options


def test_task_without_options_is_a_type_error() -> None:
    @attrs.frozen(kw_only=True)
    class Bare(Task):
        pass

    with pytest.raises(TypeError, match="no TaskOptions"):
        task_options(Bare)


# -- TaskRegistry ----------------------------------------------------------------------------


def test_registry_registers_and_finds_a_task_by_name() -> None:
    registry = TaskRegistry()
    assert registry.register(Greet) is Greet
    assert registry.get("greet") is Greet
    assert "greet" in registry
    assert "urgent" not in registry
    assert len(registry) == 1


def test_registry_built_from_classes_lists_them() -> None:
    registry = TaskRegistry([Urgent, Greet])
    assert registry.names() == ["greet", "urgent"]
    assert set(registry) == {Greet, Urgent}


def test_registering_the_same_class_twice_is_harmless() -> None:
    registry = TaskRegistry([Greet])
    registry.register(Greet)
    assert len(registry) == 1


def test_second_class_under_a_taken_name_is_rejected() -> None:
    registry = TaskRegistry([Greet])
    with pytest.raises(ValueError, match="'greet' is used by Greet already"):
        registry.register(OtherGreet)
    assert registry.get("greet") is Greet


def test_unknown_task_name_raises_unknown_task() -> None:
    registry = TaskRegistry([Greet])
    with pytest.raises(UnknownTask) as info:
        registry.get("nope")
    assert isinstance(info.value, LookupError)
    assert isinstance(info.value, ServiceError)
    assert info.value.name == "nope"
    assert "nope" in str(info.value)


def test_task_class_that_is_not_attrs_is_rejected() -> None:
    class Plain(Task):
        options = TaskOptions(name="plain")

    with pytest.raises(TypeError, match="not an attrs class deriving from Task"):
        TaskRegistry().register(Plain)


def test_undecorated_subclass_of_an_attrs_task_is_rejected() -> None:
    class Sub(Greet):
        options = TaskOptions(name="sub")

    with pytest.raises(TypeError, match="not an attrs class deriving from Task"):
        TaskRegistry().register(Sub)


def test_attrs_class_not_deriving_from_task_is_rejected() -> None:
    @attrs.frozen(kw_only=True)
    class NotATask:
        options = TaskOptions(name="not_a_task")

    with pytest.raises(TypeError, match="not an attrs class deriving from Task"):
        TaskRegistry().register(NotATask)  # type: ignore[arg-type]


def test_task_class_without_options_is_not_registered() -> None:
    @attrs.frozen(kw_only=True)
    class Bare(Task):
        pass

    registry = TaskRegistry()
    with pytest.raises(TypeError, match="no TaskOptions"):
        registry.register(Bare)
    assert len(registry) == 0


# -- build_insert ----------------------------------------------------------------------------


def test_push_without_delay_is_available_now() -> None:
    row = build_insert(Push(task=Greet(who="ada")), NOW)
    assert row.task == "greet"
    assert json.loads(row.args) == {"who": "ada"}
    assert row.state is JobState.AVAILABLE
    assert row.run_at == NOW
    assert row.created_at == NOW
    assert row.unique_key is None


@pytest.mark.parametrize("delay", [0.5, 30, 86_400.0])
def test_push_with_delay_is_scheduled_at_now_plus_delay(delay: float) -> None:
    row = build_insert(Push(task=Greet(who="ada"), delay=delay), NOW)
    assert row.state is JobState.SCHEDULED
    assert row.run_at == NOW + delay
    assert row.created_at == NOW


@pytest.mark.parametrize("delay", [0, 0.0])
def test_push_with_zero_delay_is_available_now(delay: float) -> None:
    row = build_insert(Push(task=Greet(who="ada"), delay=delay), NOW)
    assert row.state is JobState.AVAILABLE
    assert row.run_at == NOW


def test_push_with_future_run_at_datetime_is_scheduled_then() -> None:
    when = dt.datetime.fromtimestamp(NOW + 90, tz=dt.UTC)
    row = build_insert(Push(task=Greet(who="ada"), run_at=when), NOW)
    assert row.state is JobState.SCHEDULED
    assert row.run_at == NOW + 90


def test_push_with_run_at_in_another_offset_means_the_same_instant() -> None:
    plus_two = dt.timezone(dt.timedelta(hours=2))
    when = dt.datetime.fromtimestamp(NOW + 60, tz=plus_two)
    assert build_insert(Push(task=Greet(who="ada"), run_at=when), NOW).run_at == NOW + 60


def test_push_with_naive_run_at_takes_it_as_utc() -> None:
    when = dt.datetime(2027, 1, 15, 8, 1, 0)
    row = build_insert(Push(task=Greet(who="ada"), run_at=when), NOW)
    assert row.run_at == NOW + 60
    assert row.state is JobState.SCHEDULED


def test_push_with_future_run_at_seconds_is_scheduled_then() -> None:
    row = build_insert(Push(task=Greet(who="ada"), run_at=NOW + 5), NOW)
    assert row.state is JobState.SCHEDULED
    assert row.run_at == NOW + 5


@pytest.mark.parametrize("offset", [0, -1, -3600], ids=["now", "1s-ago", "1h-ago"])
def test_push_with_run_at_now_or_past_is_available(offset: float) -> None:
    row = build_insert(Push(task=Greet(who="ada"), run_at=NOW + offset), NOW)
    assert row.state is JobState.AVAILABLE
    assert row.run_at == NOW + offset


def test_delay_and_run_at_together_are_rejected() -> None:
    with pytest.raises(ValueError, match="delay or run_at, not both"):
        build_insert(Push(task=Greet(who="ada"), delay=5, run_at=NOW + 5), NOW)


@pytest.mark.parametrize(
    "delay", [-1, -0.001, math.nan, math.inf, -math.inf], ids=["-1", "neg", "nan", "inf", "-inf"]
)
def test_negative_or_non_finite_delay_is_rejected(delay: float) -> None:
    with pytest.raises(ValueError, match="delay must be"):
        build_insert(Push(task=Greet(who="ada"), delay=delay), NOW)


@pytest.mark.parametrize("run_at", [math.nan, math.inf, -math.inf], ids=["nan", "inf", "-inf"])
def test_non_finite_run_at_is_rejected(run_at: float) -> None:
    with pytest.raises(ValueError, match="run_at must be finite"):
        build_insert(Push(task=Greet(who="ada"), run_at=run_at), NOW)


def test_priority_and_max_attempts_default_to_the_task_options() -> None:
    assert (build_insert(Push(task=Greet(who="a")), NOW).priority) == 0
    assert build_insert(Push(task=Greet(who="a")), NOW).max_attempts == 20
    row = build_insert(Push(task=Urgent()), NOW)
    assert (row.priority, row.max_attempts) == (-5, 3)


def test_priority_and_max_attempts_overrides_apply() -> None:
    row = build_insert(Push(task=Urgent(), priority=7, max_attempts=9), NOW)
    assert (row.priority, row.max_attempts) == (7, 9)


def test_override_of_zero_priority_is_not_mistaken_for_the_default() -> None:
    assert build_insert(Push(task=Urgent(), priority=0), NOW).priority == 0


@pytest.mark.parametrize(
    "priority",
    [1.5, True, "1", 2**31 + 1, -(2**31) - 1],
    ids=["float", "bool", "str", "big", "-big"],
)
def test_bad_priority_is_rejected_naming_the_option(priority: Any) -> None:
    with pytest.raises(ValueError, match="priority must be an integer"):
        build_insert(Push(task=Greet(who="a"), priority=priority), NOW)


@pytest.mark.parametrize(
    "max_attempts", [0, -1, 1.5, True, "3", 10_001], ids=["0", "-1", "float", "bool", "str", "big"]
)
def test_bad_max_attempts_is_rejected_naming_the_option(max_attempts: Any) -> None:
    with pytest.raises(ValueError, match="max_attempts must be"):
        build_insert(Push(task=Greet(who="a"), max_attempts=max_attempts), NOW)


@pytest.mark.parametrize("max_attempts", [1, 10_000])
def test_max_attempts_bounds_are_accepted(max_attempts: int) -> None:
    row = build_insert(Push(task=Greet(who="a"), max_attempts=max_attempts), NOW)
    assert row.max_attempts == max_attempts


@pytest.mark.parametrize("key", ["", "k" * 256, 5, b"key"], ids=["empty", "256", "int", "bytes"])
def test_bad_unique_key_is_rejected_naming_the_option(key: Any) -> None:
    with pytest.raises(ValueError, match="unique_key must be"):
        build_insert(Push(task=Greet(who="a"), unique_key=key), NOW)


@pytest.mark.parametrize("key", ["k", "k" * 255, "user:42/welcome"])
def test_unique_key_is_kept_on_the_row(key: str) -> None:
    assert build_insert(Push(task=Greet(who="a"), unique_key=key), NOW).unique_key == key


def test_push_of_a_task_whose_fields_cannot_be_stored_is_a_payload_error() -> None:
    @attrs.frozen(kw_only=True)
    class Measure(Task):
        options = TaskOptions(name="measure")

        value: float

    with pytest.raises(PayloadError, match="'measure'"):
        build_insert(Push(task=Measure(value=math.nan)), NOW)


# -- run_task --------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Outcome(Task):
    options = TaskOptions(name="outcome", max_attempts=4)

    kind: str

    async def run(self, ctx: JobContext) -> Any:
        if self.kind == "fail":
            raise RuntimeError("boom")
        if self.kind == "snooze":
            raise Snooze(5)
        if self.kind == "cancel":
            raise Cancel("no longer wanted")
        if self.kind == "unstorable":
            return object()
        if self.kind == "nan":
            return math.nan
        if self.kind == "none":
            return None
        return {"job_id": ctx.job_id, "attempt": ctx.attempt, "task": ctx.task, "state": ctx.state}


@attrs.frozen(kw_only=True)
class Slow(Task):
    options = TaskOptions(name="slow", timeout=10)

    seconds: float

    async def run(self, ctx: JobContext) -> str:
        await trio.sleep(self.seconds)
        return "done"


async def test_run_task_completes_with_the_returned_value() -> None:
    result = await run_task(Greet(who="ada"))
    assert result.outcome == "completed"
    assert result.value == {"greeting": "hello ada"}
    assert result.error is None


async def test_run_task_completes_with_none_when_nothing_is_returned() -> None:
    result = await run_task(Outcome(kind="none"))
    assert result.outcome == "completed"
    assert result.value is None


async def test_run_task_passes_the_job_context() -> None:
    result = await run_task(Outcome(kind="ok"), state="app", job_id=7, attempt=2)
    assert result.value == {"job_id": 7, "attempt": 2, "task": "outcome", "state": "app"}


@attrs.frozen
class Greeter:
    greeting: str


@attrs.frozen(kw_only=True)
class GreetWithState(Task):
    options = TaskOptions(name="greet_with_state")

    who: str

    async def run(self, ctx: JobContext[Greeter]) -> str:
        return f"{ctx.state.greeting} {self.who}"  # a Greeter to mypy, no cast


async def test_job_context_is_generic_in_the_state_it_carries() -> None:
    ctx = JobContext[Greeter](job_id=1, task="t", attempt=1, max_attempts=1, state=Greeter("hi"))
    assert ctx.state == Greeter("hi")
    assert JobContext(job_id=1, task="t", attempt=1, max_attempts=1).state is None
    result = await run_task(GreetWithState(who="ada"), state=Greeter("hello"))
    assert result.value == "hello ada"


@pytest.mark.parametrize(
    ("attempt", "max_attempts", "last"), [(1, 5, False), (4, 5, False), (5, 5, True),
                                          (1, 1, True), (6, 5, True)])
def test_the_last_attempt_is_the_one_whose_failure_discards_the_job(
    attempt: int, max_attempts: int, last: bool
) -> None:
    ctx = JobContext(job_id=1, task="t", attempt=attempt, max_attempts=max_attempts)
    assert ctx.last_attempt is last
    row = ClaimedJob(id=1, task="t", args="{}", priority=0, attempt=attempt,
                     max_attempts=max_attempts, run_at=0.0)
    failed = outcomes.failed(row, "owner", 0.0, Backoff(), RuntimeError("x"))
    assert (failed.state is JobState.DISCARDED) is last  # the worker's own rule


async def test_run_task_reports_a_raised_exception_as_failed() -> None:
    result = await run_task(Outcome(kind="fail"))
    assert result.outcome == "failed"
    assert isinstance(result.error, RuntimeError)
    assert str(result.error) == "boom"


async def test_run_task_reports_snooze_with_its_seconds() -> None:
    result = await run_task(Outcome(kind="snooze"))
    assert result.outcome == "snoozed"
    assert result.snooze_seconds == 5
    assert isinstance(result.error, Snooze)


async def test_run_task_reports_cancel_with_its_reason() -> None:
    result = await run_task(Outcome(kind="cancel"))
    assert result.outcome == "cancelled"
    assert isinstance(result.error, Cancel)
    assert result.error.reason == "no longer wanted"


async def test_run_task_times_out_at_the_task_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    start = trio.current_time()
    result = await run_task(Slow(seconds=60))
    assert result.outcome == "timed_out"
    assert result.value is None
    assert trio.current_time() - start == pytest.approx(10)


async def test_run_task_reports_a_timeout_as_the_worker_records_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    result = await run_task(Slow(seconds=60))
    assert isinstance(result.error, TimeoutError)
    assert str(result.error) == "timed out after 10 s"  # tests/test_worker_outcomes.py: the same


async def test_run_task_within_the_timeout_completes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    result = await run_task(Slow(seconds=9))
    assert result.outcome == "completed"
    assert result.value == "done"


async def test_run_task_does_not_swallow_an_outer_cancellation(
    autojump_clock: trio.testing.MockClock,
) -> None:
    outcome = "not cancelled"
    with trio.move_on_after(3) as outer:
        outcome = (await run_task(Slow(seconds=60))).outcome
    assert outer.cancelled_caught
    assert outcome == "not cancelled"


@pytest.mark.parametrize("kind", ["unstorable", "nan"])
async def test_run_task_result_that_cannot_be_stored_is_a_payload_error(kind: str) -> None:
    with pytest.raises(PayloadError, match="'outcome'"):
        await run_task(Outcome(kind=kind))


async def test_run_task_task_whose_fields_cannot_be_stored_is_a_payload_error() -> None:
    @attrs.frozen(kw_only=True)
    class Measure(Task):
        options = TaskOptions(name="measure")

        value: float

        async def run(self, ctx: JobContext) -> None:
            raise AssertionError("must not run")

    with pytest.raises(PayloadError, match="'measure'"):
        await run_task(Measure(value=math.inf))
