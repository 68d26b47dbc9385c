"""From what an attempt did to the state change that records it. Pure: no trio, no database."""

from __future__ import annotations

import traceback
from typing import TYPE_CHECKING

import attrs

from ._attempt_error import AttemptError, ErrorKind
from ._states import JobState
from ._store import ClaimedJob, SetStateIfRunning

if TYPE_CHECKING:
    import random

    from ._errors import Cancel, PayloadError, Snooze
    from ._retry import Backoff

MESSAGE_LIMIT = 2000
TRACEBACK_LIMIT = 8000


def _error(
    row: ClaimedJob, now: float, kind: ErrorKind, error: str, message: str, tb: str | None = None
) -> AttemptError:
    return AttemptError(
        attempt=row.attempt, at=now, kind=kind, error=error, detail=message[:MESSAGE_LIMIT],
        traceback=tb[-TRACEBACK_LIMIT:] if tb else None,
    )


class ChildFailure(Exception):
    """What ``run_sync`` raised in a child process, described as data: recorded as that
    exception (``error`` its type name, its message and the child's traceback)."""

    def __init__(self, error: str, message: str, tb: str) -> None:
        super().__init__(message)
        self.error, self.message, self.traceback = error, message, tb


def completed(row: ClaimedJob, owner: str, now: float, result: str | None) -> SetStateIfRunning:
    return SetStateIfRunning(
        id=row.id, owner=owner, attempt=row.attempt, state=JobState.COMPLETED,
        finished_at=now, result=result,
    )


def _failed_attempt(
    row: ClaimedJob, owner: str, now: float, backoff: Backoff, error: AttemptError,
    rng: random.Random | None,
) -> SetStateIfRunning:
    if row.attempt >= row.max_attempts:
        error = attrs.evolve(error, detail=f"{error.detail} (attempt {row.attempt} of"
                                           f" {row.max_attempts}: discarded)")
        return SetStateIfRunning(
            id=row.id, owner=owner, attempt=row.attempt, state=JobState.DISCARDED,
            finished_at=now, error=error,
        )
    return SetStateIfRunning(
        id=row.id,
        owner=owner,
        attempt=row.attempt,
        state=JobState.RETRYABLE,
        run_at=now + backoff.delay(row.attempt, rng),
        error=error,
    )


def failed(
    row: ClaimedJob, owner: str, now: float, backoff: Backoff, exc: BaseException,
    rng: random.Random | None = None,
) -> SetStateIfRunning:
    """The task raised: retry after backoff, or discard when out of attempts."""
    if isinstance(exc, ChildFailure):
        error = _error(row, now, ErrorKind.ERROR, exc.error, exc.message, exc.traceback)
        return _failed_attempt(row, owner, now, backoff, error, rng)
    tb = "".join(traceback.format_exception(exc))
    error = _error(row, now, ErrorKind.ERROR, type(exc).__qualname__, str(exc) or repr(exc), tb)
    return _failed_attempt(row, owner, now, backoff, error, rng)


def timeout_message(timeout: float, *, killed: bool = False) -> str:
    """What an attempt that ran past its task's ``timeout`` records (and ``run_task`` reports);
    ``killed``: its process was killed (``run_in="process"``)."""
    return f"timed out after {timeout:g} s" + (" (killed)" if killed else "")


def timed_out(
    row: ClaimedJob, owner: str, now: float, backoff: Backoff, timeout: float,
    rng: random.Random | None = None, *, killed: bool = False,
) -> SetStateIfRunning:
    error = _error(row, now, ErrorKind.TIMEOUT, "TimeoutError",
                   timeout_message(timeout, killed=killed))
    return _failed_attempt(row, owner, now, backoff, error, rng)


def snoozed(row: ClaimedJob, owner: str, now: float, snooze: Snooze) -> SetStateIfRunning:
    """Run again after the snooze; the attempt is given back."""
    return SetStateIfRunning(
        id=row.id,
        owner=owner,
        attempt=row.attempt,
        state=JobState.SCHEDULED,
        run_at=now + snooze.seconds,
        refund_attempt=True,
    )


def rate_limited(row: ClaimedJob, owner: str, now: float, retry_after: float
                 ) -> SetStateIfRunning:
    """A downstream service said "too many requests": run again after ``retry_after``, the
    attempt given back (as a snooze)."""
    return SetStateIfRunning(
        id=row.id,
        owner=owner,
        attempt=row.attempt,
        state=JobState.SCHEDULED,
        run_at=now + retry_after,
        refund_attempt=True,
    )


def cancelled(row: ClaimedJob, owner: str, now: float, cancel: Cancel) -> SetStateIfRunning:
    error = _error(row, now, ErrorKind.CANCELLED, "Cancel", cancel.reason)
    return SetStateIfRunning(
        id=row.id, owner=owner, attempt=row.attempt, state=JobState.CANCELLED,
        finished_at=now, error=error,
    )


def undecodable(row: ClaimedJob, owner: str, now: float, exc: PayloadError) -> SetStateIfRunning:
    """The payload cannot become a task (unknown task, or a field that does not decode)."""
    error = _error(row, now, ErrorKind.PAYLOAD, type(exc).__name__, str(exc))
    return SetStateIfRunning(
        id=row.id, owner=owner, attempt=row.attempt, state=JobState.DISCARDED,
        finished_at=now, error=error,
    )


def interrupted(row: ClaimedJob, owner: str, now: float, reason: str) -> SetStateIfRunning:
    """Shutdown stopped the attempt: back to the queue, attempt not counted, reason recorded."""
    error = _error(row, now, ErrorKind.INTERRUPTED, "Interrupted", reason)
    return SetStateIfRunning(
        id=row.id,
        owner=owner,
        attempt=row.attempt,
        state=JobState.AVAILABLE,
        run_at=now,
        refund_attempt=True,
        error=error,
    )
