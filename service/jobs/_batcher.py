"""Recording attempt outcomes in batches, written by one flusher task per worker.

A finished attempt hands its outcome over with :meth:`OutcomeBatcher.submit` and its task ends
at once; the flusher writes whatever has gathered in one transaction (jobs that finish together
share one write) and then calls each outcome's callback with whether it applied. A write that
keeps failing is given up after a few tries: the job's lease then lapses and it runs again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import attrs
import trio

from . import _log as log
from ._errors import StoreError
from ._store import JobStore, SetStateIfRunning

BATCH_LIMIT = 500
RETRY_DELAYS = (0.05, 0.5, 2.0)

#: Called with True (applied), False (the job was no longer ours) or None (not written).
Done = Callable[[bool | None], None]


@attrs.define
class _Pending:
    outcome: SetStateIfRunning
    done: Done


class OutcomeBatcher:
    def __init__(self, store: JobStore) -> None:
        self._store = store
        self._pending: list[_Pending] = []
        self._work = trio.Event()

    def submit(self, outcome: SetStateIfRunning, done: Done) -> None:
        """Queue ``outcome`` for the next write; ``done`` is called once it is settled."""
        self._pending.append(_Pending(outcome, done))
        self._work.set()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Write batches until cancelled; what is pending then is still written (shielded)."""
        task_status.started()
        try:
            while True:
                await self._work.wait()
                self._work = trio.Event()
                # Let the other jobs that finished in this same scheduling round join in.
                await trio.lowlevel.checkpoint()
                while self._pending:
                    await self._flush_once()
        finally:
            with trio.CancelScope(shield=True):
                while self._pending:
                    await self._flush_once()

    async def _flush_once(self) -> None:
        batch = self._pending[:BATCH_LIMIT]
        del self._pending[:BATCH_LIMIT]
        results = await self._write([p.outcome for p in batch])
        for index, item in enumerate(batch):
            item.done(None if results is None else results[index])

    async def _write(self, outcomes: list[SetStateIfRunning]) -> list[bool] | None:
        for delay in (*RETRY_DELAYS, None):
            try:
                return await self._store.job_set_state_if_running_many(outcomes)
            except StoreError as exc:
                log.event(logging.WARNING, "job.record_failed", jobs=len(outcomes), error=str(exc))
                if delay is None:
                    return None
                await trio.sleep(delay)
        return None
