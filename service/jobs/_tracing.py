"""The engine's tracing hooks: where a tracer (OpenTelemetry in ``service.tracing``) sees pushes
and attempts. The engine itself knows no tracing library: it stores the opaque W3C
``traceparent`` string a tracer gives it and hands it back with the job.

No tracer is installed by default, and then pushes and attempts pay one ``is None`` check.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from ._attempt_error import AttemptError
from ._states import JobState
from ._task import JobContext

if TYPE_CHECKING:
    from contextlib import AbstractContextManager


@attrs.define(kw_only=True, eq=False)
class PushTrace:
    """One push (or ``push_many`` batch) as a tracer sees it, filled in by the engine while the
    tracer's context is open: ``tasks`` and ``count`` once the push is checked, ``ids`` once its
    rows are written (in a transaction: before it commits). A push refused before it is written
    leaves the tracer's context with its error.
    """

    #: The task names of the jobs pushed.
    tasks: frozenset[str] = frozenset()
    #: How many jobs the push writes.
    count: int = 0
    #: Their ids in the order pushed (the holder's on a unique-key hit); None until written.
    ids: list[int] | None = None


@attrs.define(kw_only=True, eq=False)
class AttemptTrace:
    """One attempt of one job as a tracer sees it.

    The engine fills ``state`` and ``error`` from the attempt's outcome before it leaves the
    tracer's context: the state the outcome asks for (``completed``, ``retryable``,
    ``discarded``, ``cancelled``, ``scheduled`` for a snooze) and the error recorded, if any.
    Both stay None when the worker cut the attempt off (shutdown, lost lease); a cancellation
    from outside the worker leaves the context with ``trio.Cancelled``.
    """

    job: JobContext[Any]
    state: JobState | None = None
    error: AttemptError | None = None


class JobTracer(Protocol):
    """What the engine calls around pushes and attempts (see :func:`set_job_tracer`)."""

    def push(self, trace: PushTrace) -> AbstractContextManager[str | None]:
        """Entered around one push; yields the W3C ``traceparent`` to store with its jobs (None:
        store none). A push given ``traceparent=`` keeps its own."""
        ...

    def attempt(self, trace: AttemptTrace) -> AbstractContextManager[None]:
        """Entered around one attempt, in the task's own trio task (a tracer may make its span
        current there, so pushes the task makes are its children); ``trace.job.traceparent`` is
        what the push stored."""
        ...


_tracer: JobTracer | None = None


def set_job_tracer(tracer: JobTracer | None) -> JobTracer | None:
    """Install ``tracer`` for every store and worker of this process (None: none); returns the
    one it replaces, so a caller (a test) can put it back."""
    global _tracer
    previous, _tracer = _tracer, tracer
    return previous


def job_tracer() -> JobTracer | None:
    """The installed tracer, if any."""
    return _tracer


def traced_attempt(job: JobContext[Any]
                   ) -> tuple[AttemptTrace | None, AbstractContextManager[None]]:
    """The trace of an attempt and the context to run it in (a no-op without a tracer)."""
    tracer = _tracer
    if tracer is None:
        return None, nullcontext()
    trace = AttemptTrace(job=job)
    return trace, tracer.attempt(trace)
