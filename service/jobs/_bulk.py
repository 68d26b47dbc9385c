"""Operators' bulk actions on what a job filter selects: the actions, and what one did.

``JobAdmin.bulk`` runs an action batch by batch (``JobStore.job_retry_many`` ...), newest job
first, so a million matching jobs cost a thousand statements, never a million, and are never
all in memory.
"""

from __future__ import annotations

import enum

import attrs

from ._states import CANCEL_SOURCES, DELETE_SOURCES, RETRY_SOURCES, JobState

#: Jobs changed per statement (and per write transaction) of a bulk action.
BULK_BATCH = 1000


class BulkAction(enum.StrEnum):
    """What a bulk action does to each job it selects."""

    RETRY = "retry"
    CANCEL = "cancel"
    DELETE = "delete"

    @property
    def sources(self) -> frozenset[JobState]:
        """The states a job must be in for this action to touch it."""
        return {BulkAction.RETRY: RETRY_SOURCES, BulkAction.CANCEL: CANCEL_SOURCES,
                BulkAction.DELETE: DELETE_SOURCES}[self]


@attrs.frozen(kw_only=True)
class BulkResult:
    """What :meth:`JobAdmin.bulk` did: ``changed`` jobs retried, cancelled or deleted;
    ``skipped`` selected jobs that changed state meanwhile (or, on retry, whose unique key
    another unfinished job holds) and were left alone; ``raised``: retried jobs that had used
    all their attempts and got one more (``max_attempts`` raised)."""

    action: BulkAction
    changed: int
    skipped: int = 0
    raised: int = 0

    @property
    def summary(self) -> str:
        """One line for the operator."""
        done = {BulkAction.RETRY: "retried", BulkAction.CANCEL: "cancelled",
                BulkAction.DELETE: "deleted"}[self.action]
        line = f"{self.changed} job{'' if self.changed == 1 else 's'} {done}"
        if self.raised:
            line += (f"; {self.raised} had used all their attempts: their max_attempts was"
                     " raised so that they run once more")
        if self.skipped:
            line += f"; {self.skipped} left as they were (their state changed meanwhile)"
        return line + "."
