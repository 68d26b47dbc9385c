"""The jobs engine: tasks, the durable store, and the TaskWorker. Generic: knows no app domain.

``PostgresStore`` is imported on first use: a SQLite-only process never loads psycopg.
"""

from typing import TYPE_CHECKING, Any

from ._clock import Clock, SystemClock, TrioClock, to_datetime
from ._codec import structure as structure_payload
from ._errors import (
    Cancel,
    ConstraintViolation,
    InvalidTransition,
    JobNotFound,
    JobOutcome,
    PayloadError,
    ServiceError,
    Snooze,
    StoreBusy,
    StoreError,
    StoreUnavailable,
    UnknownTask,
)
from ._log import emit
from ._migrations import Migration
from ._push import Push
from ._retry import Backoff
from ._runner import InlineRunner, Runner, ThreadRunner
from ._sqlite import SQLiteStore
from ._states import CANCEL_SOURCES, RETRY_SOURCES, JobState
from ._store import JobFilter, JobRow, JobStore, SetStateIfRunning, Transaction
from ._task import JobContext, Task, TaskOptions, TaskRegistry
from ._watchdog import LoopWatchdog
from ._worker import Retention, TaskWorker, WorkerConfig

if TYPE_CHECKING:
    from ._postgres import PostgresStore


def __getattr__(name: str) -> Any:
    if name == "PostgresStore":
        from ._postgres import PostgresStore

        return PostgresStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CANCEL_SOURCES",
    "RETRY_SOURCES",
    "Backoff",
    "Cancel",
    "Clock",
    "ConstraintViolation",
    "InlineRunner",
    "InvalidTransition",
    "JobContext",
    "JobFilter",
    "JobNotFound",
    "JobOutcome",
    "JobRow",
    "JobState",
    "JobStore",
    "LoopWatchdog",
    "Migration",
    "PayloadError",
    "PostgresStore",
    "Push",
    "Retention",
    "Runner",
    "SQLiteStore",
    "ServiceError",
    "SetStateIfRunning",
    "Snooze",
    "StoreBusy",
    "StoreError",
    "StoreUnavailable",
    "SystemClock",
    "Task",
    "TaskOptions",
    "TaskRegistry",
    "TaskWorker",
    "ThreadRunner",
    "Transaction",
    "TrioClock",
    "UnknownTask",
    "WorkerConfig",
    "emit",
    "structure_payload",
    "to_datetime",
]
