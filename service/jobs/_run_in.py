"""Where a task's body runs: on the event loop, in a worker thread, or in a process of a pool.

``TaskOptions(run_in="loop")`` (the default) awaits the task's ``async def run(ctx)``.
``run_in="thread"`` and ``run_in="process"`` call its ``def run_sync(ctx)`` off the loop, with a
:class:`SyncJobContext`, so blocking or CPU-bound work never stalls the worker's event loop
(its lease renewals, its other jobs). The result is stored like an async task's; what
``run_sync`` raises fails, snoozes or cancels the attempt exactly as from ``run``.

- **thread**: a thread from trio's thread cache. A thread cannot be killed: at the timeout (or
  a shutdown, or a lost lease) the attempt ends and the thread is *abandoned*; it runs on until
  ``run_sync`` returns, its result thrown away, and it keeps its slot of the task's
  ``concurrency`` meanwhile, so no more threads run than the task allows.
- **process**: a process of trio-parallel's pool, started on first use (a worker whose tasks
  never use processes starts none) and reused; at most ``concurrency`` run this task's jobs at
  once. The payload goes to the child as the stored JSON and the task is rebuilt there by the
  converter; the result comes back as JSON. At the timeout, a shutdown or a lost lease the
  child is killed (SIGKILL) and the attempt ends at once.

Nothing stored is pickled: the pool's pipe carries pickles (trio-parallel is built on
``multiprocessing``), but only of the payload's JSON text, the plain-data
:class:`SyncJobContext` and a reply holding the result's JSON or the exception described as
text.

Under a ``MockClock`` the clock's autojump is held off while a body runs off the loop (as for
the store's thread calls): virtual time does not leap past a timeout meanwhile.
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
import os
import threading
import time
import traceback
from contextlib import suppress
from functools import partial
from typing import TYPE_CHECKING, Any, Generic, Protocol

import attrs
import trio

from . import _codec as codec
from . import _log as log
from ._errors import Cancel, RateLimited, Snooze
from ._outcomes import ChildFailure
from ._runner import autojump_suspended
from ._task import JobContext, StateT, Task, TaskOptions

if TYPE_CHECKING:
    from collections.abc import Callable

    import outcome


@attrs.frozen(kw_only=True)
class SyncJobContext(Generic[StateT]):
    """What ``run_sync`` is told about its job: plain data, picklable, nothing to await.

    ``dependency_results`` and ``failed_dependencies`` are what ``JobContext`` gives a workflow
    member; ``checkpoint`` is the last checkpoint an earlier attempt saved, if any. ``state`` is
    the worker's app state in a thread and always None in a process (app state does not cross
    into another process).
    """

    job_id: int
    task: str
    attempt: int
    max_attempts: int
    workflow_id: int | None = None
    traceparent: str | None = None
    tick: dt.datetime | None = None
    checkpoint: Any = None
    dependency_results: dict[int, Any] = attrs.field(factory=dict)
    failed_dependencies: tuple[int, ...] = ()
    state: StateT = attrs.field(default=None, repr=False)

    @property
    def last_attempt(self) -> bool:
        """Whether a failure of this attempt discards the job (see ``JobContext``)."""
        return self.attempt >= self.max_attempts


async def sync_view(ctx: JobContext[Any], *, state: Any) -> SyncJobContext[Any]:
    """The :class:`SyncJobContext` of ``ctx``, carrying ``state``."""
    return SyncJobContext(
        job_id=ctx.job_id, task=ctx.task, attempt=ctx.attempt, max_attempts=ctx.max_attempts,
        workflow_id=ctx.workflow_id, traceparent=ctx.traceparent, tick=ctx.tick,
        # Checkpoints come with progress reporting; a context without them has none.
        checkpoint=getattr(ctx, "checkpoint", None),
        dependency_results=await ctx.dependency_results(),
        failed_dependencies=tuple(ctx.failed_dependencies), state=state,
    )


class Body(Protocol):
    """How one task type's attempts run its code, and what that leaves behind."""

    #: Whether a timeout kills the body (a process) rather than abandoning it (a thread).
    kills: bool
    #: Abandoned threads still running: each keeps its slot until it returns.
    lingering: int

    async def run(self, task: Task, ctx: JobContext[Any], args: str) -> str | None:
        """Run ``task`` (stored as ``args``) once; its result as stored JSON (None for None)."""
        ...


def body_for(cls: type[Task], options: TaskOptions, on_freed: Callable[[], None]) -> Body:
    """The body runner of a task class registered with ``options``; ``on_freed`` is called
    when an abandoned thread finally returns (its slot is free)."""
    if options.run_in == "thread":
        return ThreadBody(options, on_freed)
    if options.run_in == "process":
        return ProcessBody(cls, options)
    return LoopBody(options)


def _encode(result: Any, name: str) -> str | None:
    return None if result is None else codec.encode(result, name=name)


class LoopBody:
    """``await task.run(ctx)`` on the event loop, as always."""

    kills = False
    lingering = 0

    def __init__(self, options: TaskOptions) -> None:
        self.name = options.name

    async def run(self, task: Task, ctx: JobContext[Any], args: str) -> str | None:
        return _encode(await task.run(ctx), self.name)


@attrs.define(eq=False)
class _ThreadCall:
    #: The trio task awaiting the thread's result; None once it gave up waiting.
    waiting: trio.lowlevel.Task | None


