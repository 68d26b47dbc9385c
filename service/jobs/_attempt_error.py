"""What went wrong in one attempt of a job, as data. Pure: no trio, no database driver.

A job keeps a list of :class:`AttemptError` entries, oldest first. In the store each entry is one
JSON object of the job's ``errors`` array (:func:`to_stored`, :func:`from_stored`). Entries that
the SQL backends write themselves (a lease expiry, an unknown task) carry codes only -- the
kind, the lease owner, the rescue count, what the rescue did -- and their prose is rendered here,
once, by :attr:`AttemptError.message`. Entries written by earlier versions, which stored the
prose in ``message``, still decode and display as they were.

The stored keys are ``attempt``, ``at``, ``kind``, ``error``, ``message`` (the recorded text),
``traceback``, ``task`` (unknown task), and for a lease expiry ``owner``, ``rescues``,
``lease_expires_at``, ``step`` and ``pause``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

import attrs

from ._redact import redact_secrets


class ErrorKind(enum.StrEnum):
    """Why an error entry was recorded on a job."""

    #: The task raised: the job is ``retryable`` after backoff, or ``discarded`` when that was
    #: its last attempt. ``error`` is the exception's type, with its traceback.
    ERROR = "error"
    #: The attempt ran past the task's ``timeout``; counted as a failed attempt like ``error``.
    TIMEOUT = "timeout"
    #: Shutdown stopped the attempt after the grace period: the job is ``available`` again and
    #: the attempt is not counted.
    INTERRUPTED = "interrupted"
    #: The lease of the worker running the job expired (its process died or stalled) and a
    #: rescue returned the job to the queue, or discarded it (see :class:`RescueStep`).
    LEASE_EXPIRED = "lease_expired"
    #: The task raised ``Cancel(reason)``, or an operator cancelled the job (then ``attempt`` is
    #: None and ``error`` is ``Cancelled``).
    CANCELLED = "cancelled"
    #: The stored payload no longer decodes into the task (a field renamed or retyped): the job
    #: is ``discarded``; the message names the task and the field.
    PAYLOAD = "payload"
    #: No worker that saw the job has its task registered: after the grace period the job is
    #: ``discarded``. (Entries written before this kind existed say ``payload``.)
    UNKNOWN_TASK = "unknown_task"
    #: The job's ``expires_at`` passed before its next attempt started: it is ``discarded``
    #: without running (``attempt`` is the number of attempts it had made).
    EXPIRED = "expired"


class RescueStep(enum.StrEnum):
    """What a rescue did with a job whose lease expired (stored as the entry's ``step``)."""

    #: First rescue: ``available`` again at once.
    REQUEUED = "requeued"
    #: Rescued before: ``retryable`` after a random pause of up to ``pause`` seconds.
    PAUSED = "paused"
    #: ``discarded``: its lease expired ``rescues`` times (the job may be killing its process).
    OUT_OF_RESCUES = "out_of_rescues"
    #: ``discarded``: the attempt that died was its last.
    OUT_OF_ATTEMPTS = "out_of_attempts"


@attrs.frozen(kw_only=True)
class LeaseExpiry:
    """The codes of a :attr:`ErrorKind.LEASE_EXPIRED` entry."""

    owner: str | None  # the worker whose lease expired
    rescues: int  # lease expiries of the job, this one included
    step: RescueStep
    lease_expires_at: float | None = None
    pause: float = 0.0  # the longest random pause, seconds (PAUSED)


@attrs.frozen(kw_only=True)
class AttemptError:
    """One error recorded on a job.

    ``attempt`` is the attempt it happened in (None for an operator's cancel); ``at`` when it
    was recorded (seconds since the epoch; None only for an entry stored without a time);
    ``error`` the exception type (or a name for what happened: ``LeaseExpired``, ``Cancel``);
    ``detail`` the text recorded with it (the exception's message, the cancel reason, an older
    version's message); ``task`` the unregistered task of an :attr:`ErrorKind.UNKNOWN_TASK`
    entry; ``lease`` the codes of an :attr:`ErrorKind.LEASE_EXPIRED` one.
    """

    attempt: int | None
    at: float | None
    kind: ErrorKind
    error: str
    detail: str | None = None
    traceback: str | None = None
    task: str | None = None
    lease: LeaseExpiry | None = None

    @property
    def message(self) -> str:
        """The entry as a sentence for people (API ``message``, dashboard, logs)."""
        return render_message(self)


def operator_cancelled(at: float, reason: str) -> AttemptError:
    """The entry an operator's cancel records: no attempt, ``reason`` as its text."""
    return AttemptError(attempt=None, at=at, kind=ErrorKind.CANCELLED, error="Cancelled",
                        detail=reason)


#: What an entry of each kind says when it recorded no text of its own.
_DEFAULT_MESSAGE = {
    ErrorKind.ERROR: "the task raised an error",
    ErrorKind.TIMEOUT: "the attempt timed out",
    ErrorKind.INTERRUPTED: "interrupted by shutdown",
    ErrorKind.LEASE_EXPIRED: "the lease expired (its process stopped or stalled)",
    ErrorKind.CANCELLED: "cancelled",
    ErrorKind.PAYLOAD: "the payload does not decode",
    ErrorKind.UNKNOWN_TASK: "the task is not registered with any worker that saw it",
    ErrorKind.EXPIRED: "expired: not started before its expires_at",
}

_RESCUE_STEP_MESSAGE = {
    RescueStep.REQUEUED: "returned to the queue",
    RescueStep.PAUSED: "returned to the queue after a random pause of up to {pause:g} s,"
                       " apart from the jobs it died with",
    RescueStep.OUT_OF_RESCUES: "discarded: lease expired {rescues} times,"
                               " the job may be killing its process",
    RescueStep.OUT_OF_ATTEMPTS: "discarded: that was its last attempt",
}


def render_message(error: AttemptError) -> str:
    """The prose of ``error``, from its kind and codes (or the text it recorded)."""
    lease = error.lease
    if error.kind is ErrorKind.LEASE_EXPIRED and lease is not None:
        step = _RESCUE_STEP_MESSAGE[lease.step].format(pause=lease.pause, rescues=lease.rescues)
        owner = "?" if lease.owner is None else lease.owner
        return f"lease of {owner} expired (its process stopped or stalled); {step}"
    if error.kind is ErrorKind.UNKNOWN_TASK and error.task is not None:
        return f"task {error.task!r} is not registered with any worker that saw it"
    if error.detail is not None:
        return error.detail
    return _DEFAULT_MESSAGE[error.kind]


def to_stored(error: AttemptError) -> dict[str, Any]:
    """``error`` as the JSON object stored in the job's ``errors`` array (None fields left out).

    A URL password in the message or traceback is masked (:func:`redact_secrets`): the API, the
    CLI and the dashboard show what is stored.
    """
    stored: dict[str, Any] = {}
    if error.attempt is not None:
        stored["attempt"] = error.attempt
    if error.at is not None:
        stored["at"] = error.at
    stored["kind"] = error.kind.value
    stored["error"] = error.error
    for key, value in (("message", error.detail), ("traceback", error.traceback),
                       ("task", error.task)):
        if value is not None:
            stored[key] = value if key == "task" else redact_secrets(value)
    if error.lease is not None:
        stored |= {"owner": error.lease.owner, "rescues": error.lease.rescues,
                   "step": error.lease.step.value, "pause": error.lease.pause}
        if error.lease.lease_expires_at is not None:
            stored["lease_expires_at"] = error.lease.lease_expires_at
    return stored


def _number(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _text(value: object) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _lease(entry: Mapping[str, Any]) -> LeaseExpiry | None:
    try:
        step = RescueStep(str(entry.get("step")))
    except ValueError:
        return None  # written before codes: its prose is in "message"
    rescues = entry.get("rescues")
    return LeaseExpiry(
        owner=_text(entry.get("owner")),
        rescues=rescues if isinstance(rescues, int) and not isinstance(rescues, bool) else 0,
        step=step,
        lease_expires_at=_number(entry.get("lease_expires_at")),
        pause=_number(entry.get("pause")) or 0.0,
    )


def from_stored(entry: object) -> AttemptError:
    """An entry of the stored ``errors`` array as an :class:`AttemptError`; never raises.

    Entries of older versions decode as they were written. A kind this version does not know
    becomes :attr:`ErrorKind.ERROR`, with the stored kind kept in front of its text; a missing
    field becomes None (or ``""`` for ``error``); an entry that is not an object becomes an
    ``error`` entry whose text is the entry itself.
    """
    if not isinstance(entry, Mapping):
        return AttemptError(attempt=None, at=None, kind=ErrorKind.ERROR, error="",
                            detail=_text(entry))
    detail = _text(entry.get("message"))
    raw_kind = entry.get("kind")
    try:
        kind = ErrorKind(str(raw_kind))
    except ValueError:
        kind = ErrorKind.ERROR
        if raw_kind is not None:
            detail = f"{raw_kind}: {detail}" if detail else str(raw_kind)
    attempt = entry.get("attempt")
    return AttemptError(
        attempt=attempt if isinstance(attempt, int) and not isinstance(attempt, bool) else None,
        at=_number(entry.get("at")),
        kind=kind,
        error=_text(entry.get("error")) or "",
        detail=detail,
        traceback=_text(entry.get("traceback")),
        task=_text(entry.get("task")) if kind is ErrorKind.UNKNOWN_TASK else None,
        lease=_lease(entry) if kind is ErrorKind.LEASE_EXPIRED else None,
    )
