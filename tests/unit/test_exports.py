"""The public API is pinned: ``service.jobs`` and ``service.jobs.testing`` export exactly these.

Code outside the engine imports only these two modules (an architecture test checks that), so
this list is the engine's whole surface. Adding a name is a decision: add it here too. Each name
keeps the private module it lives in, so a move is visible in review.
"""

from __future__ import annotations

import inspect

import service.jobs
import service.jobs.testing

ENGINE = {
    "AttemptError": "service.jobs._attempt_error",
    "AttemptTrace": "service.jobs._tracing",
    "BULK_BATCH": None,
    "Backoff": "service.jobs._retry",
    "BulkAction": "service.jobs._bulk",
    "BulkBatch": "service.jobs._records",
    "BulkResult": "service.jobs._bulk",
    "CANCEL_REASON": None,
    "CANCEL_SOURCES": None,
    "Cancel": "service.jobs._errors",
    "Clock": "service.jobs._clock",
    "ConstraintViolation": "service.jobs._errors",
    "DELETE_SOURCES": None,
    "DatabaseNotFound": "service.jobs._errors",
    "ErrorKind": "service.jobs._attempt_error",
    "FAILED": None,
    "InlineRunner": "service.jobs._runner",
    "InvalidPush": "service.jobs._errors",
    "InvalidSchedule": "service.jobs._errors",
    "InvalidTask": "service.jobs._errors",
    "InvalidTransition": "service.jobs._errors",
    "InvalidWorkflow": "service.jobs._errors",
    "JobAdmin": "service.jobs._admin",
    "JobContext": "service.jobs._task",
    "JobFilter": "service.jobs._records",
    "JobNotFound": "service.jobs._errors",
    "JobOutcome": "service.jobs._errors",
    "JobRow": "service.jobs._records",
    "JobProgress": "service.jobs._progress",
    "ProgressReport": "service.jobs._progress",
    "ProgressUpdate": "service.jobs._progress",
    "ProgressView": "service.jobs._views",
    "JobState": "service.jobs._states",
    "JobStats": "service.jobs._records",
    "JobStore": "service.jobs._store",
    "JobTracer": "service.jobs._tracing",
    "LoopWatchdog": "service.jobs._watchdog",
    "Member": "service.jobs._workflow",
    "Migration": "service.jobs._migrations",
    "OnConflict": None,
    "Minute": "service.jobs._throughput",
    "PayloadError": "service.jobs._errors",
    "PostgresStore": "service.jobs._postgres.store",
    "Push": "service.jobs._records",
    "PushResult": "service.jobs._records",
    "PushTrace": "service.jobs._tracing",
    "InvalidLimits": "service.jobs._errors",
    "QueueNotFound": "service.jobs._errors",
    "QueueSummary": "service.jobs._admin",
    "RateLimit": "service.jobs._limits",
    "RateLimited": "service.jobs._errors",
    "RETRY_SOURCES": None,
    "Retention": "service.jobs._config",
    "Retried": "service.jobs._admin",
    "Runner": "service.jobs._runner",
    "SQLiteStore": "service.jobs._sqlite.store",
    "Schedule": "service.jobs._schedule",
    "ScheduleNotFound": "service.jobs._errors",
    "ScheduleRow": "service.jobs._records",
    "ScheduleSummary": "service.jobs._schedule_admin",
    "STALE_BEATS": None,
    "ServiceError": "service.jobs._errors",
    "SetStateIfRunning": "service.jobs._records",
    "Snooze": "service.jobs._errors",
    "StoreBusy": "service.jobs._errors",
    "StoreError": "service.jobs._errors",
    "StoreUnavailable": "service.jobs._errors",
    "SyncJobContext": "service.jobs._run_in",
    "SystemClock": "service.jobs._clock",
    "Task": "service.jobs._task",
    "TaskOptions": "service.jobs._task",
    "TaskRegistry": "service.jobs._task",
    "TaskWorker": "service.jobs._worker",
    "ThreadRunner": "service.jobs._runner",
    "Transaction": "service.jobs._store",
    "TrioClock": "service.jobs._trio_clock",
    "UniqueOutcome": "service.jobs._records",
    "UnknownTask": "service.jobs._errors",
    "UnsupportedStoreURL": "service.jobs._errors",
    "WorkerBeat": "service.jobs._records",
    "WorkerConfig": "service.jobs._config",
    "WorkerRow": "service.jobs._records",
    "WorkerStatus": "service.jobs._workers",
    "Workflow": "service.jobs._workflow",
    "WorkflowCancelView": "service.jobs._views",
    "WorkflowView": "service.jobs._views",
    "WorkflowNotFound": "service.jobs._errors",
    "emit": "service.jobs._log",
    "job_json": "service.jobs._views",
    "job_view": "service.jobs._views",
    "JobView": "service.jobs._views",
    "AttemptErrorView": "service.jobs._views",
    "QueueView": "service.jobs._views",
    "view_converter": None,
    "open_store": "service.jobs._factory",
    "queue_json": "service.jobs._views",
    "queue_view": "service.jobs._views",
    "push_json": "service.jobs._views",
    "push_view": "service.jobs._views",
    "PushView": "service.jobs._views",
    "redact_secrets": "service.jobs._redact",
    "set_job_tracer": "service.jobs._tracing",
    "schedule_json": "service.jobs._views",
    "schedule_view": "service.jobs._views",
    "ScheduleView": "service.jobs._views",
    "structure_payload": "service.jobs._codec",
    "to_datetime": "service.jobs._clock",
    "worker_json": "service.jobs._views",
    "worker_view": "service.jobs._views",
    "WorkerView": "service.jobs._views",
    "worker_status": "service.jobs._workers",
    "workflow_cancel_json": "service.jobs._views",
    "workflow_cancel_view": "service.jobs._views",
}

TESTING = {
    "DRAIN_CONFIG", "TEST_CONFIG", "DrainResult", "TaskResult", "VirtualTimeRequired",
    "assert_not_pushed", "assert_pushed", "clock_autojumps", "drain", "pushed", "run_task",
    "sqlite_test_store", "store_time",
}


def _documented(obj: object) -> bool:
    return bool(inspect.getdoc(obj)) and inspect.getdoc(obj) != inspect.getdoc(type(obj))


def test_service_jobs_exports_exactly_the_pinned_names() -> None:
    assert set(service.jobs.__all__) == set(ENGINE)


def test_every_engine_name_lives_in_its_pinned_module() -> None:
    moved = {
        name: getattr(getattr(service.jobs, name), "__module__", None)
        for name, module in ENGINE.items()
        if module is not None and getattr(service.jobs, name).__module__ != module
    }
    assert moved == {}


def test_service_jobs_testing_exports_exactly_the_pinned_names() -> None:
    assert set(service.jobs.testing.__all__) == TESTING
    for name in TESTING:
        assert hasattr(service.jobs.testing, name), name


def test_every_public_class_and_function_has_a_docstring() -> None:
    missing = [
        f"{module.__name__}.{name}"
        for module in (service.jobs, service.jobs.testing)
        for name in module.__all__
        if (inspect.isclass(obj := getattr(module, name)) or inspect.isfunction(obj))
        and not _documented(obj)
    ]
    assert missing == []


def test_the_package_ships_its_type_information() -> None:
    from importlib.resources import files

    assert files("service").joinpath("py.typed").is_file()
