"""The public JSON shapes of a job and of a queue, as attrs classes.

The operator API answers them, the CLI prints them, and the HTTP layer derives its OpenAPI
schemas from these same classes: a field added here is in the answer and in the document.
A field whose default is None is left out of the JSON while it is None. A field's
``description`` (its metadata) is its sentence in the document.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import TYPE_CHECKING, Any

import attrs
from cattrs.preconf.json import make_converter

from ._attempt_error import ErrorKind
from ._clock import to_datetime
from ._states import JobState

if TYPE_CHECKING:
    from ._admin import QueueSummary
    from ._store import JobRow


def _doc(description: str) -> dict[str, str]:
    """A field's metadata: its sentence for the API's document."""
    return {"description": description}


@attrs.frozen(kw_only=True)
class AttemptErrorView:
    """One thing that went wrong with a job, oldest first in its ``errors``."""

    attempt: int | None = attrs.field(default=None, metadata=_doc(
        "The attempt it happened in; left out for an operator's cancel."))
    at: dt.datetime | None = attrs.field(default=None, metadata=_doc(
        "When it was recorded, ISO 8601 (left out by entries of old versions)."))
    kind: ErrorKind = attrs.field(metadata=_doc("Why it was recorded."))
    error: str = attrs.field(metadata=_doc(
        "The exception type, or a name for the event (LeaseExpired, Cancel, Cancelled,"
        " UnknownTask...)."))
    message: str = attrs.field(metadata=_doc("A sentence for people; for a cancel, the reason."))
    traceback: str | None = attrs.field(default=None, metadata=_doc(
        "The task's traceback (kind error only)."))


@attrs.frozen(kw_only=True)
class JobView:
    """A job: what it runs, where it is in its life, and what went wrong so far."""

    id: int
    task: str = attrs.field(metadata=_doc("The registered name of the job's task."))
    args: Any = attrs.field(metadata=_doc("The task's arguments as stored (JSON)."))
    state: JobState = attrs.field(metadata=_doc("Where the job is in its life."))
    attempt: int = attrs.field(metadata=_doc("Attempts started so far."))
    max_attempts: int = attrs.field(metadata=_doc("Attempts it may have before it is discarded."))
    priority: int = attrs.field(metadata=_doc("Lower runs first."))
    run_at: dt.datetime = attrs.field(metadata=_doc("When it may run next (ISO 8601 UTC)."))
    created_at: dt.datetime = attrs.field(metadata=_doc("When it was pushed (ISO 8601 UTC)."))
    attempted_at: dt.datetime | None = attrs.field(metadata=_doc(
        "When its last attempt started, or null."))
    finished_at: dt.datetime | None = attrs.field(metadata=_doc(
        "When it was completed, cancelled or discarded, or null."))
    unique_key: str | None = attrs.field(metadata=_doc(
        "The key that deduplicates its pushes while it is unfinished, or null."))
    rescues: int = attrs.field(metadata=_doc(
        "How often its lease expired and a rescue took it back."))
    lease_owner: str | None = attrs.field(metadata=_doc(
        "The worker holding it while it runs, else null."))
    lease_expires_at: dt.datetime | None = attrs.field(metadata=_doc(
        "When that lease ends, else null."))
    errors: list[AttemptErrorView] = attrs.field(metadata=_doc("What went wrong, oldest first."))
    result: Any = attrs.field(metadata=_doc(
        "What the task returned (JSON), once completed; else null."))


@attrs.frozen(kw_only=True)
class QueueView:
    """One task type's queue."""

    task: str
    registered: bool = attrs.field(metadata=_doc(
        "Whether this process has the task registered (else it is only seen in stored jobs)."))
    concurrency: int | None = attrs.field(metadata=_doc(
        "Jobs of this task one worker runs at once; null when not registered."))
    paused: bool = attrs.field(metadata=_doc("A paused queue is claimed by no process."))
    counts: dict[str, int] = attrs.field(metadata=_doc(
        "Jobs by state: every state, zeros included."))


def _build() -> Any:
    conv = make_converter(omit_if_default=True)
    conv.register_unstructure_hook(dt.datetime, dt.datetime.isoformat)
    conv.register_unstructure_hook(uuid.UUID, str)
    return conv


#: Unstructures the views above (and the HTTP layer's answers) to JSON-able data.
view_converter = _build()


def _json(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text  # an edited payload that is not JSON is shown as text, never evaluated


def job_view(row: JobRow) -> JobView:
    """The public view of a stored job."""
    run_at, created_at = to_datetime(row.run_at), to_datetime(row.created_at)
    assert run_at is not None
    assert created_at is not None
    return JobView(
        id=row.id, task=row.task, args=_json(row.args), state=row.state, attempt=row.attempt,
        max_attempts=row.max_attempts, priority=row.priority, run_at=run_at,
        created_at=created_at, attempted_at=to_datetime(row.attempted_at),
        finished_at=to_datetime(row.finished_at), unique_key=row.unique_key,
        rescues=row.rescues, lease_owner=row.lease_owner,
        lease_expires_at=to_datetime(row.lease_expires_at),
        errors=[AttemptErrorView(attempt=e.attempt, at=to_datetime(e.at), kind=e.kind,
                                 error=e.error, message=e.message, traceback=e.traceback)
                for e in row.errors],
        result=_json(row.result),
    )


def queue_view(queue: QueueSummary) -> QueueView:
    """The public view of a queue summary."""
    return QueueView(task=queue.task, registered=queue.registered,
                     concurrency=queue.concurrency, paused=queue.paused,
                     counts={state.value: count for state, count in queue.counts.items()})


def job_json(row: JobRow) -> dict[str, Any]:
    """The public shape of a job (``GET /api/jobs/{id}``): :class:`JobView` as JSON data."""
    data: dict[str, Any] = view_converter.unstructure(job_view(row))
    return data


def queue_json(queue: QueueSummary) -> dict[str, Any]:
    """The public shape of a queue (``GET /api/queues``): :class:`QueueView` as JSON data."""
    data: dict[str, Any] = view_converter.unstructure(queue_view(queue))
    return data
