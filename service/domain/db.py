"""What the app's repositories need of a store: its clock, transactions, and read queries.

Structural types, so every backend whose store has ``transaction()``, ``query()`` and ``clock``
fits; the SQLite store does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Sequence
    from contextlib import AbstractAsyncContextManager

    from ..jobs import Clock, Task, Workflow


class AppTransaction(Protocol):
    """An open write transaction: app rows and pushed jobs commit or roll back together."""

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement; the rows it returns, if any."""
        ...

    async def push(self, task: Task) -> int:
        """Push a job inside the transaction; the job's id."""
        ...

    async def push_workflow(self, workflow: Workflow) -> list[int]:
        """Push a workflow inside the transaction; its members' job ids, in ``add`` order."""
        ...


class AppStore(Protocol):
    """A store the app's repositories read and write through."""

    clock: Clock

    def transaction(self) -> AbstractAsyncContextManager[AppTransaction]:
        """Begin a write transaction; commit on normal exit, roll back on any exception."""
        ...

    async def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one read-only statement outside any transaction."""
        ...
