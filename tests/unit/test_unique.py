"""What a push does with the job holding its unique key: a pure decision, every case."""

from __future__ import annotations

import pytest

from service.jobs._states import FINISHED, JobState
from service.jobs._store import JobInsert
from service.jobs._unique import Holder, Settle, settle

NOW = 1_800_000_000.0
S = JobState


def push(*, unique_for: float | None = None, replace: bool = False) -> JobInsert:
    return JobInsert(task="t", args="{}", state=S.AVAILABLE, priority=0, max_attempts=1,
                     run_at=NOW, created_at=NOW, unique_key="k", unique_for=unique_for,
                     replace=replace)


def holder(state: JobState, *, age: float = 10.0, started: bool = False) -> Holder:
    return Holder(id=1, state=state, created_at=NOW - age,
                  attempted_at=NOW - 1 if started else None)


@pytest.mark.parametrize("state", sorted(FINISHED))
def test_a_finished_holder_is_released_unless_inside_the_pushs_window(state: JobState) -> None:
    assert settle(push(), holder(state)) is Settle.RELEASE
    assert settle(push(unique_for=11), holder(state, age=10)) is Settle.KEEP
    assert settle(push(unique_for=10), holder(state, age=10)) is Settle.RELEASE
    assert settle(push(unique_for=11, replace=True), holder(state, age=10)) is Settle.KEEP


@pytest.mark.parametrize("state", [S.SCHEDULED, S.AVAILABLE, S.RUNNING, S.RETRYABLE])
def test_an_unfinished_holder_is_kept_however_old(state: JobState) -> None:
    assert settle(push(unique_for=1), holder(state, age=10_000)) is Settle.KEEP


@pytest.mark.parametrize("state", [S.SCHEDULED, S.AVAILABLE])
def test_replace_rewrites_only_a_holder_that_never_started(state: JobState) -> None:
    assert settle(push(replace=True), holder(state)) is Settle.REPLACE
    assert settle(push(replace=True), holder(state, started=True)) is Settle.KEEP
    assert settle(push(), holder(state)) is Settle.KEEP


@pytest.mark.parametrize("state", [S.RUNNING, S.RETRYABLE])
def test_replace_keeps_a_holder_that_is_running_or_failed_an_attempt(state: JobState) -> None:
    assert settle(push(replace=True), holder(state, started=True)) is Settle.KEEP
