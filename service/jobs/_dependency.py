"""What a workflow member reads of one of its dependencies. Pure data."""

from __future__ import annotations

import attrs

from ._states import JobState


@attrs.frozen(kw_only=True)
class Dependency:
    """One dependency of a job, as the job's context reads it before it runs."""

    id: int
    state: JobState
    result: str | None  # JSON text


__all__ = ["Dependency"]
