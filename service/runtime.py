"""The root nursery: builds ``AppState``, starts the web server and the worker, owns signals.

SIGINT or SIGTERM starts an orderly shutdown: the HTTP server stops accepting connections and
lets requests in flight finish, the worker stops claiming and gives jobs in flight the grace
period, unfinished jobs go back to the queue, and the process exits 0. A second signal cancels
everything at once (jobs still go back to the queue) and the process exits 1.
"""

from __future__ import annotations

import errno
import functools
import logging
import signal
import socket
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import trio

from .domain.mail import make_mailer
from .domain.schema import APP_MIGRATIONS
from .jobs import (
    ErrorKind,
    JobState,
    JobStore,
    LoopWatchdog,
    ServiceError,
    SetStateIfRunning,
    TaskWorker,
    UnsupportedStoreURL,
    WorkerConfig,
    emit,
    redact_secrets,
)
from .jobs import open_store as open_job_store
from .settings import Settings, SettingsError
from .state import AppState
from .tasks import REGISTRY, SCHEDULES
from .tracing import Tracing, start_tracing

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Collection

    from hypercorn.config import Sockets

logger = logging.getLogger("service")

ROLES = ("web", "worker")


class ListenError(ServiceError):
    """An HTTP server cannot listen where its setting (``SERVICE_BIND``, or
    ``SERVICE_METRICS_BIND`` for the metrics server) says; the message names the address, the
    reason and the setting."""

    def __init__(self, bind: str, error: OSError, setting: str = "bind") -> None:
        env, flag = "SERVICE_" + setting.upper(), "--" + setting.replace("_", "-")
        super().__init__(f"cannot listen on {bind} ({listen_failure(error)}): set {env} or {flag}")
        self.bind = bind
        self.error = error
        self.setting = setting


_LISTEN_FAILURES = {
    errno.EADDRINUSE: "address already in use",
    errno.EACCES: "permission denied",
    errno.EADDRNOTAVAIL: "not an address of this host",
}


def listen_failure(error: OSError) -> str:
    """Why a bind failed, in words: the common failures by name, others as the system says."""
    if not isinstance(error, socket.gaierror) and error.errno in _LISTEN_FAILURES:
        return _LISTEN_FAILURES[error.errno]
    text = error.strerror or str(error) or type(error).__name__
    return text[:1].lower() + text[1:]


def listen(settings: Settings, setting: str = "bind") -> Sockets:
    """An HTTP server's sockets, bound and listening on the address of ``setting`` (``bind`` or
    ``metrics_bind``); raises :class:`ListenError` when they cannot be. Done before the store is
    opened, so a port in use creates nothing."""
    from .http.plumbing.server import hypercorn_config
    from .http.plumbing.server import listen as listen_on

    bind = getattr(settings, setting)
    try:
        return listen_on(hypercorn_config(bind, settings.shutdown_grace))
    except OSError as exc:
        raise ListenError(bind, exc, setting) from None


def open_store(settings: Settings, *, create: bool = True) -> JobStore:
    """The (unopened) store ``settings.database_url`` names: a SQLite file or PostgreSQL.

    ``create=False`` (operator commands): a missing SQLite file is :class:`DatabaseNotFound`
    when opened, and nothing is created.
    """
    try:
        return open_job_store(
            settings.database_url, migrations=APP_MIGRATIONS,
            cache_bytes=settings.sqlite_cache_bytes, mmap_bytes=settings.sqlite_mmap_bytes,
            pool_size=settings.db_pool_size, create=create,
        )
    except UnsupportedStoreURL as exc:
        raise SettingsError(f"SERVICE_DATABASE_URL: {exc}") from None


@asynccontextmanager
async def open_state(
    settings: Settings, *, create: bool = True, tracing: Tracing | None = None
) -> AsyncIterator[AppState]:
    """Connect (migrating the schema) and build the shared state; close on exit.

    ``create``: as for :func:`open_store`. ``tracing``: the process's, if it is switched on.
    """
    async with open_store(settings, create=create) as store:
        yield AppState(
            settings=settings, store=store, registry=REGISTRY, mailer=make_mailer(settings),
            tracing=tracing,
            schedules=SCHEDULES,
        )


def worker_config(settings: Settings) -> WorkerConfig:
    """The TaskWorker's configuration from the settings (the rest keeps its defaults)."""
    return WorkerConfig(
        shutdown_grace=settings.shutdown_grace,
        lease_ttl=settings.lease_ttl,
        # Renewed three times per lease: two renewals may be missed before the lease lapses.
        lease_renew_interval=settings.lease_ttl / 3,
        rescue_interval=settings.rescue_interval,
        max_rescues=settings.max_rescues,
    )


def make_worker(state: AppState) -> TaskWorker:
    metrics = state.metrics

    def on_rescue(task: str, outcome: JobState) -> None:
        metrics.job_rescues.inc(task=task, state=outcome.value)

    def on_attempt(task: str, seconds: float, outcome: SetStateIfRunning) -> None:
        metrics.job_duration.observe(seconds, task=task)
        metrics.job_outcomes.inc(task=task, state=outcome.state.value)
        error = outcome.error
        if error is not None and error.kind in (ErrorKind.ERROR, ErrorKind.TIMEOUT):
            metrics.job_failures.inc(task=task, kind=error.kind.value)

    def on_throttle(task: str, reason: str) -> None:
        metrics.claims_throttled.inc(task=task, reason=reason)

    worker = TaskWorker(
        state.store,
        state.registry,
        state=state,
        config=worker_config(state.settings),
        on_attempt=on_attempt,
        on_rescue=on_rescue,
        schedules=state.schedules,
        on_throttle=on_throttle,
    )
    state.worker = worker
    return worker


