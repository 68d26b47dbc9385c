"""``AppState``: what the HTTP app and the worker of one process share."""

from __future__ import annotations

import attrs

from .domain.mail import Mailer
from .jobs import JobAdmin, JobStore, Schedule, TaskRegistry, TaskWorker
from .metrics import Metrics
from .settings import Settings
from .tracing import Tracing


@attrs.define(kw_only=True)
class AppState:
    settings: Settings
    store: JobStore
    registry: TaskRegistry
    mailer: Mailer
    #: The schedules every worker of the app pushes (``service.tasks.SCHEDULES``).
    schedules: list[Schedule] = attrs.field(factory=list)
    metrics: Metrics = attrs.field(factory=Metrics)
    #: The worker of this process, when it runs one (``python -m service`` or ``worker``).
    worker: TaskWorker | None = None
    #: OpenTelemetry tracing, when it is switched on for this process (see ``service.tracing``).
    tracing: Tracing | None = None

    _admin: tuple[tuple[object, ...], JobAdmin] | None = attrs.field(
        default=None, init=False, repr=False, eq=False)

    def admin(self) -> JobAdmin:
        """The operator's operations (CLI, API, dashboard) on this app's jobs and schedules.

        Made once and kept while the store, registry and schedules stay the same: making one
        checks every schedule's cron expression, which would cost each HTTP request ~100 µs.
        """
        key = (self.store, self.registry, *self.schedules)
        if self._admin is None or len(self._admin[0]) != len(key) or any(
                a is not b for a, b in zip(self._admin[0], key, strict=True)):
            self._admin = (key, JobAdmin(self.store, self.registry, schedules=self.schedules))
        return self._admin[1]
