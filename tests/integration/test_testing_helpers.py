"""The helpers task authors use in their own tests (service.jobs.testing), used as they would."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest
import trio
from trio.testing import MockClock

from service.jobs import Backoff, JobContext, JobState, Snooze, Task, TaskOptions
from service.jobs.testing import (
    assert_not_pushed,
    assert_pushed,
    drain,
    pushed,
    run_task,
    sqlite_test_store,
)

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

        assert result.completed == 2 and result.discarded == 0
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
    assert result.outcome == "completed" and result.value == "sent to c@example.com"
    failed = await run_task(SendReminder(email="c@example.com"), attempt=1)
    assert failed.outcome == "failed" and isinstance(failed.error, ConnectionError)
