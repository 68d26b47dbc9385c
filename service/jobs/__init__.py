"""The jobs engine: tasks, the durable store, and the TaskWorker. Generic: knows no app domain."""

from .clock import Clock, SystemClock, TrioClock
from .errors import (
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
from .migrations import Migration
from .postgres import PostgresStore
from .push import Push
from .retry import Backoff
from .runner import InlineRunner, Runner, ThreadRunner
from .sqlite import SQLiteStore
from .states import JobState
from .store import JobFilter, JobRow, JobStore, Transaction
from .task import JobContext, Task, TaskOptions, TaskRegistry
from .worker import Retention, TaskWorker, WorkerConfig

__all__ = [
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
    "Migration",
    "PayloadError",
    "PostgresStore",
    "Push",
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
    "WorkerConfig",
]
