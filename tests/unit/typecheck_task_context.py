"""Checked by mypy --strict in tests/unit/test_task_typing.py, never run: what
``JobContext[StateT]`` tells a type checker about ``ctx.state``. Each ``type: ignore`` marks
an error mypy must report (strict mode flags an ignore that is not needed)."""

from __future__ import annotations

from typing import Any, assert_type

import attrs

from service.jobs import JobContext, Task, TaskOptions
from service.jobs.testing import run_task
from service.state import AppState


@attrs.frozen(kw_only=True)
class UsesAppState(Task):
    options = TaskOptions(name="uses_app_state")

    async def run(self, ctx: JobContext[AppState]) -> str:
        assert_type(ctx.state, AppState)
        _ = ctx.state.no_such_attribute  # type: ignore[attr-defined]
        mail_from: int = ctx.state.settings.mail_from  # type: ignore[assignment]
        return ctx.state.settings.mail_from + str(mail_from)


@attrs.frozen(kw_only=True)
class UsesNoState(Task):
    options = TaskOptions(name="uses_no_state")

    async def run(self, ctx: JobContext) -> None:
        assert_type(ctx, JobContext[Any])
        assert_type(ctx.state, Any)


def make_context(state: AppState) -> JobContext[AppState]:
    return JobContext(job_id=1, task="t", attempt=1, max_attempts=1, state=state)


def wrong_context() -> JobContext[AppState]:
    return JobContext(
        job_id=1, task="t", attempt=1, max_attempts=1,
        state="not the app state",  # type: ignore[arg-type]
    )


async def run_one(state: AppState) -> None:
    await run_task(UsesAppState(), state=state)
