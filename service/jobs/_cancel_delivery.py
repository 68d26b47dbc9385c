"""Operators' cancels reach the attempts they stop, within moments, on every backend.

The store calls :meth:`CancelDelivery.heard` once an operator's cancel commits: at once in the
process that cancelled, through PostgreSQL's NOTIFY or SQLite's wake channel elsewhere. The
message is a hint: before stopping an attempt, :meth:`CancelDelivery.run` reads the job and
stops it only if its row is ``cancelled`` -- a stale or repeated hint never stops a job that
runs again. A hint that is lost leaves the lease renewal to find the lease gone, as before.

A hint can arrive between a claim's commit and the moment its attempt is counted in flight; the
ids of the latest hints that matched no attempt are kept (:data:`REMEMBERED`), and an attempt
claimed under one of them is checked as it starts (:meth:`CancelDelivery.claimed`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._errors import JobNotFound, StoreError
from ._queue import OPERATOR_CANCELLED
from ._states import JobState
from ._wakeup import Wakeup

#: How many recent hinted ids that matched no running attempt are kept.
REMEMBERED = 1024

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ._queue import TaskQueue
    from ._store import JobStore


class CancelDelivery:
    """Stops this worker's attempts of jobs an operator cancelled (see the module's doc)."""

    def __init__(self, store: JobStore, queues: Mapping[str, TaskQueue]) -> None:
        self._store = store
        self._queues = queues
        self._ids: set[int] = set()
        self._all = False
        #: Recent hinted ids that matched no attempt (dict: insertion-ordered, bounded).
        self._unmatched: dict[int, None] = {}
        self._wakeup = Wakeup()

    def _running_here(self, job_id: int) -> bool:
        return any(job_id in queue.in_flight for queue in self._queues.values())

    def heard(self, job_ids: frozenset[int] | None) -> None:
        """A cancel committed for ``job_ids`` (None: too many to list): check ours among them."""
        if job_ids is None:
            self._all = True
        else:
            ours = []
            for job_id in job_ids:
                if self._running_here(job_id):
                    ours.append(job_id)
                elif len(job_ids) <= REMEMBERED:
                    self._remember(job_id)
            if not ours:
                return
            self._ids.update(ours)
        self._wakeup.set()

    def _remember(self, job_id: int) -> None:
        self._unmatched[job_id] = None
        if len(self._unmatched) > REMEMBERED:
            del self._unmatched[next(iter(self._unmatched))]

    def claimed(self, job_ids: list[int]) -> None:
        """Attempts of ``job_ids`` were just counted in flight: check those a hint named."""
        if not self._unmatched:  # the usual case: no hint is waiting for its attempt
            return
        for job_id in job_ids:
            if self._unmatched.pop(job_id, False) is None:
                self._ids.add(job_id)
                self._wakeup.set()

    async def run(self) -> None:
        while True:
            self._wakeup.clear()
            ids, self._ids = self._ids, set()
            if self._all:
                self._all = False
                ids = {job_id for queue in self._queues.values() for job_id in queue.in_flight}
            if not ids:
                await self._wakeup.wait()
                continue
            for job_id in sorted(ids):
                await self._stop_if_cancelled(job_id)

    async def _stop_if_cancelled(self, job_id: int) -> None:
        if not self._running_here(job_id):
            return
        try:
            row = await self._store.job_get(job_id)
        except (JobNotFound, StoreError):
            return  # the lease renewal settles it
        if row.state is JobState.CANCELLED:
            queue = self._queues.get(row.task)
            if queue is not None:
                queue.cancel_job(job_id, OPERATOR_CANCELLED)
