"""The job state machine as data: every allowed transition in one table.

Pure: imports neither trio nor a database driver.
"""

from __future__ import annotations

import enum

from ._errors import InvalidTransition


class JobState(enum.StrEnum):
    """Where a job is in its life; the allowed moves between states are the table below."""

    SCHEDULED = "scheduled"
    AVAILABLE = "available"
    RUNNING = "running"
    COMPLETED = "completed"
    RETRYABLE = "retryable"
    CANCELLED = "cancelled"
    DISCARDED = "discarded"


S = JobState

#: (from, to) -> what causes it. Anything not listed is forbidden.
TRANSITIONS: dict[tuple[JobState, JobState], str] = {
    (S.SCHEDULED, S.AVAILABLE): "run_at reached, a replacing push made it due now,"
                                " or an operator retries it now",
    (S.SCHEDULED, S.CANCELLED): "operator cancels",
    (S.SCHEDULED, S.DISCARDED): "its expires_at passed before it started",
    (S.RETRYABLE, S.AVAILABLE): "backoff elapsed, or an operator retries it now",
    (S.RETRYABLE, S.CANCELLED): "operator cancels",
    (S.RETRYABLE, S.DISCARDED): "its expires_at passed before its next attempt started",
    (S.AVAILABLE, S.RUNNING): "a worker claims it",
    (S.AVAILABLE, S.CANCELLED): "operator cancels",
    (S.AVAILABLE, S.DISCARDED): "its expires_at passed before a worker started it,"
                                " or no worker knows its task",
    (S.AVAILABLE, S.SCHEDULED): "a replacing push (on_conflict='replace') moved its run_at"
                                " into the future",
    (S.RUNNING, S.COMPLETED): "the task returned",
    (S.RUNNING, S.RETRYABLE): "the attempt failed or timed out, attempts remain",
    (S.RUNNING, S.DISCARDED): "out of attempts or rescues, or the payload cannot run",
    (S.RUNNING, S.CANCELLED): "the task raised Cancel, or an operator cancels",
    (S.RUNNING, S.SCHEDULED): "the task raised Snooze",
    (S.RUNNING, S.AVAILABLE): "shutdown interrupted it, or its lease expired and it was rescued",
    (S.COMPLETED, S.AVAILABLE): "operator retries",
    (S.CANCELLED, S.AVAILABLE): "operator retries",
    (S.DISCARDED, S.AVAILABLE): "operator retries",
}

FINISHED: frozenset[JobState] = frozenset({S.COMPLETED, S.CANCELLED, S.DISCARDED})
UNFINISHED: frozenset[JobState] = frozenset(JobState) - FINISHED
WAITING: frozenset[JobState] = frozenset({S.SCHEDULED, S.RETRYABLE})


def is_allowed(source: JobState, target: JobState) -> bool:
    """Whether the state machine allows going from ``source`` to ``target``."""
    return (source, target) in TRANSITIONS


def check_transition(source: JobState, target: JobState) -> None:
    """Raise :class:`InvalidTransition` unless ``source -> target`` is allowed."""
    if not is_allowed(source, target):
        raise InvalidTransition(f"a {source} job cannot become {target}")


def sources_of(target: JobState) -> frozenset[JobState]:
    """Every state from which ``target`` may be reached."""
    return frozenset(src for (src, dst) in TRANSITIONS if dst == target)


#: States an operator's retry moves to ``available``; a running job is not retried.
RETRY_SOURCES: frozenset[JobState] = sources_of(S.AVAILABLE) - {S.RUNNING}
#: States an operator's cancel moves to ``cancelled``.
CANCEL_SOURCES: frozenset[JobState] = sources_of(S.CANCELLED)
#: States whose job a passed ``expires_at`` discards: those waiting for their next attempt.
EXPIRABLE: frozenset[JobState] = sources_of(S.DISCARDED) - {S.RUNNING}
#: States in which a push with ``on_conflict="replace"`` may rewrite the job that holds its
#: unique key (if it never started: ``attempted_at`` is NULL). A replacing push moves it between
#: these two, by its new ``run_at``.
REPLACEABLE: frozenset[JobState] = frozenset({S.SCHEDULED, S.AVAILABLE})
#: States an operator may delete a job in: any but ``running`` (a running job is cancelled first,
#: so its worker stops it and no outcome lands on a missing row).
DELETE_SOURCES: frozenset[JobState] = frozenset(JobState) - {S.RUNNING}
#: The dashboard's "failed" filter: jobs whose last attempt failed, waiting to run again or not.
FAILED: frozenset[JobState] = frozenset({S.RETRYABLE, S.DISCARDED})
