"""The jobs engine: tasks, the durable store, and the TaskWorker. Generic: knows no app domain.

``PostgresStore`` is imported on first use: a SQLite-only process never loads psycopg.
"""

from typing import TYPE_CHECKING, Any

from ._admin import CANCEL_REASON, JobAdmin, QueueSummary, Retried
from ._attempt_error import AttemptError, ErrorKind
from ._bulk import BULK_BATCH, BulkAction, BulkResult
from ._clock import Clock, SystemClock, to_datetime
from ._codec import structure as structure_payload
from ._config import Retention, WorkerConfig
from ._errors import (
    Cancel,
    ConstraintViolation,
    DatabaseNotFound,
    InvalidLimits,
    InvalidPush,
    InvalidSchedule,
    InvalidTask,
    InvalidTransition,
    InvalidWorkflow,
    JobNotFound,
    JobOutcome,
    PayloadError,
    QueueNotFound,
    RateLimited,
    ScheduleNotFound,
    ServiceError,
    Snooze,
    StoreBusy,
    StoreError,
    StoreUnavailable,
    UnknownTask,
    UnsupportedStoreURL,
    WorkflowNotFound,
)
from ._factory import open_store
from ._limits import RateLimit
from ._log import emit
from ._migrations import Migration
from ._progress import JobProgress, ProgressReport, ProgressUpdate
from ._redact import redact_secrets
from ._retry import Backoff
from ._run_in import SyncJobContext
from ._runner import InlineRunner, Runner, ThreadRunner
from ._schedule import Schedule
from ._schedule_admin import ScheduleSummary
from ._sqlite import SQLiteStore
from ._states import CANCEL_SOURCES, DELETE_SOURCES, FAILED, RETRY_SOURCES, JobState
from ._store import (
    BulkBatch,
    JobFilter,
    JobRow,
    JobStats,
    JobStore,
    OnConflict,
    Push,
    PushResult,
    ScheduleRow,
    SetStateIfRunning,
    Transaction,
    UniqueOutcome,
    WorkerBeat,
    WorkerRow,
)
from ._task import JobContext, Task, TaskOptions, TaskRegistry
from ._throughput import Minute
from ._tracing import AttemptTrace, JobTracer, PushTrace, set_job_tracer
from ._trio_clock import TrioClock
from ._views import (
    AttemptErrorView,
    JobView,
    ProgressView,
    PushView,
    QueueView,
    ScheduleView,
    WorkerView,
    WorkflowCancelView,
    WorkflowView,
    job_json,
    job_view,
    push_json,
    push_view,
    queue_json,
    queue_view,
    schedule_json,
    schedule_view,
    view_converter,
    worker_json,
    worker_view,
    workflow_cancel_json,
    workflow_cancel_view,
)
from ._watchdog import LoopWatchdog
from ._worker import TaskWorker
from ._workers import STALE_BEATS, WorkerStatus, worker_status
from ._workflow import Member, Workflow

if TYPE_CHECKING:
    from ._postgres import PostgresStore


def __getattr__(name: str) -> Any:
    if name == "PostgresStore":
        from ._postgres import PostgresStore

        return PostgresStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BULK_BATCH",
    "CANCEL_REASON",
    "CANCEL_SOURCES",
    "DELETE_SOURCES",
    "FAILED",
    "RETRY_SOURCES",
    "STALE_BEATS",
    "AttemptError",
    "AttemptErrorView",
    "AttemptTrace",
    "Backoff",
    "BulkAction",
    "BulkBatch",
    "BulkResult",
    "Cancel",
    "Clock",
    "ConstraintViolation",
    "DatabaseNotFound",
    "ErrorKind",
    "InlineRunner",
    "InvalidLimits",
    "InvalidPush",
    "InvalidSchedule",
    "InvalidTask",
    "InvalidTransition",
    "InvalidWorkflow",
    "JobAdmin",
    "JobContext",
    "JobFilter",
    "JobNotFound",
    "JobOutcome",
    "JobProgress",
    "JobRow",
    "JobState",
    "JobStats",
    "JobStore",
    "JobTracer",
    "JobView",
    "LoopWatchdog",
    "Member",
    "Migration",
    "Minute",
    "OnConflict",
    "PayloadError",
    "PostgresStore",
    "ProgressReport",
    "ProgressUpdate",
    "ProgressView",
    "Push",
    "PushResult",
    "PushTrace",
    "PushView",
    "QueueNotFound",
    "QueueSummary",
    "QueueView",
    "RateLimit",
    "RateLimited",
    "Retention",
    "Retried",
    "Runner",
    "SQLiteStore",
    "Schedule",
    "ScheduleNotFound",
    "ScheduleRow",
    "ScheduleSummary",
    "ScheduleView",
    "ServiceError",
    "SetStateIfRunning",
    "Snooze",
    "StoreBusy",
    "StoreError",
    "StoreUnavailable",
    "SyncJobContext",
    "SystemClock",
    "Task",
    "TaskOptions",
    "TaskRegistry",
    "TaskWorker",
    "ThreadRunner",
    "Transaction",
    "TrioClock",
    "UniqueOutcome",
    "UnknownTask",
    "UnsupportedStoreURL",
    "WorkerBeat",
    "WorkerConfig",
    "WorkerRow",
    "WorkerStatus",
    "WorkerView",
    "Workflow",
    "WorkflowCancelView",
    "WorkflowNotFound",
    "WorkflowView",
    "emit",
    "job_json",
    "job_view",
    "open_store",
    "push_json",
    "push_view",
    "queue_json",
    "queue_view",
    "redact_secrets",
    "schedule_json",
    "schedule_view",
    "set_job_tracer",
    "structure_payload",
    "to_datetime",
    "view_converter",
    "worker_json",
    "worker_status",
    "worker_view",
    "workflow_cancel_json",
    "workflow_cancel_view",
]
