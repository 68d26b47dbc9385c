"""Task types and helpers shared by the backend conformance suite.

Everything here goes through the ``JobStore`` protocol, never a backend's own SQL, so the suite
runs unchanged against every backend the ``backend`` fixture yields.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import attrs

from service.jobs import (
    AttemptError,
    ErrorKind,
    JobFilter,
    JobRow,
    JobState,
    JobStore,
    Push,
    Task,
    TaskOptions,
    Workflow,
)
from service.jobs._store import ClaimedJob, SetStateIfRunning
from service.jobs._task import task_options

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

#: Seconds a claim's lease lasts in these tests.
LEASE = 30.0
#: The lease of the job a pending job made by :func:`make_job` waits on: ten years.
BLOCKER_LEASE = 10 * 365 * 86_400.0


@attrs.frozen(kw_only=True)
class Email(Task):
    options = TaskOptions(name="conf.email")

    to: str
    subject: str = "hello"


@attrs.frozen(kw_only=True)
class Report(Task):
    options = TaskOptions(name="conf.report", priority=5, max_attempts=3)

    month: int


@attrs.frozen(kw_only=True)
class Resize(Task):
    """A task with a single attempt."""

    options = TaskOptions(name="conf.resize", max_attempts=1)

    image: str
    width: int = 100


EMAIL = task_options(Email).name
REPORT = task_options(Report).name
RESIZE = task_options(Resize).name


def args_of(row: JobRow) -> Any:
    """The stored payload, parsed (backends may normalise JSON whitespace)."""
    return json.loads(row.args)


async def claim(
    backend: JobStore,
    task: str = EMAIL,
    *,
    owner: str = "w1",
    limit: int = 1,
    now: float | None = None,
    lease: float = LEASE,
) -> list[ClaimedJob]:
    at = backend.clock.now() if now is None else now
    return await backend.job_claim(task, owner, limit, at, at + lease)


async def claim_id(
    backend: JobStore, job_id: int, *, owner: str = "w1", now: float | None = None
) -> ClaimedJob:
    """Claim ``job_id``, which must be the first available job of its task."""
    task = (await backend.job_get(job_id)).task
    [row] = await claim(backend, task, owner=owner, now=now)
    assert row.id == job_id, f"expected to claim job {job_id}, claimed {row.id}"
    return row


async def settle(
    backend: JobStore,
    job_id: int,
    state: JobState,
    *,
    owner: str = "w1",
    attempt: int | None = None,
    run_at: float | None = None,
    finished_at: float | None = None,
    refund_attempt: bool = False,
    error: AttemptError | None = None,
    result: str | None = None,
) -> bool:
    """Record the outcome of one attempt; whether the compare-and-set matched.

    ``attempt`` defaults to the job's current attempt (the one a claim would have handed out).
    """
    if attempt is None:
        attempt = (await backend.job_get(job_id)).attempt
    [matched] = await backend.job_set_state_if_running_many(
        [
            SetStateIfRunning(
                id=job_id,
                owner=owner,
                attempt=attempt,
                state=state,
                run_at=run_at,
                finished_at=finished_at,
                refund_attempt=refund_attempt,
                error=error,
                result=result,
            )
        ]
    )
    return matched


def failure(message: str, attempt: int = 1, at: float | None = None) -> AttemptError:
    return AttemptError(attempt=attempt, at=at, kind=ErrorKind.ERROR, error="ValueError",
                        detail=message)


async def make_job(
    backend: JobStore,
    state: JobState,
    task: Task | None = None,
    *,
    owner: str = "w1",
    **push: Any,
) -> int:
    """Push ``task`` and drive it into ``state`` through the protocol; its id.

    A state past ``available`` needs a claim: the job must then be the first available job of
    its task.
    """
    task = Email(to="someone@example.com") if task is None else task
    now = backend.clock.now()
    if state == JobState.SCHEDULED:
        return await backend.push(task, delay=3600, **push)
    if state == JobState.PENDING:
        # A workflow member waiting on a running job of another task whose lease outlasts any
        # test (so no claim, promotion, rescue or discard of other states touches either).
        blocker = await backend.push(Report(month=12))
        [held] = await claim(backend, REPORT, owner="blocker", now=now, lease=BLOCKER_LEASE)
        assert held.id == blocker
        workflow = Workflow(f"made-pending-{blocker}")
        workflow.add(Push(task=task, **push), after=[blocker])
        [job_id] = await backend.push_workflow(workflow)
        return job_id
    job_id = await backend.push(task, **push)
    if state == JobState.AVAILABLE:
        return job_id
    if state == JobState.CANCELLED:
        await backend.job_cancel(job_id, now, "made for a test")
        return job_id
    await claim_id(backend, job_id, owner=owner, now=now)
    if state == JobState.RUNNING:
        return job_id
    outcome = {
        JobState.COMPLETED: {"finished_at": now, "result": '"done"'},
        JobState.RETRYABLE: {"run_at": now + 3600, "error": failure("try again")},
        JobState.DISCARDED: {"finished_at": now, "error": failure("give up")},
    }[state]
    assert await settle(backend, job_id, state, owner=owner, **outcome)
    return job_id


def _email(n: int) -> Task:
    return Email(to=f"user{n}@example.com")


async def jobs_in_states(
    backend: JobStore, states: Iterable[JobState], task: Callable[[int], Task] = _email
) -> dict[JobState, int]:
    """One job of ``task(n)`` in each of ``states``; the available one is made last, as the
    others need claims."""
    ordered = sorted(states, key=lambda s: s == JobState.AVAILABLE)
    return {state: await make_job(backend, state, task(n)) for n, state in enumerate(ordered)}


async def all_jobs(backend: JobStore, **where: Any) -> list[JobRow]:
    return await backend.job_list(JobFilter(limit=10_000, **where))


class Listener:
    """A push listener that records its calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[frozenset[str], float]] = []

    def __call__(self, tasks: frozenset[str], earliest_run_at: float) -> None:
        self.calls.append((tasks, earliest_run_at))
