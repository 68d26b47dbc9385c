"""One task type's share of a worker: its claim loop and a child nursery of its running jobs."""

from __future__ import annotations

import logging
from contextlib import nullcontext
from functools import partial
from typing import TYPE_CHECKING, Any

import trio

from . import _codec as codec
from . import _log as log
from . import _outcomes as outcomes
from ._errors import Cancel, PayloadError, Snooze, StoreError
from ._store import ClaimedJob, SetStateIfRunning
from ._task import JobContext, Task, TaskOptions, task_options
from ._wakeup import Wakeup

if TYPE_CHECKING:
    from ._worker import TaskWorker

SHUTDOWN = "shutdown"
LEASE_LOST = "lease_lost"


class TaskQueue:
    """Claims jobs of one task type in batches sized to free slots and runs each in its nursery."""

    def __init__(self, worker: TaskWorker, cls: type[Task]) -> None:
        self.worker = worker
        self.cls = cls
        self.options: TaskOptions = task_options(cls)
        self.name = self.options.name
        self.wakeup = Wakeup()
        self._slot_freed = Wakeup()
        self._claim_scope = trio.CancelScope()
        #: job id -> cancel scope of its attempt, for every job whose outcome is not yet recorded
        self.in_flight: dict[int, trio.CancelScope] = {}
        #: jobs whose attempt ended and whose outcome is being written
        self._recording = 0
        self._durations: dict[int, float] = {}
        self._cancel_reasons: dict[int, str] = {}

    @property
    def free_slots(self) -> int:
        """Attempts that may start now: concurrency bounds attempts running, not outcomes
        waiting to be written."""
        return self.options.concurrency - (len(self.in_flight) - self._recording)

    # -- claiming ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Claim until :meth:`stop_claiming`; then wait for jobs in flight and their outcomes."""
        async with trio.open_nursery() as jobs:
            with self._claim_scope:
                await self._claim_loop(jobs)
        while self.in_flight:
            self._slot_freed.clear()
            if self.in_flight:
                await self._slot_freed.wait()

    def stop_claiming(self) -> None:
        self._claim_scope.cancel()

    def cancel_jobs(self, reason: str) -> None:
        for job_id in list(self.in_flight):
            self.cancel_job(job_id, reason)

    def cancel_job(self, job_id: int, reason: str) -> None:
        """Cancel the attempt of ``job_id``, if it is still running here."""
        scope = self.in_flight.get(job_id)
        if scope is not None:
            self._cancel_reasons.setdefault(job_id, reason)
            scope.cancel()

    async def _claim_loop(self, jobs: trio.Nursery) -> None:
        config = self.worker.config
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
            now = self.worker.clock.now()
            try:
                rows = await self.worker.store.job_claim(
                    self.name, self.worker.owner, self.free_slots, now, now + config.lease_ttl
                )
            except StoreError as exc:
                failures += 1
                log.event(logging.WARNING, "queue.claim_failed", task=self.name, error=str(exc))
                await trio.sleep(min(config.poll_max, config.poll_min * 2**failures))
                continue
            failures = 0
            for row in rows:
                earlier = self.in_flight.get(row.id)
                if earlier is not None:
                    # Our own earlier attempt lost its lease (renewals failed) and the job was
                    # rescued and claimed again: that attempt stops, this one takes its slot.
                    earlier.cancel()
                    self._cancel_reasons.pop(row.id, None)
                self.in_flight[row.id] = trio.CancelScope()
                jobs.start_soon(self._run_job, row, name=f"job {row.id} {self.name}")
            if rows:
                poll = config.poll_min
                continue
            if await self.wakeup.wait(poll):
                poll = config.poll_min
            else:
                poll = min(poll * 2, config.poll_max)

    # -- running one job --------------------------------------------------------------------

    async def _run_job(self, row: ClaimedJob) -> None:
        scope = self.in_flight[row.id]
        try:
            outcome = await self._attempt(row, scope)
        except BaseException:
            # Cancelled from outside the worker (or worse): return the job, then propagate.
            with trio.CancelScope(shield=True):
                await self.worker.store.job_set_state_if_running_many([self._interrupted(row)])
            self._release(row.id, scope)
            raise
        if outcome is None:
            reason = self._cancel_reasons.get(row.id, LEASE_LOST)
            if reason != SHUTDOWN or self.in_flight.get(row.id) is not scope:
                log.event(logging.WARNING, "job.lease_lost", id=row.id, task=self.name)
                self._release(row.id, scope)
                return
            outcome = self._interrupted(row)
        self._recording += 1
        self._slot_freed.set()
        self.worker.batcher.submit(outcome, partial(self._recorded, row, scope, outcome))

    def _recorded(self, row: ClaimedJob, scope: trio.CancelScope, outcome: SetStateIfRunning,
                  matched: bool | None) -> None:
        """The outcome of ``row`` was written (or given up on): free its slot."""
        worker = self.worker
        self._recording -= 1
        self._log_outcome(row, outcome, matched)
        if matched and worker.on_attempt is not None:
            worker.on_attempt(self.name, self._durations.get(row.id, 0.0), outcome)
        if matched and outcome.run_at is not None:
            worker.note_run_at(self.name, outcome.run_at)
        self._release(row.id, scope)

    def _release(self, job_id: int, scope: trio.CancelScope) -> None:
        """Free the slot of the attempt ``scope`` of ``job_id`` -- unless the job was claimed
        again meanwhile and the slot is now that newer attempt's."""
        if self.in_flight.get(job_id) is scope:
            del self.in_flight[job_id]
            self._cancel_reasons.pop(job_id, None)
            self._durations.pop(job_id, None)
        self._slot_freed.set()

    def _interrupted(self, row: ClaimedJob) -> SetStateIfRunning:
        grace = self.worker.config.shutdown_grace
        return outcomes.interrupted(
            row,
            self.worker.owner,
            self.worker.clock.now(),
            f"interrupted by shutdown: still running after the {grace:g} s grace period",
        )

    async def _attempt(self, row: ClaimedJob, scope: trio.CancelScope) -> SetStateIfRunning | None:
        """Run the task once; the outcome to record, or None if our scope was cancelled."""
        worker = self.worker
        owner, clock, backoff = worker.owner, worker.clock, self.options.backoff
        try:
            task = codec.decode(row.args, self.cls, name=self.name)
        except PayloadError as exc:
            log.event(logging.ERROR, "job.undecodable", id=row.id, task=self.name, error=str(exc))
            return outcomes.undecodable(row, owner, clock.now(), exc)
        ctx = JobContext(
            job_id=row.id,
            task=self.name,
            attempt=row.attempt,
            max_attempts=row.max_attempts,
            state=worker.state,
        )
        timeout = self.options.timeout
        log.event(logging.INFO, "job.started", id=row.id, task=self.name, attempt=row.attempt)
        started = trio.current_time()
        outcome: SetStateIfRunning | None = None
        with scope:
            try:
                limit = trio.move_on_after(timeout) if timeout else nullcontext()
                with limit:
                    result: Any = await task.run(ctx)
                    outcome = outcomes.completed(row, owner, clock.now(), self._encode(result))
                if outcome is None:
                    outcome = outcomes.timed_out(row, owner, clock.now(), backoff, timeout or 0)
            except Snooze as snooze:
                outcome = outcomes.snoozed(row, owner, clock.now(), snooze)
            except Cancel as cancel:
                outcome = outcomes.cancelled(row, owner, clock.now(), cancel)
            except Exception as exc:
                outcome = outcomes.failed(row, owner, clock.now(), backoff, exc)
        self._durations[row.id] = trio.current_time() - started
        return outcome

    def _encode(self, result: Any) -> str | None:
        if result is None:
            return None
        return codec.encode(result, name=self.name)

    def _log_outcome(
        self, row: ClaimedJob, outcome: SetStateIfRunning, matched: bool | None
    ) -> None:
        if matched is None:
            log.event(logging.ERROR, "job.outcome_unrecorded", id=row.id, task=self.name)
            return
        if not matched:
            log.event(logging.WARNING, "job.outcome_dropped", id=row.id, task=self.name,
                      reason="no longer running under this worker")
            return
        fields: dict[str, Any] = {"id": row.id, "task": self.name, "attempt": row.attempt}
        if outcome.error is not None:
            fields["error"] = outcome.error["message"]
        if outcome.run_at is not None:
            fields["run_at"] = round(outcome.run_at, 3)
        level = logging.INFO if outcome.error is None else logging.WARNING
        log.event(level, f"job.{outcome.state.value}", **fields)
