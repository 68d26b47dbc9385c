"""The exception tree of the jobs engine.

Every error the engine raises derives from :class:`ServiceError` and also from the builtin
that fits it, so callers may catch either (``except LookupError`` catches
:class:`JobNotFound`).
"""

from __future__ import annotations

from ._redact import redact_secrets


class ServiceError(Exception):
    """Root of every error raised by this project."""


class JobNotFound(ServiceError, LookupError):
    """Raised when a job id names no job in the store."""

    def __init__(self, job_id: int) -> None:
        super().__init__(f"job {job_id} not found")
        self.job_id = job_id


class InvalidTransition(ServiceError, ValueError):
    """Raised when a state change is one the job state machine forbids.

    Also raised by compare-and-set updates that find the job in another state than expected.
    """


class UnknownTask(ServiceError, LookupError):
    """Raised when a task name is not in the registry."""

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown task {name!r}")
        self.name = name


class InvalidTask(ServiceError, TypeError, ValueError):
    """Raised when a task class is registered whose options do not fit its methods: a
    ``run_in`` that is not ``"loop"``, ``"thread"`` or ``"process"``, ``run_in`` off the loop
    without a ``run_sync`` method (or with an ``async def run`` too), a ``run_sync`` on a task
    that runs on the loop, or a process task whose class its module does not export.
    ``task`` is the task's name; ``str()`` names it and says what to change."""

    def __init__(self, task: str, problem: str) -> None:
        super().__init__(f"task {task!r}: {problem}")
        self.task = task


class PayloadError(ServiceError, ValueError):
    """Raised when task arguments (or a result) cannot be encoded or decoded.

    ``fields`` maps a JSON path (``$.user_id``) to what is wrong with it.
    """

    def __init__(self, task: str, fields: dict[str, str]) -> None:
        detail = "; ".join(f"{path}: {problem}" for path, problem in fields.items())
        super().__init__(f"task {task!r}: {detail}")
        self.task = task
        self.fields = fields


class InvalidPush(ServiceError, ValueError):
    """Raised by ``JobAdmin.push`` when an operator's push cannot make a job, before anything is
    written: an unknown task name, args that do not fit the task, or an invalid option.

    ``fields`` maps each JSON path of the push request that is wrong (``$.task``,
    ``$.args.<field>``, ``$.<option>``) to what is wrong with it; ``title`` says what failed in
    a few words; ``str()`` is the whole explanation on one line.
    """

    def __init__(self, message: str, *, title: str, fields: dict[str, str]) -> None:
        super().__init__(message)
        self.title = title
        self.fields = fields


class InvalidLimits(ServiceError, ValueError):
    """Raised when an operator's limits for a queue cannot be applied, before anything is
    stored. ``fields`` maps each wrong JSON path (``$.global_concurrency``, ``$.rate.per``)
    to what is wrong with it."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("; ".join(f"{path}: {problem}" for path, problem in fields.items()))
        self.fields = fields


class QueueNotFound(ServiceError, LookupError):
    """Raised when an operator pauses or resumes the queue of a task that is not registered."""

    def __init__(self, task: str) -> None:
        super().__init__(f"no queue {task!r}: not a registered task")
        self.task = task


class InvalidWorkflow(ServiceError, ValueError):
    """Raised by ``push_workflow`` before anything is written (or, for an ``after=`` id that
    names no job, with the push rolled back) when the graph cannot be stored: a handle of
    another workflow, an unknown job id, an invalid option, too many members.

    ``member`` is the offending member's index in the order of ``Workflow.add`` (None when the
    fault is the workflow's own); the message names it, its task and the workflow.
    """

    def __init__(self, message: str, *, member: int | None = None) -> None:
        super().__init__(message)
        self.member = member


class WorkflowNotFound(ServiceError, LookupError):
    """Raised when a workflow id names no workflow in the store."""

    def __init__(self, workflow_id: int) -> None:
        super().__init__(f"workflow {workflow_id} not found")
        self.workflow_id = workflow_id
class InvalidSchedule(ServiceError, ValueError):
    """Raised by ``TaskWorker`` (and ``JobAdmin``) for a schedule that cannot run: an invalid
    cron expression, time zone or catch-up policy, a task it cannot push, or a name used twice.
    The message names the schedule; ``name`` keeps it."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"schedule {name!r}: {problem}")
        self.name = name


class ScheduleNotFound(ServiceError, LookupError):
    """Raised when an operator names a schedule that is neither in the code nor stored."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no schedule {name!r}")
        self.name = name


class UnsupportedStoreURL(ServiceError, ValueError):
    """Raised by ``open_store`` for a database URL that names no backend it has, or that the
    backend cannot read. The message shows the URL with its password masked; ``url`` keeps it."""

    def __init__(self, url: str, problem: str) -> None:
        shown = redact_secrets(url)
        super().__init__(f"{problem}: {shown!r} (expected sqlite:///path/to/file.db,"
                         " sqlite:///:memory:, a file path, or postgresql://user@host/db)")
        self.url = url


class StoreError(ServiceError, RuntimeError):
    """Raised when the database fails; driver errors are translated into this family."""


class StoreBusy(StoreError):
    """Raised when the database stayed locked by another writer past the busy timeout."""


class ConstraintViolation(StoreError, ValueError):
    """Raised when a write breaks a database constraint (a unique index, a foreign key)."""


class StoreUnavailable(StoreError):
    """Raised when the database cannot be reached or written (read-only file, disk full)."""


class DatabaseNotFound(StoreUnavailable, FileNotFoundError):
    """Raised when a store opened with ``create=False`` finds no database file at ``path``
    (the absolute path it looked at)."""

    def __init__(self, path: str) -> None:
        super().__init__(f"no SQLite database at {path}")
        self.path = path

    def __str__(self) -> str:
        return str(self.args[0])


class JobOutcome(ServiceError):
    """Base of the exceptions a task raises to choose its outcome instead of failing."""


class Snooze(JobOutcome):
    """Raise from a task to run it again after ``seconds``; the attempt is not counted."""

    def __init__(self, seconds: float) -> None:
        if not seconds >= 0:
            raise ValueError(f"snooze seconds must be >= 0, got {seconds!r}")
        super().__init__(f"snoozed for {seconds} s")
        self.seconds = float(seconds)


class Cancel(JobOutcome):
    """Raise from a task to cancel its job for good; it never runs again."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RateLimited(JobOutcome):
    """Raise from a task when a downstream service says "too many requests" (an HTTP 429):
    the job runs again after ``retry_after`` seconds with its attempt not counted, and no job of
    its task starts before then, in any process. ``per_key=True`` pauses only the jobs with
    the same concurrency key (a job without a key pauses its whole task).
    """

    def __init__(self, retry_after: float, *, per_key: bool = False) -> None:
        if isinstance(retry_after, bool) or not (
            isinstance(retry_after, int | float) and retry_after >= 0
            and retry_after != float("inf")
        ):
            raise ValueError(f"retry_after must be a finite number of seconds >= 0,"
                             f" got {retry_after!r}")
        scope = "its key" if per_key else "its task"
        super().__init__(f"rate limited: {scope} paused for {retry_after} s")
        self.retry_after = float(retry_after)
        self.per_key = per_key
