"""``AppState``: what the HTTP app and the worker of one process share."""

from __future__ import annotations

import attrs

from .domain.mail import Mailer
from .jobs import JobStore, TaskRegistry, TaskWorker
from .metrics import Metrics
from .settings import Settings
from .tracing import Tracing


@attrs.define(kw_only=True)
class AppState:
    settings: Settings
    store: JobStore
    registry: TaskRegistry
    mailer: Mailer
    metrics: Metrics = attrs.field(factory=Metrics)
    #: The worker of this process, when it runs one (``python -m service`` or ``worker``).
    worker: TaskWorker | None = None
    #: OpenTelemetry tracing, when it is switched on for this process (see ``service.tracing``).
    tracing: Tracing | None = None
