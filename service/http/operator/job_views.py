"""Jobs as JSON for the operator API and CLI."""

from __future__ import annotations

import json
from typing import Any

from ...jobs import JobRow, to_datetime
from ..plumbing.errors import ApiError

#: The reason recorded when an operator cancels a job without giving one.
CANCEL_REASON = "cancelled by an operator"


def job_id_param(raw: str) -> int:
    """A job id from a URL; 404 (as no such job) for anything but a positive integer."""
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise ApiError(404, "not_found", f"no job {raw!r}: job ids are positive integers")
    return int(raw)


def iso(timestamp: float | None) -> str | None:
    moment = to_datetime(timestamp)
    return None if moment is None else moment.isoformat()


def _json(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text  # an edited payload that is not JSON is shown as text, never evaluated


def job_json(row: JobRow) -> dict[str, Any]:
    """The public shape of a job (``GET /api/jobs/{id}``)."""
    errors = []
    for entry in row.errors:
        item = dict(entry)
        if isinstance(item.get("at"), int | float):
            item["at"] = iso(float(item["at"]))
        errors.append(item)
    return {
        "id": row.id,
        "task": row.task,
        "args": _json(row.args),
        "state": row.state.value,
        "attempt": row.attempt,
        "max_attempts": row.max_attempts,
        "priority": row.priority,
        "run_at": iso(row.run_at),
        "created_at": iso(row.created_at),
        "attempted_at": iso(row.attempted_at),
        "finished_at": iso(row.finished_at),
        "unique_key": row.unique_key,
        "rescues": row.rescues,
        "lease_owner": row.lease_owner,
        "lease_expires_at": iso(row.lease_expires_at),
        "errors": errors,
        "result": _json(row.result),
    }
