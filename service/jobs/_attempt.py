"""One run of one claimed job as its task queue sees it, and why the worker may cut it short."""

from __future__ import annotations

import attrs
import trio

from ._errors import RateLimited
from ._progress import ProgressBuffer
from ._store import ClaimedJob, SetStateIfRunning


@attrs.frozen
class Shutdown:
    """The worker is shutting down and the attempt outlived the grace period it was given."""

    grace: float

    def message(self) -> str:
        return f"interrupted by shutdown: still running after the {self.grace:g} s grace period"


@attrs.frozen
class LeaseLost:
    """The attempt's lease could not be renewed: the job may already run elsewhere."""


LEASE_LOST = LeaseLost()


@attrs.frozen
class OperatorCancelled:
    """An operator cancelled the job while it ran: its row is ``cancelled`` already."""


OPERATOR_CANCELLED = OperatorCancelled()

#: Why the worker cancels an attempt.
CancelReason = Shutdown | LeaseLost | OperatorCancelled

#: Recorded on a job whose attempt was cancelled by a scope around the worker (the runtime's
#: forced exit on a second signal), not by the worker's own shutdown.
CANCELLED_FROM_OUTSIDE = (
    "interrupted by a forced shutdown: the worker was cancelled from outside, with no grace period"
)


@attrs.define(eq=False)
class Attempt:
    """One run of one claimed job, from its claim until its outcome is written."""

    row: ClaimedJob
    scope: trio.CancelScope = attrs.field(factory=trio.CancelScope)
    #: Why the worker cancelled it (the first reason given wins); None while it was not.
    cancel_reason: CancelReason | None = None
    #: trio time at which the task started running, once it has.
    started_at: float | None = None
    #: Seconds the task ran, once it has returned (0 if it never ran).
    duration: float = 0.0
    #: What the task raised if it said a downstream service is rate limiting it.
    rate_limited: RateLimited | None = None
    #: Its progress reports not yet written (see ``JobContext.progress``), made at the claim.
    progress: ProgressBuffer = attrs.field(factory=ProgressBuffer)

    def cancel(self, reason: CancelReason) -> None:
        if self.cancel_reason is None:
            self.cancel_reason = reason
        self.scope.cancel()


def with_progress(outcome: SetStateIfRunning, attempt: Attempt) -> SetStateIfRunning:
    """``outcome``, carrying what the attempt reported since the last lease renewal."""
    if attempt.progress.last is None:  # the usual case, kept to one attribute read
        return outcome
    update = attempt.progress.pending()
    return outcome if update is None else attrs.evolve(outcome, progress=update)


def stop_reason(exc: BaseException) -> str:
    """What a job interrupted by ``exc`` (raised into the worker from outside) records."""
    if isinstance(exc, trio.Cancelled) or (
            isinstance(exc, BaseExceptionGroup) and exc.split(trio.Cancelled)[1] is None):
        return CANCELLED_FROM_OUTSIDE
    return f"interrupted: the worker stopped on {type(exc).__qualname__}"
