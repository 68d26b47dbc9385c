"""The jobs engine: tasks, the durable store, and the TaskWorker. Generic: knows no app domain.

``PostgresStore`` is imported on first use: a SQLite-only process never loads psycopg.
"""

from typing import TYPE_CHECKING, Any

from ._admin import CANCEL_REASON, JobAdmin, QueueSummary, Retried, job_json, queue_json
from ._attempt_error import AttemptError, ErrorKind
from ._clock import Clock, SystemClock, to_datetime
from ._codec import structure as structure_payload
from ._config import Retention, WorkerConfig
from ._errors import (
    Cancel,
    ConstraintViolation,
    DatabaseNotFound,
    InvalidLimits,
    InvalidPush,
    InvalidTransition,
    JobNotFound,
    JobOutcome,
    PayloadError,
    QueueNotFound,
    RateLimited,
    ServiceError,
    Snooze,
    StoreBusy,
    StoreError,
    StoreUnavailable,
    UnknownTask,
    UnsupportedStoreURL,
)
from ._factory import open_store
from ._limits import RateLimit
from ._log import emit
from ._migrations import Migration
from ._redact import redact_secrets
from ._retry import Backoff
from ._runner import InlineRunner, Runner, ThreadRunner
from ._sqlite import SQLiteStore
from ._states import CANCEL_SOURCES, RETRY_SOURCES, JobState
from ._store import JobFilter, JobRow, JobStore, Push, PushResult, SetStateIfRunning, Transaction
from ._task import JobContext, Task, TaskOptions, TaskRegistry
from ._trio_clock import TrioClock
from ._watchdog import LoopWatchdog
from ._worker import TaskWorker

if TYPE_CHECKING:
    from ._postgres import PostgresStore


def __getattr__(name: str) -> Any:
    if name == "PostgresStore":
        from ._postgres import PostgresStore

        return PostgresStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CANCEL_REASON",
    "CANCEL_SOURCES",
    "RETRY_SOURCES",
    "AttemptError",
    "Backoff",
    "Cancel",
    "Clock",
    "ConstraintViolation",
    "DatabaseNotFound",
    "ErrorKind",
    "InlineRunner",
    "InvalidLimits",
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
    "LoopWatchdog",
    "Migration",
    "PayloadError",
    "PostgresStore",
    "Push",
    "PushResult",
    "QueueNotFound",
    "QueueSummary",
    "RateLimit",
    "RateLimited",
    "Retention",
    "Retried",
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
    "UnsupportedStoreURL",
    "WorkerConfig",
    "emit",
    "job_json",
    "open_store",
    "queue_json",
    "redact_secrets",
    "structure_payload",
    "to_datetime",
]
