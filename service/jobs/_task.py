"""What a task author writes: a frozen attrs class with options and an async ``run``.

::

    @attrs.frozen(kw_only=True)
    class SendWelcomeEmail(Task):
        options = TaskOptions(name="send_welcome_email", concurrency=4, max_attempts=5)

        user_id: uuid.UUID

        async def run(self, ctx: JobContext[AppState]) -> None:
            ...  # ctx.state is the AppState given to TaskWorker(state=...), typed as such

A task that uses no state may write plain ``JobContext`` (``JobContext[Any]``).
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import re
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal

import attrs
from typing_extensions import TypeVar

from ._dependency import Dependency
from ._errors import InvalidTask, UnknownTask
from ._limits import Limits, RateLimit
from ._progress import ProgressBuffer, check_fraction, check_message, encode_checkpoint
from ._retry import Backoff
from ._states import JobState

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

#: The type of the app state a task's ``ctx.state`` holds; plain ``JobContext`` means ``Any``.
StateT = TypeVar("StateT", default=Any)

_NAME = re.compile(r"^[a-z][a-z0-9_.:-]{0,99}$")


def _valid_name(_inst: object, _attr: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise ValueError(
            f"task name {value!r} must be 1-100 chars of a-z, 0-9, _ . : - starting with a letter"
        )


def _at_least_one(_inst: object, attr: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{attr.name} must be an integer >= 1, got {value!r}")


def _timeout(_inst: object, _attr: attrs.Attribute[float | None], value: float | None) -> None:
    if value is not None and not value > 0:
        raise ValueError(f"timeout must be > 0 seconds or None, got {value!r}")


def _optional_at_least_one(_inst: object, attr: attrs.Attribute[int | None],
                           value: int | None) -> None:
    if value is not None:
        _at_least_one(_inst, attr, value)  # type: ignore[arg-type]


def _rate(_inst: object, _attr: attrs.Attribute[RateLimit | None], value: object) -> None:
    if value is not None and not isinstance(value, RateLimit):
        raise TypeError(f"rate must be a RateLimit(n, per=seconds) or None, got {value!r}")


def _key_function(_inst: object, _attr: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not callable(value):
        raise TypeError(f"concurrency_key must be a function of the task or None, got {value!r}")


#: Where a task's body runs: ``"loop"`` (the default: ``async def run`` on the event loop),
#: ``"thread"`` or ``"process"`` (``def run_sync``, off the loop; see ``_run_in``).
RunIn = Literal["loop", "thread", "process"]
RUN_IN: tuple[str, ...] = ("loop", "thread", "process")

PRIORITY_LIMIT = 2**31 - 1  # fits a 32-bit INTEGER on every backend


def check_priority(value: object) -> int:
    """``value`` if it is a valid priority, else ``ValueError`` saying so."""
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) > PRIORITY_LIMIT:
        raise ValueError(f"priority must be an integer within +-{PRIORITY_LIMIT}, got {value!r}")
    return value


@attrs.frozen(kw_only=True)
class TaskOptions:
    """Class-level options of a task type.

    ``name`` is what is stored with each job: keep it stable across renames of the class.
    ``concurrency`` is how many jobs of this type one worker process runs at once.
    ``max_attempts`` counts runs that started (snoozes and shutdown interruptions do not count).
    ``timeout`` bounds one attempt in seconds (``None``: no bound).
    ``priority``: lower runs first (0 is the default, negative is more urgent).

    Limits across every process and host (see the README's "Flow control"):
    ``global_concurrency`` bounds the jobs of this type running at once everywhere;
    ``concurrency_key`` is a function of the task giving its key (a push's own
    ``concurrency_key=`` wins), and ``per_key`` bounds the running jobs of each key; claims take
    keyed jobs round-robin across keys; ``rate`` (a :class:`RateLimit`) bounds how often jobs
    start. A slot is a running job: a crashed process's slots return when its leases are
    rescued.

    ``run_in`` says where the task's body runs: ``"loop"`` (default) awaits its ``async def
    run`` on the event loop; ``"thread"`` and ``"process"`` call its ``def run_sync(self, ctx)``
    in a worker thread or in a process of a pool (blocking or CPU-bound work). Checked when the
    class is registered (:class:`InvalidTask`).
    """

    name: str = attrs.field(validator=_valid_name)
    concurrency: int = attrs.field(default=10, validator=_at_least_one)
    max_attempts: int = attrs.field(default=20, validator=_at_least_one)
    backoff: Backoff = attrs.field(factory=Backoff)
    timeout: float | None = attrs.field(default=None, validator=_timeout)
    priority: int = attrs.field(default=0, validator=lambda _i, _a, v: check_priority(v))
    global_concurrency: int | None = attrs.field(default=None, validator=_optional_at_least_one)
    concurrency_key: Callable[[Any], Any] | None = attrs.field(
        default=None, validator=_key_function, eq=False)
    per_key: int | None = attrs.field(default=None, validator=_optional_at_least_one)
    rate: RateLimit | None = attrs.field(default=None, validator=_rate)
    run_in: RunIn = "loop"

    @property
    def limits(self) -> Limits:
        """The flow-control limits the code sets (an operator's override may replace them)."""
        rate = self.rate
        keyed = bool(self.concurrency_key is not None or self.per_key
                     or (rate is not None and rate.per_key))
        return Limits(global_concurrency=self.global_concurrency, per_key=self.per_key,
                      rate=rate, keyed=keyed)


_FAILED = frozenset({JobState.DISCARDED, JobState.CANCELLED})


class _Keep:
    """The default of ``ctx.progress(checkpoint=...)``: the call reports no checkpoint."""

    def __repr__(self) -> str:
        return "KEEP"


KEEP: Any = _Keep()


@attrs.frozen(kw_only=True)
class JobContext(Generic[StateT]):
    """What a running task is told about its job, and the app state it may use.

    Generic in that state: a task declares ``async def run(self, ctx: JobContext[AppState])``
    and reads ``ctx.state`` as an ``AppState``. Nothing checks at run time that the worker was
    given that type: ``TaskWorker(state=...)`` (and ``run_task(state=...)``) hand their
    ``state`` to every task they run.
    """

    job_id: int
    task: str
    #: This attempt's number, from 1; snoozes and shutdown interruptions do not count.
    attempt: int
    #: The job's attempts in all (``TaskOptions.max_attempts`` unless the push or an operator's
    #: retry set another).
    max_attempts: int
    #: The application's shared state (settings, store, mailer...), as given to the worker.
    state: StateT = attrs.field(default=None)
    #: The workflow this job is a member of (``Workflow.id``), if any.
    workflow_id: int | None = None
    #: The dependencies of a workflow member, read before it runs (see
    #: :meth:`dependency_results`).
    dependencies: tuple[Dependency, ...] = attrs.field(default=(), repr=False)

    @property
    def failed_dependencies(self) -> list[int]:
        """Ids of the dependencies that ended ``discarded`` or ``cancelled`` (a member runs
        despite them only under ``on_failure="run"``)."""
        return [d.id for d in self.dependencies if d.state in _FAILED]

    async def dependency_results(self) -> dict[int, Any]:
        """{job id: stored result (decoded JSON)} of each dependency that completed.

        Dependencies that ended otherwise are absent (see :attr:`failed_dependencies`); a
        dependency that returned nothing maps to None.
        """
        return {
            d.id: None if d.result is None else json.loads(d.result)
            for d in self.dependencies if d.state is JobState.COMPLETED
        }
    #: The W3C ``traceparent`` its push stored (the push's span, when tracing is on), if any.
    traceparent: str | None = None
    #: The schedule tick this job was pushed for, an aware datetime in UTC; None for a job
    #: not pushed by a :class:`~service.jobs.Schedule`.
    tick: dt.datetime | None = None

    #: The attempt's progress reports not yet written, and its checkpoint (see
    #: :meth:`progress`): the worker makes one per attempt.
    progress_buffer: ProgressBuffer = attrs.field(factory=ProgressBuffer, repr=False, eq=False)

    @property
    def checkpoint(self) -> Any:
        """The last checkpoint this job reported (decoded JSON), in this attempt or an earlier
        one whose report reached the store (retries, rescues, snoozes, interruptions keep it);
        None if it never reported one."""
        return self.progress_buffer.checkpoint

    async def progress(self, fraction: float, message: str | None = None, *,
                       checkpoint: Any = KEEP) -> None:
        """Report how far the job got: ``fraction`` from 0 to 1, an optional ``message``
        (at most 1,000 characters) and, optionally, a ``checkpoint`` to resume from.

        Costs no statement: the report is kept in memory and written with the worker's next
        lease renewal, or with the attempt's outcome if that comes first (only the last report
        is written). The job's JSON shows it as ``progress``. ``checkpoint`` is any value the
        payload converter turns into JSON (at most 64 KiB); the next attempt reads it back,
        decoded, as :attr:`checkpoint`. Without ``checkpoint`` the last one stays; ``None``
        clears it. ``ValueError`` for a fraction outside 0..1 or a message too long,
        ``PayloadError`` for a checkpoint that cannot be stored: nothing is reported then.
        """
        fraction = check_fraction(fraction)
        message = check_message(message)
        given = checkpoint is not KEEP
        text = encode_checkpoint(checkpoint, self.task) if given else None
        self.progress_buffer.report(fraction, message, text, given)

    @property
    def last_attempt(self) -> bool:
        """Whether a failure of this attempt (raising, or running past the timeout) discards the
        job rather than retrying it: ``attempt >= max_attempts``, the worker's own rule.

        A task whose failure must also be recorded elsewhere (its own row) checks it before it
        raises. A job can still end without a last attempt: cancelled by an operator, or
        discarded after ``max_rescues`` lease expiries (its process kept dying).
        """
        return self.attempt >= self.max_attempts


KEY_LENGTH = 255


def key_of(task: Any, options: TaskOptions) -> str | None:
    """The concurrency key ``options.concurrency_key`` gives ``task`` (None without one);
    ``ValueError`` naming the task when it gives something that is not a key."""
    function = options.concurrency_key
    if function is None:
        return None
    key = function(task)
    if isinstance(key, int) and not isinstance(key, bool):
        key = str(key)
    if key is None:
        return None
    if not isinstance(key, str) or not 1 <= len(key) <= KEY_LENGTH:
        raise ValueError(f"concurrency_key of task {options.name!r} must give a string of 1 to"
                         f" {KEY_LENGTH} characters (or an int, or None), got {key!r}")
    return key


class Task:
    """Base of every task class. Subclasses are ``@attrs.frozen(kw_only=True)``."""

    options: ClassVar[TaskOptions]

    async def run(self, ctx: JobContext[Any]) -> Any:
        """Do the work. Return a value to store it as the result; raise to fail the attempt.

        Subclasses narrow ``ctx`` to the state they need: ``ctx: JobContext[AppState]``.
        """
        raise NotImplementedError


def task_options(task: Task | type[Task]) -> TaskOptions:
    cls = task if isinstance(task, type) else type(task)
    options = getattr(cls, "options", None)
    if not isinstance(options, TaskOptions):
        raise TypeError(f"{cls.__qualname__} has no TaskOptions in its 'options' attribute")
    return options


def check_run_in(cls: type[Task]) -> None:
    """:class:`InvalidTask` naming the task unless its ``run_in`` fits its methods: ``"loop"``
    with ``async def run`` only, ``"thread"`` / ``"process"`` with ``def run_sync``; a process
    task's class must also be importable by its module and name (the child imports it)."""
    options = task_options(cls)
    name, run_in = options.name, options.run_in
    if run_in not in RUN_IN:
        raise InvalidTask(name, f"run_in must be one of {', '.join(map(repr, RUN_IN))},"
                                f" got {run_in!r}")
    has_sync = callable(getattr(cls, "run_sync", None))
    if run_in == "loop":
        if has_sync:
            raise InvalidTask(name, "it defines run_sync but runs on the event loop: set"
                                    " TaskOptions(run_in=\"thread\") or \"process\", or"
                                    " write async def run instead")
        return
    if not has_sync:
        raise InvalidTask(name, f"run_in={run_in!r} calls a method run_sync(self, ctx), which"
                                f" {cls.__qualname__} does not define")
    if cls.run is not Task.run:
        raise InvalidTask(name, f"run_in={run_in!r} calls run_sync: its async run would never"
                                f" run; remove it")
    if run_in == "process" and not _importable(cls):
        raise InvalidTask(name, f"run_in='process' imports {cls.__qualname__} in the child"
                                f" process: define it at the top level of an importable module"
                                f" (not in __main__ or inside a function)")


def _importable(cls: type) -> bool:
    """Whether ``cls`` is what importing its module and walking its qualified name gives."""
    if cls.__module__ == "__main__" or "<locals>" in cls.__qualname__:
        return False
    try:
        found: Any = sys.modules.get(cls.__module__) or importlib.import_module(cls.__module__)
        for part in cls.__qualname__.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError):
        return False
    return found is cls


class TaskRegistry:
    """The task types a worker runs and the API may push, by stored name."""

    def __init__(self, tasks: Iterable[type[Task]] = ()) -> None:
        self._by_name: dict[str, type[Task]] = {}
        for cls in tasks:
            self.register(cls)

    def register(self, cls: type[Task]) -> type[Task]:
        """Add a task class; a second class under the same name is an error, and so is a class
        whose ``run_in`` does not fit its methods (:class:`InvalidTask`)."""
        if not (isinstance(cls, type) and issubclass(cls, Task) and "__attrs_attrs__" in vars(cls)):
            raise TypeError(f"{cls!r} is not an attrs class deriving from Task")
        check_run_in(cls)
        name = task_options(cls).name
        existing = self._by_name.get(name)
        if existing is not None and existing is not cls:
            raise ValueError(f"task name {name!r} is used by {existing.__qualname__} already")
        self._by_name[name] = cls
        return cls

    def get(self, name: str) -> type[Task]:
        """The class registered under ``name``; :class:`UnknownTask` if none."""
        try:
            return self._by_name[name]
        except KeyError:
            raise UnknownTask(name) from None

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[type[Task]]:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)

    def names(self) -> list[str]:
        return sorted(self._by_name)
