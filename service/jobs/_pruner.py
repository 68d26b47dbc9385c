"""Retention: deleting finished jobs older than their state's retention, a batch at a time.

Every worker process runs :func:`prune_finished` every ``prune_interval`` (no leader: the
deletes are idempotent). Each batch is one short transaction of at most ``batch`` rows on the
store's thread, so a million-row backlog never holds the event loop or the write lock for long.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from . import _log as log
from ._errors import StoreError

if TYPE_CHECKING:
    from ._config import Retention
    from ._states import JobState
    from ._store import JobStore


async def prune_finished(store: JobStore, retention: Retention, now: float,
                         batch: int) -> dict[JobState, int]:
    """Delete the finished jobs that ``retention`` no longer keeps at ``now`` (a workflow
    member a dependent still needs stays); how many of each state went. A store error is logged
    (``worker.prune_failed``) and ends that state's pruning for this round."""
    deleted: dict[JobState, int] = {}
    for state, keep in retention.by_state().items():
        before = now - keep
        try:
            while True:
                count = await store.job_delete_finished(state, before, batch)
                if count:
                    deleted[state] = deleted.get(state, 0) + count
                    log.event(logging.INFO, "jobs.pruned", state=state.value, count=count)
                if count < batch:
                    break
        except StoreError as exc:
            log.event(logging.WARNING, "worker.prune_failed", error=str(exc))
    return deleted
