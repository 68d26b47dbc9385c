"""Group commit: pushes that arrive while a push is being written share the next transaction.

The first caller to find no write in progress becomes the leader and writes every queued batch
in one transaction; callers that arrive meanwhile queue, and when the write is done the leader
hands the lead to the first of them, who writes all that queued, and so on. A leader writes one
group and returns: under a steady stream of callers no one keeps writing others' groups while
its own caller waits (which made a push's latency grow without bound under overload). Waiting
is shielded, like every database call here: a push that was handed over completes, and a
cancellation is delivered after it. If a group fails, each batch in it is
retried alone, so one bad push cannot fail the others.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

import attrs
import trio

T = TypeVar("T")
R = TypeVar("R")


@attrs.define
class _Waiter(Generic[T, R]):
    items: Sequence[T]
    #: Set when its items are written (``done``) or when it is handed the lead.
    wake: trio.Event = attrs.field(factory=trio.Event)
    done: bool = False
    result: list[R] | None = None
    error: BaseException | None = None

    def finish(self) -> None:
        self.done = True
        self.wake.set()


class GroupCommit(Generic[T, R]):
    """Runs ``write(items) -> results`` (one result per item) for many callers at once."""

    def __init__(self, write: Callable[[Sequence[T]], Awaitable[list[R]]]) -> None:
        self._write = write
        self._queue: list[_Waiter[T, R]] = []
        self._leading = False

    async def run(self, items: Sequence[T]) -> list[R]:
        waiter: _Waiter[T, R] = _Waiter(items)
        self._queue.append(waiter)
        with trio.CancelScope(shield=True):
            if self._leading:
                await waiter.wake.wait()  # written, or the lead was passed to it
            else:
                self._leading = True
            if not waiter.done:  # the leader: the queue holds its own batch first
                try:
                    group, self._queue = self._queue, []
                    await self._write_group(group)
                finally:
                    if self._queue:
                        self._queue[0].wake.set()  # the lead passes on; _leading stays set
                    else:
                        self._leading = False
        if waiter.error is not None:
            raise waiter.error
        assert waiter.result is not None
        return waiter.result

    async def _write_group(self, group: list[_Waiter[T, R]]) -> None:
        if len(group) > 1:
            try:
                results = await self._write([item for w in group for item in w.items])
            except Exception:
                pass  # retried one by one below, so each caller gets its own error
            else:
                start = 0
                for waiter in group:
                    waiter.result = results[start:start + len(waiter.items)]
                    start += len(waiter.items)
                    waiter.finish()
                return
        for waiter in group:
            try:
                waiter.result = await self._write(waiter.items)
            except Exception as exc:
                waiter.error = exc
            waiter.finish()
