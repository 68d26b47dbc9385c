"""A store's in-process listeners: workers waiting for pushes and for operators' cancels.

Both backends keep their listeners here and call them on the trio thread after a commit (their
own, or one another process announced). The tasks each push listener wants are kept too, so a
backend that reaches other processes can ask for only those pushes (:meth:`Listeners.interest`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from ._store import CancelListener, PushListener, Wake


class Listeners:
    def __init__(self, on_change: Callable[[], None] | None = None) -> None:
        self.push: dict[PushListener, frozenset[str] | None] = {}
        self.cancel: list[CancelListener] = []
        #: Called when the interest changes (a listener added or removed).
        self.on_change = on_change

    def add_push(self, listener: PushListener, tasks: Iterable[str] | None) -> None:
        self.push[listener] = None if tasks is None else frozenset(tasks)
        self._changed()

    def remove_push(self, listener: PushListener) -> None:
        if self.push.pop(listener, False) is not False:
            self._changed()

    def add_cancel(self, listener: CancelListener) -> None:
        self.cancel.append(listener)
        self._changed()

    def remove_cancel(self, listener: CancelListener) -> None:
        if listener in self.cancel:
            self.cancel.remove(listener)
            self._changed()

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def interest(self) -> tuple[frozenset[str] | None, bool]:
        """(the tasks pushes should be told of -- None: all, empty: none; whether cancels are)."""
        wanted: set[str] = set()
        for tasks in self.push.values():
            if tasks is None:
                return None, bool(self.cancel)
            wanted |= tasks
        return frozenset(wanted), bool(self.cancel)

    def tell_wake(self, wake: Wake | None) -> None:
        if wake is not None:
            for listener in list(self.push):
                wake.tell(listener)

    def tell_tasks(self, tasks: Iterable[str], run_at: float) -> None:
        """Jobs of ``tasks`` can run from ``run_at`` on (one call per listener)."""
        tasks = frozenset(tasks)
        if tasks:
            for listener in list(self.push):
                listener(tasks, run_at)

    def tell_cancelled(self, job_ids: frozenset[int] | None) -> None:
        """An operator cancelled ``job_ids`` (None: any number of jobs); some may be running."""
        if job_ids is None or job_ids:
            for listener in list(self.cancel):
                listener(job_ids)