class ThreadBody:
    """``task.run_sync(ctx)`` in a thread; abandoned, not stopped, when the attempt ends."""

    kills = False

    def __init__(self, options: TaskOptions, on_freed: Callable[[], None]) -> None:
        self.name = options.name
        self.lingering = 0
        self._on_freed = on_freed

    async def run(self, task: Task, ctx: JobContext[Any], args: str) -> str | None:
        view = await sync_view(ctx, state=ctx.state)
        await trio.lowlevel.checkpoint_if_cancelled()
        token = trio.lowlevel.current_trio_token()
        call = _ThreadCall(trio.lowlevel.current_task())

        def deliver(result: outcome.Outcome[Any]) -> None:  # in the thread, once it returned
            with suppress(trio.RunFinishedError):
                token.run_sync_soon(self._returned, call, result)

        def abandon(_raise_cancel: Any) -> trio.lowlevel.Abort:
            call.waiting = None
            self.lingering += 1
            log.event(logging.WARNING, "job.thread_abandoned", id=ctx.job_id, task=self.name,
                      message="the attempt ended while run_sync still runs in its thread: it"
                      " keeps its slot until it returns")
            return trio.lowlevel.Abort.SUCCEEDED

        with autojump_suspended():
            trio.lowlevel.start_thread_soon(partial(_sync_call, task, view), deliver,
                                            name=f"job {ctx.job_id} {self.name}")
            result = await trio.lowlevel.wait_task_rescheduled(abandon)
        return _encode(result, self.name)

    def _returned(self, call: _ThreadCall, result: outcome.Outcome[Any]) -> None:
        if call.waiting is not None:
            trio.lowlevel.reschedule(call.waiting, result)
            return
        self.lingering -= 1
        self._on_freed()


def _sync_call(task: Any, ctx: SyncJobContext[Any]) -> Any:
    return task.run_sync(ctx)


async def run_sync_in_thread(task: Task, ctx: JobContext[Any]) -> Any:
    """``task.run_sync`` in a thread, with the view of ``ctx`` the worker would give it (no app
    state for a process task); the value it returned, abandoned at a cancel. What
    ``testing.run_task`` does with every ``run_in`` task: a unit test needs no pool."""
    in_thread = task.options.run_in == "thread"
    view = await sync_view(ctx, state=ctx.state if in_thread else None)
    with autojump_suspended():
        return await trio.to_thread.run_sync(_sync_call, task, view, abandon_on_cancel=True)


class ProcessBody:
    """``task.run_sync(ctx)`` in a process of trio-parallel's pool; killed when the attempt
    ends before it returns."""

    kills = True
    lingering = 0

    def __init__(self, cls: type[Task], options: TaskOptions) -> None:
        self.name = options.name
        self._where = (cls.__module__, cls.__qualname__)
        self._concurrency = options.concurrency
        self._limiter: trio.CapacityLimiter | None = None

    async def run(self, task: Task, ctx: JobContext[Any], args: str) -> str | None:
        view = await sync_view(ctx, state=None)
        if self._limiter is None:  # made in the worker's trio run, on first use
            self._limiter = trio.CapacityLimiter(self._concurrency)
        module, qualname = self._where
        import trio_parallel  # here: a worker without process tasks never loads it

        with autojump_suspended():
            reply: _Reply = await trio_parallel.run_sync(
                _run_in_child, module, qualname, self.name, args, view,
                kill_on_cancel=True, limiter=self._limiter,
            )
        return reply.unwrap()


@attrs.frozen(kw_only=True)
class _Reply:
    """What the child sends back: the result as JSON, or what ``run_sync`` raised, as data
    (an exception object might not survive pickling)."""

    result: str | None = None
    error: tuple[str, str, str] | None = None
    snooze: float | None = None
    cancel: str | None = None
    rate_limited: tuple[float, bool] | None = None

    def unwrap(self) -> str | None:
        if self.error is not None:
            raise ChildFailure(*self.error)
        if self.snooze is not None:
            raise Snooze(self.snooze)
        if self.cancel is not None:
            raise Cancel(self.cancel)
        if self.rate_limited is not None:
            retry_after, per_key = self.rate_limited
            raise RateLimited(retry_after, per_key=per_key)
        return self.result


#: Seconds between a pool process's looks at whether its parent is still alive.
PARENT_CHECK_S = 0.5
_parent_watch: list[threading.Thread] = []


def _exit_with_parent() -> None:
    """In the child, once: a thread that ends this process when its parent dies.

    A worker killed with SIGKILL cannot kill its children, and a busy child would run its job
    to the end while a rescue runs the job again elsewhere. (Not ``PR_SET_PDEATHSIG``: it fires
    when the *thread* that started the child exits, and trio starts them from its thread cache.)
    """
    if _parent_watch:
        return
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_S)
        os._exit(70)  # EX_SOFTWARE: nothing to report to; the job's lease expires

    thread = threading.Thread(target=watch, name="exit-with-parent", daemon=True)
    thread.start()
    _parent_watch.append(thread)


def _run_in_child(module: str, qualname: str, name: str, args: str,
                  ctx: SyncJobContext[Any]) -> _Reply:
    """In the child: import the task class, rebuild the task from its stored payload, run it."""
    _exit_with_parent()
    try:
        found: Any = importlib.import_module(module)
        for part in qualname.split("."):
            found = getattr(found, part)
        task = codec.decode(args, found, name=name)
        return _Reply(result=_encode(task.run_sync(ctx), name))
    except Snooze as exc:
        return _Reply(snooze=exc.seconds)
    except Cancel as exc:
        return _Reply(cancel=exc.reason)
    except RateLimited as exc:
        return _Reply(rate_limited=(exc.retry_after, exc.per_key))
    except (Exception, SystemExit) as exc:
        return _Reply(error=(type(exc).__qualname__, str(exc) or repr(exc),
                             "".join(traceback.format_exception(exc))))
