"""Worker processes as operators see them: live, stopped or gone, from their heartbeats.

A worker writes one heartbeat row per lease-renewal tick (``JobStore.worker_beat``). Pure: no
trio, no driver.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._store import WorkerRow

#: A worker not heard from for this many of its heartbeat intervals is shown as gone.
STALE_BEATS = 3
#: Workers not heard from for this long are forgotten by the pruner (seconds).
WORKER_RETENTION_S = 24 * 3600.0


class WorkerStatus(enum.StrEnum):
    """``live``: beating; ``stopped``: shut down cleanly; ``gone``: silent for more than
    :data:`STALE_BEATS` heartbeat intervals without saying it stopped (killed, host lost)."""

    LIVE = "live"
    STOPPED = "stopped"
    GONE = "gone"


def worker_status(row: WorkerRow, now: float) -> WorkerStatus:
    """Whether ``row``'s worker is live, stopped or gone at ``now``."""
    if row.stopped_at is not None:
        return WorkerStatus.STOPPED
    if now - row.seen_at > STALE_BEATS * row.interval:
        return WorkerStatus.GONE
    return WorkerStatus.LIVE

