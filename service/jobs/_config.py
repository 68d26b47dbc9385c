"""The TaskWorker's configuration, shared by the worker and its per-task queues."""

from __future__ import annotations

import attrs

from ._states import JobState

DAY = 86_400.0


@attrs.frozen(kw_only=True)
class Retention:
    """How long finished jobs are kept before the pruner deletes them (seconds)."""

    completed: float = 1 * DAY
    cancelled: float = 7 * DAY
    discarded: float = 7 * DAY

    def by_state(self) -> dict[JobState, float]:
        return {
            JobState.COMPLETED: self.completed,
            JobState.CANCELLED: self.cancelled,
            JobState.DISCARDED: self.discarded,
        }


@attrs.frozen(kw_only=True)
class WorkerConfig:
    """How a :class:`TaskWorker` paces itself: leases, rescues, polls, shutdown and retention.

    The defaults suit production. Tests on ``MockClock`` use ``testing.DRAIN_CONFIG`` (or one
    like it), whose rare safety-net polls keep virtual hours cheap in real time.
    """

    lease_ttl: float = 15.0
    #: How often leases are renewed (must be well under ``lease_ttl``).
    lease_renew_interval: float = 5.0
    rescue_interval: float = 5.0
    #: Rescues after which a job whose lease keeps expiring is discarded.
    max_rescues: int = 5
    poll_min: float = 0.05
    poll_max: float = 1.0
    schedule_interval: float = 1.0
    #: How often the worker reads the queues' stored limits (operators' overrides, pauses from
    #: ``RateLimited``) and which tasks have keyed jobs: changes apply within this time.
    limits_refresh: float = 1.0
    shutdown_grace: float = 10.0
    #: Discard available jobs of task types this worker does not know, once they have waited
    #: ``unknown_task_grace`` s. Turn off when workers deliberately run different task sets.
    discard_unknown_tasks: bool = True
    unknown_task_grace: float = 60.0
    prune_interval: float = 60.0
    prune_batch: int = 1000
    retention: Retention = attrs.field(factory=Retention)
    #: Worker processes not heard from for this long are forgotten (the dashboard shows them
    #: as gone until then).
    worker_retention: float = 1 * DAY

    def __attrs_post_init__(self) -> None:
        if not 0 < self.lease_renew_interval < self.lease_ttl:
            raise ValueError("lease_renew_interval must be > 0 and < lease_ttl")
        if self.max_rescues < 1:
            raise ValueError("max_rescues must be >= 1")
        if not 0 < self.poll_min <= self.poll_max:
            raise ValueError("need 0 < poll_min <= poll_max")
        if self.shutdown_grace < 0:
            raise ValueError("shutdown_grace must be >= 0")
