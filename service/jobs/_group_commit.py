"""Group commit: pushes that arrive while a push is being written share the next transaction.

The first caller to find no write in progress becomes the leader and writes every queued batch
in one transaction, then whatever queued meanwhile, until none is left; the others wait for
their results. Waiting is shielded, like every database call here: a push that was handed over
completes, and a cancellation is delivered after it. If a group fails, each batch in it is
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
    done: trio.Event = attrs.field(factory=trio.Event)
    result: list[R] | None = None
    error: BaseException | None = None


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
                await waiter.done.wait()
            else:
                self._leading = True
                try:
                    while self._queue:
                        group, self._queue = self._queue, []
                        await self._write_group(group)
                finally:
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
                    waiter.done.set()
                return
        for waiter in group:
            try:
                waiter.result = await self._write(waiter.items)
            except Exception as exc:
                waiter.error = exc
            waiter.done.set()
