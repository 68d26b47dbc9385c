"""The dashboard's query and form values: the job filter (state, task) and positive integers.

Bad values answer 400 with a page naming the parameter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...jobs import FAILED, JobFilter, JobState
from ..plumbing.errors import ApiError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .job_html import StateChoice

TASK_MAX = 100


def positive_int(values: Mapping[str, str], name: str, default: int | None) -> int | None:
    """``values[name]`` as a positive integer; ``default`` when absent or empty."""
    raw = values.get(name, "")
    if raw == "":
        return default
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18 or int(raw) < 1:
        raise ApiError(400, "bad_request", f"{name}: expected a positive integer, got {raw!r}")
    return int(raw)


def state_choice(values: Mapping[str, str]) -> StateChoice:
    """The ``state`` filter: a job state, ``failed`` (retryable or discarded), or None (any)."""
    raw = values.get("state", "")
    if raw == "":
        return None
    if raw == "failed":
        return "failed"
    try:
        return JobState(raw)
    except ValueError:
        known = ", ".join([*(s.value for s in JobState), "failed"])
        raise ApiError(400, "bad_request", f"state: expected one of {known}, got {raw!r}") from None


def task_arg(values: Mapping[str, str]) -> str | None:
    """The ``task`` filter (None: any task)."""
    task = values.get("task") or None
    if task is not None and len(task) > TASK_MAX:
        raise ApiError(400, "bad_request", f"task: at most {TASK_MAX} characters")
    return task


def job_filter(
    choice: StateChoice, task: str | None, *, limit: int = 100, before_id: int | None = None
) -> JobFilter:
    """The engine's filter for the dashboard's ``choice`` of state and ``task``."""
    if choice == "failed":
        return JobFilter(states=FAILED, task=task, limit=limit, before_id=before_id)
    return JobFilter(state=choice, task=task, limit=limit, before_id=before_id)