class WebService:
    """hypercorn serving the app, with the same lifecycle as the worker: on ``sockets`` already
    listening (closed when it stops), or on sockets it binds itself (see :func:`listen`).

    ``setting`` says which: ``bind``, the whole app (``web.started``); ``metrics_bind``, only
    ``/metrics``, ``/healthz`` and ``/readyz`` (``metrics.started``).
    """

    def __init__(self, state: AppState, *, sockets: Sockets | None = None,
                 setting: str = "bind") -> None:
        self.state = state
        self._sockets = sockets
        self._setting = setting
        self._name = "web" if setting == "bind" else "metrics"
        self._stop = trio.Event()
        self._stopped = trio.Event()
        self.addresses: list[str] = []

    async def run(self, *, task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED
                  ) -> None:
        from .http.app import create_app, create_ops_app
        from .http.plumbing.in_flight import InFlight
        from .http.plumbing.server import hypercorn_config, raise_open_files_limit, serve

        settings = self.state.settings
        config = hypercorn_config(getattr(settings, self._setting), settings.shutdown_grace,
                                  keep_alive=settings.http_keep_alive,
                                  head_timeout=settings.http_head_timeout,
                                  read_timeout=settings.http_read_timeout)
        app = create_app(self.state) if self._name == "web" else create_ops_app(self.state)
        started = False
        open_files = raise_open_files_limit()
        try:
            sockets = (self._sockets if self._sockets is not None
                       else listen(settings, self._setting))
            async with trio.open_nursery() as nursery:
                self.addresses = await nursery.start(functools.partial(
                    serve, InFlight(app, self._stop, max_in_flight=settings.http_max_in_flight,
                                    metrics=self.state.metrics),
                    config, self._stop, sockets=sockets
                ))
                started = True
                emit(logger, logging.INFO, f"{self._name}.started",
                     addresses=",".join(self.addresses), open_files=open_files,
                     max_in_flight=settings.http_max_in_flight)
                task_status.started(self.addresses)
        finally:
            self._stopped.set()
            if started:  # no "stopped" for a server that never started
                emit(logger, logging.INFO, f"{self._name}.stopped")

    async def shutdown(self) -> None:
        self._stop.set()
        await self._stopped.wait()


async def run_service(settings: Settings, roles: Collection[str] = ROLES) -> int:
    """Run ``roles`` until a signal; the process exit code.

    The HTTP servers listen first (the web role's, and the metrics server's when
    ``SERVICE_METRICS_BIND`` is set): an address it cannot listen on raises :class:`ListenError`
    before the store is opened, so it creates no database or directory. Tracing is switched on
    first, as the ``OTEL_*`` variables say (see ``service.tracing``).
    """
    from .http.plumbing.server import close_sockets

    tracing = start_tracing()
    listening: dict[str, Sockets] = {}
    try:
        if "web" in roles:
            listening["bind"] = listen(settings)
        if settings.metrics_bind is not None:
            listening["metrics_bind"] = listen(settings, "metrics_bind")
        return await _run_service(settings, roles, listening, tracing)
    finally:
        for sockets in listening.values():
            close_sockets(sockets)
        if tracing is not None:
            tracing.close()


async def _run_service(settings: Settings, roles: Collection[str], listening: dict[str, Sockets],
                       tracing: Tracing | None) -> int:
    forced = False
    async with open_state(settings, tracing=tracing) as state:
        if listening and not settings.admin_token:
            emit(logger, logging.WARNING, "admin.closed",
                 message="no SERVICE_ADMIN_TOKEN set: the operator API (/api/jobs, /api/queues,"
                 " /metrics) answers 401 and the /admin dashboard is closed; set"
                 " SERVICE_ADMIN_TOKEN or --admin-token to open them")
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with trio.open_nursery() as root:
                servers = [WebService(state, sockets=sockets, setting=setting)
                           for setting, sockets in listening.items()]
                worker = make_worker(state) if "worker" in roles else None
                for server in servers:
                    await root.start(server.run)
                if worker is not None:
                    await root.start(worker.run)
                    await root.start(LoopWatchdog().run)
                emit(logger, logging.INFO, "service.ready", roles=",".join(roles),
                     database=redact_secrets(settings.database_url))

                first = await signals.__anext__()
                emit(logger, logging.INFO, "service.stopping", signal=signal.Signals(first).name,
                     grace=settings.shutdown_grace)

                async def watch_second() -> None:
                    nonlocal forced
                    second = await signals.__anext__()
                    forced = True
                    emit(logger, logging.WARNING, "service.forced_exit",
                         signal=signal.Signals(second).name)
                    root.cancel_scope.cancel()

                root.start_soon(watch_second)
                async with trio.open_nursery() as stopping:
                    for server in servers:
                        stopping.start_soon(server.shutdown)
                    if worker is not None:
                        stopping.start_soon(worker.shutdown)
                root.cancel_scope.cancel()
    emit(logger, logging.INFO, "service.stopped", forced=forced)
    return 1 if forced else 0
