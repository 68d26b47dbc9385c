"""Recording attempt outcomes, batched under load, with no background task.

The first caller to find no flush in progress becomes the flusher: it writes everything pending
in one transaction, then whatever arrived meanwhile, until nothing is left. Writes are shielded
from cancellation, so an outcome that started to be written is written.
"""

from __future__ import annotations

import logging

import attrs
import trio

from . import log
from .errors import StoreError
from .store import JobStore, SetStateIfRunning

BATCH_LIMIT = 500
RETRY_DELAYS = (0.05, 0.5, 2.0)


@attrs.define
class _Pending:
    outcome: SetStateIfRunning
    done: trio.Event = attrs.field(factory=trio.Event)
    matched: bool | None = None  # None: could not be written


class OutcomeBatcher:
    def __init__(self, store: JobStore) -> None:
        self._store = store
        self._pending: list[_Pending] = []
        self._flushing = False

    async def record(self, outcome: SetStateIfRunning) -> bool | None:
        """Write ``outcome``; True if applied, False if the job was no longer ours,
        None if the database kept failing (the lease then lapses and the job runs again)."""
        item = _Pending(outcome)
        self._pending.append(item)
        with trio.CancelScope(shield=True):
            if self._flushing:
                await item.done.wait()
            else:
                self._flushing = True
                try:
                    # Let the other tasks runnable now (jobs that finished together) join.
                    await trio.lowlevel.cancel_shielded_checkpoint()
                    await self._flush()
                finally:
                    self._flushing = False
        return item.matched

    async def _flush(self) -> None:
        while self._pending:
            batch = self._pending[:BATCH_LIMIT]
            del self._pending[:BATCH_LIMIT]
            results = await self._write([p.outcome for p in batch])
            for index, item in enumerate(batch):
                item.matched = None if results is None else results[index]
                item.done.set()

    async def _write(self, outcomes: list[SetStateIfRunning]) -> list[bool] | None:
        for delay in (*RETRY_DELAYS, None):
            try:
                return await self._store.job_set_state_if_running_many(outcomes)
            except StoreError as exc:
                log.event(
                    logging.WARNING, "job.record_failed", jobs=len(outcomes), error=str(exc)
                )
                if delay is None:
                    return None
                await trio.sleep(delay)
        return None
