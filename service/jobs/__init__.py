"""The jobs engine: tasks, the durable store, and the TaskWorker. Generic: knows no app domain.

``PostgresStore`` is imported on first use: a SQLite-only process never loads psycopg.
"""

from typing import TYPE_CHECKING, Any

from .admin import CANCEL_REASON, JobAdmin, QueueSummary, job_json, queue_json
from .clock import Clock, SystemClock, TrioClock
from .errors import (
    Cancel,
    ConstraintViolation,
    InvalidPush,
    InvalidTransition,
    JobNotFound,
    JobOutcome,
    PayloadError,
    QueueNotFound,
    ServiceError,
    Snooze,
    StoreBusy,
    StoreError,
    StoreUnavailable,
    UnknownTask,
    UnsupportedStoreURL,
)
from .factory import open_store
from .migrations import Migration
from .retry import Backoff
from .runner import InlineRunner, Runner, ThreadRunner
from .sqlite import SQLiteStore
from .states import JobState
from .store import JobFilter, JobRow, JobStore, Push, PushResult, Transaction
from .task import JobContext, Task, TaskOptions, TaskRegistry
from .worker import Retention, TaskWorker, WorkerConfig

if TYPE_CHECKING:
    from .postgres import PostgresStore


def __getattr__(name: str) -> Any:
    if name == "PostgresStore":
        from .postgres import PostgresStore

        return PostgresStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CANCEL_REASON",
    "Backoff",
    "Cancel",
    "Clock",
    "ConstraintViolation",
    "InlineRunner",
    "InvalidPush",
    "InvalidTransition",
    "JobAdmin",
    "JobContext",
    "JobFilter",
    "JobNotFound",
    "JobOutcome",
    "JobRow",
    "JobState",
    "JobStore",
    "Migration",
    "PayloadError",
    "PostgresStore",
    "Push",
    "PushResult",
    "QueueNotFound",
    "QueueSummary",
    "Retention",
    "Runner",
    "SQLiteStore",
    "ServiceError",
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
    "UnsupportedStoreURL",
    "WorkerConfig",
    "job_json",
    "open_store",
    "queue_json",
]
