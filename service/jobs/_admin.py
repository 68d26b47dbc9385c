"""What an operator can do with jobs, written once: the CLI, the JSON API and the dashboard parse
their input, call :class:`JobAdmin` and render what it returns.

The job's and the queue's JSON views, which the API and the CLI both print, are in
:mod:`._views`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from . import _codec as codec
from ._bulk import BULK_BATCH, BulkAction, BulkResult
from ._clock import iso_time
from ._errors import InvalidPush, PayloadError, QueueNotFound, StoreError, UnknownTask
from ._limits import RateLimit, effective, encode_override, override_from_json
from ._schedule import check_schedules
from ._schedule_admin import ScheduleSummary, get_schedule, list_schedules, set_paused
from ._states import JobState
from ._store import JobFilter, JobRow
from ._throughput import MINUTE, Minute, per_minute, since

if TYPE_CHECKING:
    import builtins
    import datetime as dt
    from collections.abc import Iterable

    from ._schedule import Schedule
    from ._store import JobStore, OnConflict, PushResult, WorkerRow
    from ._task import Task, TaskRegistry

#: The reason recorded when an operator cancels a job without giving one.
CANCEL_REASON = "cancelled by an operator"

#: The options of a push, as an operator names them (``$.<option>`` in a push request).
#: Options whose name is in another's message come first ("unique_for needs a unique_key").
PUSH_OPTIONS = ("delay", "run_at", "priority", "expires_at", "expire_after", "unique_for",
                "on_conflict", "unique_key", "max_attempts", "concurrency_key")


@attrs.frozen(kw_only=True)
class QueueSummary:
    """One task type's queue: whether this process knows the task, its concurrency limit (None
    when unregistered), whether it is paused, and its jobs by state (every state, zeros
    included, in :class:`JobState` order)."""

    task: str
    registered: bool
    concurrency: int | None
    paused: bool
    counts: dict[JobState, int]
    #: The limits in force across every process: the code's, or an operator's override
    #: (``limits_overridden``). None: no such limit.
    global_concurrency: int | None = None
    per_key: int | None = None
    rate: RateLimit | None = None
    limits_overridden: bool = False
    #: Starts the rate allows right now (starts are spaced evenly: 0 or 1); None without a
    #: task-wide rate.
    tokens_left: int | None = None
    #: When the rate next allows a start, if later than now.
    next_start_at: float | None = None
    #: No job starts before this time: a task raised ``RateLimited``.
    paused_until: float | None = None

    @property
    def running(self) -> int:
        """Jobs running now, in every process."""
        return self.counts.get(JobState.RUNNING, 0)

    @property
    def limits_text(self) -> str:
        """The limits in a few words, for people (CLI, dashboard):
        ``global 5, per key 2, 100/60s (override)``; ``-`` for none."""
        parts = []
        if self.global_concurrency is not None:
            parts.append(f"global {self.global_concurrency}")
        if self.per_key is not None:
            parts.append(f"per key {self.per_key}")
        if self.rate is not None:
            parts.append(f"{self.rate.limit}/{self.rate.per:g}s"
                         + (" per key" if self.rate.per_key else ""))
        if self.paused_until is not None:
            parts.append(f"rate limited until {iso_time(self.paused_until)}")
        text = ", ".join(parts) or "-"
        return text + (" (override)" if self.limits_overridden else "")


@attrs.frozen(kw_only=True)
class Retried:
    """What :meth:`JobAdmin.retry_explained` did: the job's row after the retry, and its
    ``max_attempts`` before, when the retry raised it (the job had used all its attempts)."""

    row: JobRow
    raised_from: int | None = None

    @property
    def notice(self) -> str | None:
        """One line for the operator when ``max_attempts`` was raised, else None."""
        if self.raised_from is None:
            return None
        return (f"job {self.row.id} had used all {self.raised_from} of its attempts:"
                f" max_attempts raised from {self.raised_from} to {self.row.max_attempts}"
                " so that it runs once more")


class JobAdmin:
    """The operator's operations on ``store``; ``registry`` names the tasks it may push,
    ``schedules`` the schedules of the code (a stored schedule not among them is orphaned)."""

    def __init__(
        self, store: JobStore, registry: TaskRegistry, *, schedules: Iterable[Schedule] = ()
    ) -> None:
        self.store = store
        self.registry = registry
        self._schedules = check_schedules(schedules, registry)

    async def push(
        self,
        task: str,
        args: Any,
        *,
        delay: float | None = None,
        run_at: dt.datetime | float | None = None,
        priority: int | None = None,
        unique_key: str | None = None,
        max_attempts: int | None = None,
        expires_at: dt.datetime | float | None = None,
        expire_after: float | None = None,
        unique_for: float | None = None,
        on_conflict: OnConflict = "keep",
        concurrency_key: str | None = None,
    ) -> PushResult:
        """Push a job of the task registered as ``task``, built from ``args`` (plain JSON data).

        Returns the stored row and what the push did (``unique``: inserted, or the key's holder
        kept or replaced; see :class:`Push` for the options). Raises :class:`InvalidPush` before
        anything is written when ``task`` is not registered (``$.task``), ``args`` do not fit
        it (``$.args.<field>``) or an option is invalid (``$.<option>``).
        """
        cls = self.task_type(task)
        try:
            instance = codec.structure(args, cls, name=task)
        except PayloadError as exc:
            raise _args_error(task, exc) from None
        try:
            # build_insert checks every option and the payload before anything is written.
            return await self.store.push_result(
                instance, delay=delay, run_at=run_at, priority=priority, unique_key=unique_key,
                max_attempts=max_attempts, expires_at=expires_at, expire_after=expire_after,
                unique_for=unique_for, on_conflict=on_conflict, concurrency_key=concurrency_key,
            )
        except PayloadError as exc:  # the task built from the args would not decode again
            raise _args_error(task, exc) from None
        except StoreError:
            raise  # a database failure (ConstraintViolation is a ValueError too) stays itself
        except ValueError as exc:
            message = str(exc)
            raise InvalidPush(message, title=message,
                              fields={_option_field(message): message}) from None

    def task_type(self, task: str) -> type[Task]:
        """The class registered as ``task``; :class:`InvalidPush` naming ``$.task`` (and the
        registered names) if there is none."""
        try:
            return self.registry.get(task)
        except UnknownTask:
            known = f"unknown task {task!r}; known: {', '.join(self.registry.names())}"
            raise InvalidPush(known, title=f"unknown task {task!r}",
                              fields={"$.task": known}) from None

    async def task_known(self, task: str) -> bool:
        """Whether ``task`` is registered, or has a job or a queue row in the store (the jobs
        of a task removed from the code stay listable)."""
        if task in self.registry:
            return True
        if await self.store.job_list(JobFilter(task=task, limit=1)):
            return True
        return task in await self.store.queue_paused()

    async def get(self, job_id: int) -> JobRow:
        """The job ``job_id``; :class:`JobNotFound` if there is none."""
        return await self.store.job_get(job_id)

    async def wait(self, job_id: int, timeout: float) -> JobRow:  # noqa: ASYNC109 (long-poll)
        """The job once final, or as it is after ``timeout`` s (see ``JobStore.job_wait``)."""
        return await self.store.job_wait(job_id, timeout)

    async def list(self, where: JobFilter) -> builtins.list[JobRow]:
        """The jobs ``where`` selects, newest first."""
        return await self.store.job_list(where)

    async def retry(self, job_id: int) -> JobRow:
        """Make a finished or waiting job ``available`` now; its row after.

        A job that has used all its attempts gets one more: ``max_attempts`` becomes
        ``attempt + 1`` (:meth:`retry_explained` says when that happened).

        :class:`JobNotFound` for an unknown id, :class:`InvalidTransition` for a job that is
        available or running.
        """
        return (await self.retry_explained(job_id)).row

    async def retry_explained(self, job_id: int) -> Retried:
        """:meth:`retry`, with what it changed beyond the state: the row after, and the
        ``max_attempts`` the job had when the retry had to raise it (for the operator's output).
        """
        before = await self.store.job_get(job_id)
        row = await self.store.job_retry(job_id, self.store.clock.now())
        raised = before.max_attempts if row.max_attempts > before.max_attempts else None
        return Retried(row=row, raised_from=raised)

    async def cancel(self, job_id: int, reason: str = CANCEL_REASON) -> JobRow:
        """Cancel an unfinished job, recording ``reason``; its row after.

        :class:`JobNotFound` for an unknown id, :class:`InvalidTransition` for a finished job.
        """
        return await self.store.job_cancel(job_id, self.store.clock.now(), reason)

    async def cancel_workflow(
        self, workflow_id: int, reason: str = CANCEL_REASON
    ) -> builtins.list[int]:
        """Cancel every unfinished member of a workflow, running ones included, in one
        transaction, recording ``reason``; the ids cancelled (none if all had finished).

        :class:`WorkflowNotFound` for an unknown id.
        """
        return await self.store.workflow_cancel(workflow_id, self.store.clock.now(), reason)

    async def pause(self, task: str) -> None:
        """Stop every process claiming jobs of ``task``; :class:`QueueNotFound` if ``task`` is
        not registered."""
        await self._set_paused(task, True)

    async def resume(self, task: str) -> None:
        """Let jobs of ``task`` be claimed again; :class:`QueueNotFound` as for :meth:`pause`."""
        await self._set_paused(task, False)

    async def _set_paused(self, task: str, paused: bool) -> None:
        if task not in self.registry:
            raise QueueNotFound(task)
        await self.store.queue_set_paused(task, paused)

    async def queues(self) -> builtins.list[QueueSummary]:
        """Every queue, by task name: the registered tasks and any other task that has jobs."""
        counts = await self.store.job_count_by_state()
        paused = await self.store.queue_paused()
        flow = {row.task: row for row in await self.store.queue_limits()}
        now = self.store.clock.now()
        names = sorted({*self.registry.names(), *(task for task, _ in counts)})
        queues = []
        for name in names:
            registered = name in self.registry
            options = self.registry.get(name).options if registered else None
            row = flow.get(name)
            override = None if row is None else row.override
            limits = None if options is None else effective(options.limits, override)
            rate = None if limits is None else limits.rate
            next_start = None if row is None else row.rate_next_at
            if rate is None or rate.per_key or (next_start is not None and next_start <= now):
                next_start = None
            blocked = None if row is None else row.blocked_until
            queues.append(QueueSummary(
                task=name, registered=registered,
                concurrency=None if options is None else options.concurrency,
                paused=name in paused,
                counts={s: counts.get((name, s), 0) for s in JobState},
                global_concurrency=None if limits is None else limits.global_concurrency,
                per_key=None if limits is None else limits.per_key,
                rate=rate,
                limits_overridden=bool(override),
                tokens_left=(None if rate is None or rate.per_key
                             else 0 if next_start is not None else 1),
                next_start_at=next_start,
                paused_until=blocked if blocked is not None and blocked > now else None,
            ))
        return queues

    async def set_limits(self, task: str, body: Any) -> QueueSummary:
        """Override the limits of ``task`` in every process (within a second) with ``body``
        (JSON data: ``global_concurrency``, ``per_key``, ``rate`` {``limit``, ``per``,
        ``per_key``}; a field given as null removes that limit, one left out keeps the code's).

        Returns the queue after. :class:`QueueNotFound` if ``task`` is not registered;
        :class:`InvalidLimits` naming each wrong field, before anything is stored.
        """
        if task not in self.registry:
            raise QueueNotFound(task)
        override = override_from_json(body)
        await self.store.queue_set_limits(task, encode_override(override))
        return await self.queue(task)

    async def clear_limits(self, task: str) -> QueueSummary:
        """Drop the override of ``task``: the code's limits again, in every process within a
        second. :class:`QueueNotFound` if ``task`` is not registered."""
        if task not in self.registry:
            raise QueueNotFound(task)
        await self.store.queue_set_limits(task, None)
        return await self.queue(task)

    async def queue(self, task: str) -> QueueSummary:
        """The queue of ``task``; :class:`QueueNotFound` if it is unregistered and has no jobs."""
        for queue in await self.queues():
            if queue.task == task:
                return queue
        raise QueueNotFound(task)

    async def schedules(self) -> builtins.list[ScheduleSummary]:
        """Every schedule, of the code or stored (orphaned), by name."""
        return await list_schedules(self.store, self._schedules)

    async def schedule(self, name: str) -> ScheduleSummary:
        """One schedule; :class:`ScheduleNotFound` if neither the code nor the store has it."""
        return await get_schedule(self.store, self._schedules, name)

    async def pause_schedule(self, name: str) -> ScheduleSummary:
        """Stop ``name`` pushing jobs, in every process; :class:`ScheduleNotFound` if unknown."""
        return await set_paused(self.store, self._schedules, name, True)

    async def resume_schedule(self, name: str) -> ScheduleSummary:
        """Let ``name`` push jobs again; the ticks it missed follow its ``catch_up`` policy."""
        return await set_paused(self.store, self._schedules, name, False)

    async def bulk_count(self, action: BulkAction, where: JobFilter) -> int:
        """How many jobs :meth:`bulk` would act on now (``where.limit`` ignored)."""
        narrowed = _allowed(where, action)
        return 0 if narrowed is None else await self.store.job_count(narrowed)

    async def newest_id(self) -> int | None:
        """The id of the newest job, if any: a bulk action up to it leaves later jobs alone."""
        rows = await self.store.job_list(JobFilter(limit=1))
        return rows[0].id if rows else None

    async def bulk(
        self, action: BulkAction, where: JobFilter, reason: str = CANCEL_REASON
    ) -> BulkResult:
        """Retry, cancel or delete every job ``where`` selects (``where.before_id`` bounds it:
        only older jobs), in batches of :data:`BULK_BATCH`, newest first. Jobs in states the
        action does not apply to are left alone (a running job is never deleted: cancel it
        first). ``where.limit`` is ignored."""
        changed = selected = raised = 0
        cursor = where.before_id
        while True:
            batch_where = attrs.evolve(where, before_id=cursor, limit=BULK_BATCH)
            now = self.store.clock.now()
            if action is BulkAction.RETRY:
                batch = await self.store.job_retry_many(batch_where, now)
            elif action is BulkAction.CANCEL:
                batch = await self.store.job_cancel_many(batch_where, now, reason)
            else:
                batch = await self.store.job_delete_many(batch_where)
            changed += batch.changed
            selected += batch.selected
            raised += batch.raised
            if batch.selected < BULK_BATCH or batch.lowest_id is None:
                break
            cursor = batch.lowest_id
        return BulkResult(action=action, changed=changed, skipped=selected - changed,
                          raised=raised)

    async def workers(self) -> builtins.list[WorkerRow]:
        """Every worker process recorded by its heartbeats, most recently seen first (see
        ``worker_status`` for live, stopped and gone)."""
        return await self.store.worker_list()

    async def throughput(self, minutes: int = 60) -> builtins.list[Minute]:
        """Jobs completed and discarded per minute over the last ``minutes`` minutes, oldest
        first, the current minute last."""
        now = self.store.clock.now()
        start = since(now, minutes)
        counts = await self.store.job_finished_per_minute(start, start + MINUTE * minutes)
        return per_minute(counts, now, minutes)

    async def counts(self, task: str | None = None) -> dict[JobState, int]:
        """Jobs by state, of ``task`` or of every task; states without jobs are left out."""
        counts: dict[JobState, int] = {}
        for (job_task, job_state), count in (await self.store.job_count_by_state()).items():
            if task is None or job_task == task:
                counts[job_state] = counts.get(job_state, 0) + count
        return counts


def _allowed(where: JobFilter, action: BulkAction) -> JobFilter | None:
    """``where`` narrowed to the states ``action`` applies to; None when that leaves none."""
    states = where.state_set()
    allowed = action.sources if states is None else states & action.sources
    return attrs.evolve(where, state=None, states=allowed) if allowed else None


def _args_error(task: str, exc: PayloadError) -> InvalidPush:
    fields = {"$.args" + path.removeprefix("$"): problem for path, problem in exc.fields.items()}
    return InvalidPush(str(exc), title=f"args do not fit task {task!r}", fields=fields)


def _option_field(message: str) -> str:
    for name in PUSH_OPTIONS:
        if message.startswith(name) or f" {name}" in message:
            return f"$.{name}"
    return "$"
