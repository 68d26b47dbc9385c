"""The public JSON shapes of a job and of a queue, as attrs classes.

The operator API answers them, the CLI prints them, and the HTTP layer derives its OpenAPI
schemas from these same classes: a field added here is in the answer and in the document.
A field whose default is None is left out of the JSON while it is None.
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


@attrs.frozen(kw_only=True)
class AttemptErrorView:
    """One thing that went wrong with a job, oldest first in its ``errors``."""

    attempt: int | None = None
    """The attempt it happened in; left out for an operator's cancel."""
    at: dt.datetime | None = None
    """When it was recorded (left out for entries of old versions that did not say)."""
    kind: ErrorKind
    error: str
    """The exception type, or a name for the event (``LeaseExpired``, ``Cancelled``...)."""
    message: str
    traceback: str | None = None
    """The task's traceback (kind ``error`` only)."""


@attrs.frozen(kw_only=True)
class JobView:
    """A job: what it runs, where it is in its life, and what went wrong so far."""

    id: int
    task: str
    args: Any
    """The task's arguments as stored (JSON)."""
    state: JobState
    attempt: int
    max_attempts: int
    priority: int
    run_at: dt.datetime
    created_at: dt.datetime
    attempted_at: dt.datetime | None
    finished_at: dt.datetime | None
    unique_key: str | None
    rescues: int
    lease_owner: str | None
    lease_expires_at: dt.datetime | None
    errors: list[AttemptErrorView]
    result: Any
    """What the task returned (JSON), once completed; else null."""


@attrs.frozen(kw_only=True)
class QueueView:
    """One task type's queue."""

    task: str
    registered: bool
    """Whether this process has the task registered (else it is only seen in stored jobs)."""
    concurrency: int | None
    """Jobs of this task one worker runs at once; null when not registered."""
    paused: bool
    counts: dict[str, int]
    """Jobs by state: every state, zeros included."""


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
