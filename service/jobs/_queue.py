"""One task type's share of a worker: its claim loop and a child nursery of its running jobs."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from contextlib import nullcontext
from functools import partial
from typing import Any

import attrs
import trio

from . import _codec as codec
from . import _log as log
from . import _outcomes as outcomes
from ._attempt import (
    CANCELLED_FROM_OUTSIDE,
    LEASE_LOST,
    OPERATOR_CANCELLED,
    Attempt,
    CancelReason,
    LeaseLost,
    OperatorCancelled,
    Shutdown,
    stop_reason,
    with_progress,
)
from ._batcher import OutcomeBatcher
from ._clock import Clock, iso_time, to_datetime
from ._config import WorkerConfig
from ._errors import Cancel, PayloadError, RateLimited, Snooze, StoreError
from ._limits import Limits, QueueLimitsRow, Throttle, effective
from ._progress import ProgressBuffer, ProgressUpdate
from ._run_in import LoopBody, body_for
from ._states import JobState
from ._store import ClaimedJob, JobStore, SetStateIfRunning
from ._task import JobContext, Task, TaskOptions, task_options

__all__ = ["BACKLOG_SLOTS", "CANCELLED_FROM_OUTSIDE", "LEASE_LOST", "OPERATOR_CANCELLED",
           "Attempt", "CancelReason", "LeaseLost", "OperatorCancelled", "QueueContext",
           "Shutdown", "TaskQueue", "with_progress"]
from ._tracing import traced_attempt
from ._wakeup import Wakeup

#: Jobs in flight (running, or their outcome being written) per slot, at most. It bounds how far
#: claims run ahead of slow outcome writes; measured on PostgreSQL (`bench.burn_down`, 20,000
#: no-op jobs, quiet machine): 2 cost concurrency 10 a fifth of its throughput (4.3k vs 5.5k
#: jobs/s) against 10 (concurrency 100: 15.6k vs 16.2k).
BACKLOG_SLOTS = 10


@attrs.frozen(kw_only=True)
class QueueContext:
    """What a :class:`TaskQueue` uses of its worker, built and handed down by the worker."""

    store: JobStore
    owner: str
    clock: Clock
    config: WorkerConfig
    batcher: OutcomeBatcher
    #: Handed to each task as ``ctx.state``.
    state: Any
    #: Called after each recorded attempt with (task, seconds, outcome): metrics hook.
    on_attempt: Callable[[str, float, SetStateIfRunning], None] | None
    #: A job of this task will want to run at this time (retry, snooze, interruption).
    note_run_at: Callable[[str, float], None]
    #: Called when a limited claim was held back, with (task, reason): metrics hook.
    on_throttle: Callable[[str, str], None] | None = None
    #: Called with each claim's job ids once their attempts are in ``in_flight`` (a cancel
    #: heard between the claim's commit and then is acted on here).
    on_claimed: Callable[[list[int]], None] | None = None


class TaskQueue:
    """Claims jobs of one task type in batches sized to free slots and runs each in its nursery."""

    def __init__(self, context: QueueContext, cls: type[Task]) -> None:
        self.context = context
        self.cls = cls
        self.options: TaskOptions = task_options(cls)
        self.name = self.options.name
        self.wakeup = Wakeup()
        self._slot_freed = Wakeup()
        #: Runs each attempt's task code: on the loop, in a thread or in a process.
        self.body = body_for(cls, self.options, self._slot_freed.set)
        #: The task runs on the loop (the default): awaited in the attempt itself.
        self._on_loop = isinstance(self.body, LoopBody)
        self._claim_scope = trio.CancelScope()
        #: job id -> its current attempt, for every job whose outcome is not yet recorded
        self.in_flight: dict[int, Attempt] = {}
        #: jobs whose attempt ended and whose outcome is being written
        self._recording = 0
        #: (id, attempt) of those whose outcome leaves them out of the queue: they hold no
        #: slot for this worker's limited claims (see ``JobStore.job_claim_limited``).
        self._ended: dict[int, int] = {}
        #: The limits claims apply: the code's, or an operator's override (see apply_row).
        self.limits: Limits = self.options.limits
        #: No job starts before this store time (a ``RateLimited`` of the whole task).
        self.blocked_until: float | None = None
        self._limits_changed = Wakeup()
        #: Claimed attempts no slot task has taken yet (see :meth:`_slot`).
        self._ready: deque[Attempt] = deque()
        #: Slot tasks waiting for an attempt.
        self._idle_slots = trio.lowlevel.ParkingLot()
        self._claiming_done = False

    def apply_row(self, row: QueueLimitsRow | None, keyed_jobs: bool) -> None:
        """Take the queue's stored limits (read every ``limits_refresh`` s by the worker):
        an operator's override, a pause from ``RateLimited`` in any process; and whether
        available jobs carry keys (then claims take them round-robin)."""
        limits = effective(self.options.limits, None if row is None else row.override,
                           computes_keys=self.options.concurrency_key is not None)
        if keyed_jobs and not limits.keyed:
            limits = attrs.evolve(limits, keyed=True)
        # A pause this process made may be newer than the row read: keep the later one.
        pauses = [at for at in (None if row is None else row.blocked_until, self.blocked_until)
                  if at is not None and at > self.context.clock.now()]
        blocked = max(pauses, default=None)
        if limits != self.limits or blocked != self.blocked_until:
            self.limits, self.blocked_until = limits, blocked
            self._limits_changed.set()
            self.wakeup.set()

    @property
    def free_slots(self) -> int:
        """Attempts that may start now: concurrency bounds attempts running, not outcomes
        waiting to be written; a thread abandoned by its attempt still holds its slot."""
        concurrency = self.options.concurrency
        free = concurrency - (len(self.in_flight) - self._recording) - self.body.lingering
        # Outcomes waiting to be written hold no slot, up to BACKLOG_SLOTS - 1 per slot: past that,
        # claims wait for the writes, so a store that records slower than jobs finish is not
        # buried under ever more running jobs (and ever bigger outcome batches and renewals).
        free = min(free, BACKLOG_SLOTS * concurrency - len(self.in_flight))
        limit = self.limits.global_concurrency
        if limit is not None:
            # Our claims count our own outcomes still being written as free (``ended``),
            # except an interruption's (it returns the job to the queue). A thread abandoned by
            # its attempt still runs task code: it keeps its share of the limit here too.
            free = min(free, limit - (len(self.in_flight) - len(self._ended))
                       - self.body.lingering)
        return free

    # -- claiming ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Claim until :meth:`stop_claiming`; then wait for jobs in flight and their outcomes."""
        try:
            async with trio.open_nursery() as jobs:
                with self._claim_scope:
                    await self._claim_loop(jobs)
                self._claiming_done = True
                self._idle_slots.unpark_all()
        except BaseException as exc:
            # Cancelled from outside (or worse) with attempts no slot took: return them.
            await self._return_unstarted(stop_reason(exc))
            raise
        while self.in_flight:
            self._slot_freed.clear()
            if self.in_flight:
                await self._slot_freed.wait()

    async def _slot(self) -> None:
        """One slot of the task's concurrency: runs claimed attempts one after another.

        Slot tasks live as long as the queue claims (started as claims need more of them,
        never more than the attempts running at once), so an attempt costs no task of its own.
        """
        ready = self._ready
        while True:
            if ready:
                await self._run_job(ready.popleft())
            elif self._claiming_done:
                return
            else:
                await self._idle_slots.park()

    async def _return_unstarted(self, reason: str) -> None:
        unstarted = list(self._ready)
        self._ready.clear()
        if not unstarted:
            return
        with trio.CancelScope(shield=True):
            try:
                await self.context.store.job_set_state_if_running_many(
                    [self._interrupted(attempt.row, reason) for attempt in unstarted])
            except StoreError as exc:  # their leases expire: rescued as any lost job
                log.event(logging.WARNING, "queue.return_failed", task=self.name,
                          error=str(exc))
        for attempt in unstarted:
            self._release(attempt)

    def stop_claiming(self) -> None:
        self._claim_scope.cancel()

    def progress_reported(self) -> dict[int, tuple[Attempt, ProgressUpdate]]:
        """job id -> (its attempt, what it reported and is not yet written), for a renewal."""
        reported = {}
        for job_id, attempt in self.in_flight.items():
            update = attempt.progress.pending()
            if update is not None:
                reported[job_id] = (attempt, update)
        return reported

    def cancel_jobs(self, reason: CancelReason) -> None:
        for job_id in list(self.in_flight):
            self.cancel_job(job_id, reason)

    def cancel_job(self, job_id: int, reason: CancelReason) -> None:
        """Cancel the attempt of ``job_id``, if it is still running here."""
        attempt = self.in_flight.get(job_id)
        if attempt is not None:
            attempt.cancel(reason)

    async def _claim_loop(self, jobs: trio.Nursery) -> None:
        context, config = self.context, self.context.config
        poll = config.poll_min
        failures = 0
        while True:
            # While outcomes are being written, more slots are about to free: wait until half
            # are free, so that many one-job claims become one, yet the next batch runs on
            # trio while the database writes the last one's outcomes.
            free = self.free_slots
            if free <= 0 or (self._recording and free < max(1, self.options.concurrency // 2)):
                self._slot_freed.clear()
                await self._slot_freed.wait()
                continue
            self.wakeup.clear()
            self._limits_changed.clear()
            now = context.clock.now()
            throttle: Throttle | None = None
            try:
                limits = self.limits
                if limits.any or (self.blocked_until is not None and self.blocked_until > now):
                    claimed = await context.store.job_claim_limited(
                        self.name, context.owner, self.free_slots, now, now + config.lease_ttl,
                        limits, ended=list(self._ended.items()),
                    )
                    rows, throttle = claimed.jobs, claimed.throttle
                else:  # no limits: the plain claim, exactly as without flow control
                    rows = await context.store.job_claim(
                        self.name, context.owner, self.free_slots, now, now + config.lease_ttl
                    )
            except StoreError as exc:
                failures += 1
                log.event(logging.WARNING, "queue.claim_failed", task=self.name, error=str(exc))
                await trio.sleep(min(config.poll_max, config.poll_min * 2**failures))
                continue
            failures = 0
            now_fn = context.clock.now
            for row in rows:
                earlier = self.in_flight.get(row.id)
                if earlier is not None:
                    # Our own earlier attempt lost its lease (renewals failed) and the job was
                    # rescued and claimed again: that attempt stops, this one takes its slot.
                    earlier.cancel(LEASE_LOST)
                attempt = self.in_flight[row.id] = Attempt(row, progress=ProgressBuffer(now=now_fn))
                self._ready.append(attempt)
            if rows:
                self._start_attempts(jobs)
                if context.on_claimed is not None:
                    context.on_claimed([row.id for row in rows])
            if throttle is not None:
                if context.on_throttle is not None:
                    context.on_throttle(self.name, throttle.reason)
                if throttle.retry_at is not None:
                    # A rate or a pause: nothing can start before retry_at, whatever is pushed.
                    await self._limits_changed.wait(max(0.0, throttle.retry_at - now))
                    poll = config.poll_min
                    continue
                # Every slot is taken: one frees when a job finishes, here (our outcomes wake
                # us) or in another process (seen by the poll).
            if rows:
                poll = config.poll_min
                continue
            if await self.wakeup.wait(poll):
                poll = config.poll_min
            else:
                poll = min(poll * 2, config.poll_max)

    def _start_attempts(self, jobs: trio.Nursery) -> None:
        """Hand the ready attempts to idle slot tasks, starting more where too few wait."""
        idle = len(self._idle_slots)
        for _ in range(len(self._ready) - idle):
            jobs.start_soon(self._slot, name=f"slot {self.name}")
        self._idle_slots.unpark(count=min(idle, len(self._ready)))

    # -- running one job --------------------------------------------------------------------

    async def _run_job(self, attempt: Attempt) -> None:
        row = attempt.row
        try:
            outcome = await self._attempt(attempt)
        except BaseException as exc:
            # Cancelled from outside the worker (or worse): return the job, then propagate.
            reason = stop_reason(exc)
            with trio.CancelScope(shield=True):
                await self.context.store.job_set_state_if_running_many(
                    [with_progress(self._interrupted(row, reason), attempt)]
                )
            self._release(attempt)
            raise
        if outcome is None:
            cancel_reason = attempt.cancel_reason
            if isinstance(cancel_reason, OperatorCancelled):  # recorded by the cancel itself
                log.event(logging.INFO, "job.cancelled_while_running", id=row.id, task=self.name,
                          attempt=row.attempt)
                self._release(attempt)
                return
            if not isinstance(cancel_reason, Shutdown) or self.in_flight.get(row.id) is not attempt:
                log.event(logging.WARNING, "job.lease_lost", id=row.id, task=self.name)
                self._release(attempt)
                return
            outcome = self._interrupted(row, cancel_reason.message())
        if attempt.rate_limited is not None:
            await self._pause_for(attempt)
        self._recording += 1
        if outcome.state is not JobState.AVAILABLE and self.limits.global_concurrency is not None:
            # Only limited claims read it; one turned on meanwhile counts too few as ended
            # for a moment: it claims less, never more.
            self._ended[row.id] = row.attempt
        self._slot_freed.set()
        outcome = with_progress(outcome, attempt)
        self.context.batcher.submit(outcome, partial(self._recorded, attempt, outcome))

    async def _pause_for(self, attempt: Attempt) -> None:
        """The task raised ``RateLimited``: pause the task (or the job's key) in every process,
        before its outcome frees its slot."""
        limited = attempt.rate_limited
        assert limited is not None
        key = attempt.row.concurrency_key if limited.per_key else None
        until = self.context.clock.now() + limited.retry_after
        if key is None:
            self.blocked_until = max(self.blocked_until or until, until)
        try:
            with trio.CancelScope(shield=True):
                await self.context.store.queue_block(self.name, key, until)
        except StoreError as exc:
            log.event(logging.WARNING, "queue.pause_failed", task=self.name, error=str(exc))
        log.event(logging.INFO, "queue.rate_limited", task=self.name, id=attempt.row.id,
                  key=key, retry_after=limited.retry_after)

    def _recorded(self, attempt: Attempt, outcome: SetStateIfRunning, matched: bool | None
                  ) -> None:
        """The outcome of ``attempt`` was written (or given up on): free its slot."""
        context = self.context
        self._recording -= 1
        if self._ended.get(attempt.row.id) == attempt.row.attempt:
            del self._ended[attempt.row.id]
        self._log_outcome(attempt, outcome, matched)
        if matched and context.on_attempt is not None:
            context.on_attempt(self.name, attempt.duration, outcome)
        if matched and outcome.run_at is not None:
            context.note_run_at(self.name, outcome.run_at)
        if self.limits.serialised:  # a slot everyone counts is free: look again
            self.wakeup.set()
        self._release(attempt)

    def _release(self, attempt: Attempt) -> None:
        """Free the slot of ``attempt`` -- unless its job was claimed again meanwhile and the
        slot is now that newer attempt's."""
        if self.in_flight.get(attempt.row.id) is attempt:
            del self.in_flight[attempt.row.id]
        self._slot_freed.set()

    def _interrupted(self, row: ClaimedJob, reason: str) -> SetStateIfRunning:
        return outcomes.interrupted(row, self.context.owner, self.context.clock.now(), reason)

    async def _attempt(self, attempt: Attempt) -> SetStateIfRunning | None:
        """Run the task once; the outcome to record, or None if its scope was cancelled."""
        row, context = attempt.row, self.context
        owner, clock, backoff = context.owner, context.clock, self.options.backoff
        try:
            task = codec.decode(row.args, self.cls, name=self.name)
        except PayloadError as exc:
            log.event(logging.ERROR, "job.undecodable", id=row.id, task=self.name, error=str(exc))
            return outcomes.undecodable(row, owner, clock.now(), exc)
        try:
            if row.checkpoint is not None:
                attempt.progress.start_from(row.checkpoint)
        except ValueError as exc:  # only an edit of the row by hand gets here
            log.event(logging.WARNING, "job.checkpoint_undecodable", id=row.id, task=self.name,
                      error=str(exc))
        try:
            dependencies = (
                tuple(await context.store.job_dependencies(row.id)) if row.dependencies
                else ()
            )
        except StoreError as exc:
            return outcomes.failed(row, owner, clock.now(), backoff, exc)
        ctx = JobContext(
            job_id=row.id,
            task=self.name,
            attempt=row.attempt,
            max_attempts=row.max_attempts,
            state=context.state,
            traceparent=row.traceparent,
            tick=to_datetime(row.tick),
            workflow_id=row.workflow_id,
            dependencies=dependencies,
            progress_buffer=attempt.progress,
        )
        timeout = self.options.timeout
        log.event(logging.INFO, "job.started", id=row.id, task=self.name, attempt=row.attempt)
        started = attempt.started_at = trio.current_time()
        outcome: SetStateIfRunning | None = None
        trace, traced = traced_attempt(ctx)
        with traced, attempt.scope:
            try:
                limit = trio.move_on_after(timeout) if timeout else nullcontext()
                with limit:
                    if self._on_loop:  # no body frame of its own: one less per job
                        value = await task.run(ctx)
                        result = None if value is None else codec.encode(value, name=self.name)
                    else:
                        result = await self.body.run(task, ctx, row.args)
                    outcome = outcomes.completed(row, owner, clock.now(), result)
                if outcome is None:
                    outcome = outcomes.timed_out(row, owner, clock.now(), backoff, timeout or 0,
                                                 killed=self.body.kills)
            except Snooze as snooze:
                outcome = outcomes.snoozed(row, owner, clock.now(), snooze)
            except RateLimited as limited:
                attempt.rate_limited = limited
                outcome = outcomes.rate_limited(row, owner, clock.now(), limited.retry_after)
            except Cancel as cancel:
                outcome = outcomes.cancelled(row, owner, clock.now(), cancel)
            except Exception as exc:
                outcome = outcomes.failed(row, owner, clock.now(), backoff, exc)
            if trace is not None and outcome is not None:
                trace.state, trace.error = outcome.state, outcome.error
        attempt.duration = trio.current_time() - started
        return outcome

    def _log_outcome(
        self, attempt: Attempt, outcome: SetStateIfRunning, matched: bool | None
    ) -> None:
        row = attempt.row
        if matched is None:
            log.event(logging.ERROR, "job.outcome_unrecorded", id=row.id, task=self.name)
            return
        if not matched:
            log.event(logging.WARNING, "job.outcome_dropped", id=row.id, task=self.name,
                      reason="no longer running under this worker")
            return
        # ms: how long the attempt ran, as http.request's ms says how long a request took.
        fields: dict[str, Any] = {"id": row.id, "task": self.name, "attempt": row.attempt,
                                  "ms": round(attempt.duration * 1000, 2)}
        if outcome.error is not None:
            fields["error"] = outcome.error.message
        if outcome.run_at is not None:
            fields["run_at"] = iso_time(outcome.run_at)
        level = logging.INFO if outcome.error is None else logging.WARNING
        log.event(level, f"job.{outcome.state.value}", **fields)

