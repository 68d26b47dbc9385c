"""A mutex for the store's one connection that knows its owner and costs nothing uncontended.

``trio.Lock`` yields to the scheduler twice on every acquire; every store call already yields in
its runner, so on the hot path (one push, one claim) those extra trips through the event loop
were pure overhead. Contended acquires park fairly, first come first served.
"""

from __future__ import annotations

import trio


class OwnerLock:
    def __init__(self) -> None:
        self._owner: trio.lowlevel.Task | None = None
        self._lot = trio.lowlevel.ParkingLot()

    @property
    def owner(self) -> trio.lowlevel.Task | None:
        return self._owner

    async def __aenter__(self) -> None:
        task = trio.lowlevel.current_task()
        if self._owner is task:
            raise RuntimeError("OwnerLock is not reentrant")
        if self._owner is None and not self._lot:
            self._owner = task
            return
        await trio.lowlevel.checkpoint_if_cancelled()
        # Ownership is handed over directly by release(), so no one can barge in.
        await self._lot.park()
        assert self._owner is task

    async def __aexit__(self, *exc: object) -> None:
        self.release()

    def release(self) -> None:
        if self._owner is not trio.lowlevel.current_task():
            raise RuntimeError("OwnerLock released by a task that does not hold it")
        if self._lot:
            [self._owner] = self._lot.unpark(count=1)
        else:
            self._owner = None
