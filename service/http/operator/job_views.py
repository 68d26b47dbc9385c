"""Jobs as JSON for the operator API and CLI: the view itself is the engine's (``job_json``)."""

from __future__ import annotations

from ...jobs import CANCEL_REASON, job_json
from ..plumbing.errors import ApiError

__all__ = ["CANCEL_REASON", "job_id_param", "job_json"]


def workflow_id_param(raw: str) -> int:
    """A workflow id from a URL; 404 (as no such workflow) for anything but a positive
    integer."""
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise ApiError(404, "not_found",
                       f"no workflow {raw!r}: workflow ids are positive integers")
    return int(raw)


def job_id_param(raw: str) -> int:
    """A job id from a URL; 404 (as no such job) for anything but a positive integer."""
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise ApiError(404, "not_found", f"no job {raw!r}: job ids are positive integers")
    return int(raw)
