"""The TaskWorker: one child nursery per task type, plus lease, schedule and retention upkeep.

Lifecycle: ``await nursery.start(worker.run)`` returns once the worker is claiming;
``await worker.shutdown()`` stops claiming at once, lets jobs in flight finish within the grace
period, then cancels the rest and returns them to the queue with their attempt not counted.

Bounds (defaults): a job pushed in this process is claimed at once; a job pushed by another
process wakes an idle worker through the backend's notification (PostgreSQL NOTIFY, SQLite's
datagram) or, failing that, is seen within ``poll_max`` (1 s); an operator's cancel stops a
running attempt as soon as its notification arrives (:mod:`._cancel_delivery`), at worst at
the next lease renewal; a due scheduled job within
``schedule_interval`` (1 s); the job of a process killed with SIGKILL runs again within
``lease_ttl + rescue_interval + poll_max`` (15 + 5 + 1 = 21 s).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from typing import TYPE_CHECKING, Any

import trio

from . import _log as log
from ._batcher import OutcomeBatcher
from ._cancel_delivery import CancelDelivery
from ._config import WorkerConfig
from ._errors import StoreError
from ._pruner import prune_finished
from ._queue import LEASE_LOST, QueueContext, Shutdown, TaskQueue
from ._schedule import Schedule, check_schedules
from ._scheduler import Scheduler
from ._states import JobState
from ._store import WorkerBeat
from ._task import Task, TaskRegistry
from ._wakeup import Wakeup

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from ._clock import Clock
    from ._store import JobStore, Rescued, SetStateIfRunning

#: Seconds a clean stop may take to record itself (``worker_stopped``) before it is given up.
STOP_RECORD_TIMEOUT_S = 1.0


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class TaskWorker:
    """Runs the jobs of every registered task type from ``store``.

    ``state`` is handed to each task as ``ctx.state`` (the app's settings, store, mailer...).
    ``schedules`` are pushed at each of their ticks, exactly once however many workers run them;
    an invalid one raises :class:`InvalidSchedule` naming it, here.
    """

    def __init__(
        self,
        store: JobStore,
        registry: TaskRegistry | Iterable[type[Task]],
        *,
        state: Any = None,
        config: WorkerConfig | None = None,
        owner: str | None = None,
        on_attempt: Callable[[str, float, SetStateIfRunning], None] | None = None,
        on_rescue: Callable[[str, JobState], None] | None = None,
        schedules: Iterable[Schedule] = (),
        on_throttle: Callable[[str, str], None] | None = None,
    ) -> None:
        self.store = store
        self.registry = registry if isinstance(registry, TaskRegistry) else TaskRegistry(registry)
        checked = check_schedules(schedules, self.registry)
        self.schedules = [schedule for schedule, _ in checked.values()]
        self.state = state
        self.config = config or WorkerConfig()
        self.owner = owner or default_owner()
        self.clock: Clock = store.clock
        self.batcher = OutcomeBatcher(store)
        #: Called after each recorded attempt with (task, seconds, outcome): metrics hook.
        self.on_attempt = on_attempt
        #: Called for each job whose expired lease this worker's rescue took back, with (task,
        #: the state the rescue left it in): metrics hook.
        self.on_rescue = on_rescue
        context = QueueContext(
            store=store,
            owner=self.owner,
            clock=self.clock,
            config=self.config,
            batcher=self.batcher,
            state=state,
            on_attempt=on_attempt,
            note_run_at=self.note_run_at,
            on_throttle=on_throttle,
            on_claimed=self._claimed,
        )
        self.queues = {cls.options.name: TaskQueue(context, cls) for cls in self.registry}
        self.scheduler = Scheduler(store, checked, self.config)
        self._schedule_wakeup = Wakeup()
        self._queues_done = trio.Event()
        self._stopped = trio.Event()
        self._shutting_down = False
        self._started_at: float | None = None
        store.add_push_listener(self._on_push, tasks=self.queues)
        #: Stops the attempts of jobs an operator cancels (see _cancel_delivery).
        self.cancels = CancelDelivery(store, self.queues)
        store.add_cancel_listener(self.cancels.heard)

    # -- lifecycle --------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Work until :meth:`shutdown`; reports readiness through ``task_status.started()``."""
        log.event(logging.INFO, "worker.started", owner=self.owner, tasks=",".join(self.queues))
        self._started_at = self.clock.now()
        try:
            async with trio.open_nursery() as upkeep:
                upkeep.start_soon(self._renew_leases)
                upkeep.start_soon(self._rescue_expired)
                upkeep.start_soon(self._promote_scheduled)
                upkeep.start_soon(self._prune)
                upkeep.start_soon(self.scheduler.run)
                upkeep.start_soon(self._refresh_limits)
                upkeep.start_soon(self.cancels.run)
                await upkeep.start(self.batcher.run)
                async with trio.open_nursery() as queues:
                    for queue in self.queues.values():
                        queues.start_soon(queue.run, name=f"queue {queue.name}")
                    task_status.started()
                self._queues_done.set()
                upkeep.cancel_scope.cancel()
        finally:
            self.store.remove_push_listener(self._on_push)
            self.store.remove_cancel_listener(self.cancels.heard)
            await self._record_stop()
            self._stopped.set()
            log.event(logging.INFO, "worker.stopped", owner=self.owner)

    async def shutdown(self, grace: float | None = None) -> None:
        """Stop claiming now; wait up to ``grace`` s for jobs in flight; cancel the rest.

        Cancelled jobs go back to ``available`` with their attempt not counted. Returns once
        :meth:`run` has finished.
        """
        grace = self.config.shutdown_grace if grace is None else grace
        if not self._shutting_down:
            self._shutting_down = True
            in_flight = sum(len(q.in_flight) for q in self.queues.values())
            log.event(logging.INFO, "worker.stopping", in_flight=in_flight, grace=grace)
            for queue in self.queues.values():
                queue.stop_claiming()
            with trio.move_on_after(grace):
                await self._queues_done.wait()
            for queue in self.queues.values():
                queue.cancel_jobs(Shutdown(grace))
        await self._stopped.wait()

    @property
    def in_flight(self) -> int:
        return sum(len(q.in_flight) for q in self.queues.values())

    # -- wake-ups ---------------------------------------------------------------------------

    def _on_push(self, tasks: frozenset[str], earliest_run_at: float) -> None:
        # No task: a job's expiry, for the schedule loop to discard it then.
        if earliest_run_at > self.clock.now() or not tasks:
            self._schedule_wakeup.set()
            return
        for name in tasks:
            queue = self.queues.get(name)
            if queue is not None:
                queue.wakeup.set()

    def _claimed(self, job_ids: list[int]) -> None:
        self.cancels.claimed(job_ids)

    def note_run_at(self, task: str, run_at: float) -> None:
        """A job of ours will want to run at ``run_at`` (retry, snooze, interruption)."""
        self._on_push(frozenset([task]), run_at)

    # -- upkeep loops -----------------------------------------------------------------------

    async def _renew_leases(self) -> None:
        """Every ``lease_renew_interval``: renew the leases of the jobs in flight (one statement
        per task type that has any), then write this process's heartbeat (one upsert)."""
        while True:
            await self._renew_once()
            await self._beat()
            await trio.sleep(self.config.lease_renew_interval)

    async def _beat(self) -> None:
        assert self._started_at is not None
        beat = WorkerBeat(
            owner=self.owner, host=socket.gethostname(), pid=os.getpid(),
            tasks=tuple(self.queues), in_flight=self.in_flight, started_at=self._started_at,
            seen_at=self.clock.now(), interval=self.config.lease_renew_interval,
        )
        try:
            await self.store.worker_beat(beat)
        except StoreError as exc:
            log.event(logging.WARNING, "worker.heartbeat_failed", error=str(exc))

    async def _record_stop(self) -> None:
        """Tell operators this worker stopped cleanly rather than vanished; never blocks the
        stop for long, and a store that is gone is not an error here."""
        with trio.CancelScope(shield=True), trio.move_on_after(STOP_RECORD_TIMEOUT_S):
            try:
                await self.store.worker_stopped(self.owner, self.clock.now())
            except StoreError as exc:
                log.event(logging.WARNING, "worker.stop_record_failed", error=str(exc))

    async def _renew_once(self) -> None:
        for queue in self.queues.values():
            ids = list(queue.in_flight)
            if not ids:
                continue
            # The progress reported since the last renewal rides on the same statement.
            reported = queue.progress_reported()
            try:
                held = set(
                    await self.store.job_renew_leases(
                        self.owner, ids, self.clock.now() + self.config.lease_ttl,
                        {job_id: update for job_id, (_, update) in reported.items()},
                    )
                )
            except StoreError as exc:
                log.event(logging.WARNING, "worker.renew_failed", error=str(exc))
                continue
            for job_id, (attempt, update) in reported.items():
                if job_id in held:
                    attempt.progress.written(update)
            for job_id in ids:
                scope = queue.in_flight.get(job_id)
                if job_id not in held and scope is not None:
                    queue.cancel_job(job_id, LEASE_LOST)

    async def _rescue_expired(self) -> None:
        while True:
            try:
                rescued = await self.store.job_rescue_expired(
                    self.clock.now(), self.config.max_rescues
                )
            except StoreError as exc:
                log.event(logging.WARNING, "worker.rescue_failed", error=str(exc))
                rescued = []
            if self.on_rescue is not None:
                for job in rescued:
                    self.on_rescue(job.task, job.state)
            if self.config.discard_unknown_tasks:
                rescued += await self._discard_unknown()
            for job in rescued:
                log.event(logging.WARNING, "job.rescued", id=job.id, task=job.task,
                          state=job.state.value)
                queue = self.queues.get(job.task)
                if queue is not None and job.state is JobState.AVAILABLE:
                    queue.wakeup.set()
                elif job.state is JobState.RETRYABLE:  # rescued before: due after a pause
                    self._schedule_wakeup.set()
            await trio.sleep(self.config.rescue_interval)

    async def _discard_unknown(self) -> list[Rescued]:
        now = self.clock.now()
        try:
            return await self.store.job_discard_unknown(
                self.registry.names(), now - self.config.unknown_task_grace, now
            )
        except StoreError as exc:
            log.event(logging.WARNING, "worker.discard_unknown_failed", error=str(exc))
            return []

    async def _promote_scheduled(self) -> None:
        # Jobs due within a millisecond count as due: timestamps are floats.
        epsilon = 1e-3
        while True:
            self._schedule_wakeup.clear()
            now = self.clock.now()
            next_at: float | None = None
            try:
                promoted = await self.store.job_promote_due(now + epsilon)
                if promoted:
                    for name in set(promoted):
                        queue = self.queues.get(name)
                        if queue is not None:
                            queue.wakeup.set()
                    continue
                next_at = await self.store.job_next_run_at()
            except StoreError as exc:
                log.event(logging.WARNING, "worker.promote_failed", error=str(exc))
            wait = self.config.schedule_interval
            if next_at is not None:
                wait = max(0.0, min(wait, next_at - self.clock.now()))
            await self._schedule_wakeup.wait(wait)

    async def _refresh_limits(self) -> None:
        """Read the queues' stored limits and pauses, and which tasks have keyed jobs."""
        while True:
            try:
                rows = {row.task: row for row in await self.store.queue_limits()}
                keyed = set(await self.store.job_keyed_tasks())
            except StoreError as exc:
                log.event(logging.WARNING, "worker.limits_refresh_failed", error=str(exc))
            else:
                for name, queue in self.queues.items():
                    queue.apply_row(rows.get(name), name in keyed)
            await trio.sleep(self.config.limits_refresh)

    async def _prune(self) -> None:
        while True:
            await prune_finished(self.store, self.config.retention, self.clock.now(),
                                 self.config.prune_batch)
            try:
                await self.store.worker_delete_seen_before(
                    self.clock.now() - self.config.worker_retention)
            except StoreError as exc:
                log.event(logging.WARNING, "worker.prune_failed", error=str(exc))
            await trio.sleep(self.config.prune_interval)
