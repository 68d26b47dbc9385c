"""What a workflow member reads of one of its dependencies, and which named dependencies have
already ended. Pure data: no driver, no trio."""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from ._errors import JobNotFound
from ._states import FINISHED, JobState

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

#: (job id, the state it ended in): outcomes that may settle dependents.
Ended = tuple[int, JobState]


@attrs.frozen(kw_only=True)
class Dependency:
    """One dependency of a job, as the job's context reads it before it runs."""

    id: int
    state: JobState
    result: str | None  # JSON text


def ended_among(external: Sequence[int], found: Mapping[int, str]) -> list[Ended]:
    """Of the stored jobs a workflow's ``after=`` names (``found``: id -> state as read), those
    that already ended; :class:`JobNotFound` for an id that names no job."""
    ended: list[Ended] = []
    for job_id in external:
        if job_id not in found:
            raise JobNotFound(job_id)
        if JobState(found[job_id]) in FINISHED:
            ended.append((job_id, JobState(found[job_id])))
    return ended


__all__ = ["Dependency", "Ended", "ended_among"]
