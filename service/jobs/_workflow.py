"""Workflows: jobs that wait for other jobs, pushed as one graph in one transaction.

::

    wf = Workflow("publish-upload-42")
    resize = wf.add(Resize(upload_id=42))
    thumb = wf.add(Thumbnail(upload_id=42), after=[resize])
    scan = wf.add(VirusScan(upload_id=42), after=[resize])
    wf.add(Publish(upload_id=42), after=[thumb, scan], on_failure="run")
    ids = await store.push_workflow(wf)

A member with dependencies is stored ``pending`` with the number of its dependencies still
unsettled; the transaction that records a dependency's outcome settles its edges and releases
(``available``) or cancels the dependents. Building the rows here is pure: no trio, no driver.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from ._attempt_error import AttemptError, ErrorKind
from ._errors import InvalidWorkflow
from ._push import build_insert, plain_insert
from ._states import JobState
from ._store import MemberInsert, OnFailure, Push, WorkflowInsert, WorkflowInserted
from ._task import Task, task_options

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

ON_FAILURE: tuple[OnFailure, ...] = ("cancel", "run")
#: The most members one workflow may have.
MAX_MEMBERS = 10_000
MAX_NAME = 200


@attrs.frozen(eq=False)
class Member:
    """A handle on one member, returned by :meth:`Workflow.add`; pass it in a later member's
    ``after=``. ``index`` is its place in the order of the ``add`` calls (and of the ids
    ``push_workflow`` returns)."""

    workflow: Workflow = attrs.field(repr=False)
    index: int

    @property
    def id(self) -> int | None:
        """The member's job id, once its workflow was pushed."""
        ids = self.workflow.job_ids
        return None if ids is None else ids[self.index]


@attrs.frozen(kw_only=True)
class _Entry:
    request: Push
    #: Pushed as a bare task: no options to check.
    bare: bool
    after: tuple[Member | int, ...]
    on_failure: OnFailure


class Workflow:
    """A graph of jobs to push together (``store.push_workflow`` or ``tx.push_workflow``).

    ``after=`` takes handles returned by earlier :meth:`add` calls of this workflow (so a cycle
    cannot be written) and ids of jobs already stored. ``on_failure`` says what a member does
    when a dependency ends ``discarded`` or ``cancelled``: ``"cancel"`` (the default) cancels it
    (and, in turn, its own dependents that say ``"cancel"``); ``"run"`` runs it anyway once every
    dependency ended, and its ``ctx.failed_dependencies`` lists those that failed.

    After the push, ``id`` is the workflow's id (every member carries it and its ``name``) and
    ``job_ids`` the members' job ids in ``add`` order.
    """

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not 1 <= len(name) <= MAX_NAME:
            raise InvalidWorkflow(f"a workflow name must be a string of 1 to {MAX_NAME}"
                                  f" characters, got {name!r}")
        self.name = name
        self.id: int | None = None
        self.job_ids: list[int] | None = None
        self._entries: list[_Entry] = []

    def __repr__(self) -> str:
        return f"Workflow({self.name!r}, members={len(self._entries)}, id={self.id})"

    def __len__(self) -> int:
        return len(self._entries)

    def add(
        self,
        task: Task | Push,
        *,
        after: Iterable[Member | int] = (),
        on_failure: OnFailure = "cancel",
    ) -> Member:
        """Add a member that runs after every job in ``after``; its handle.

        ``task`` may be a :class:`Push` to give the member a priority or ``max_attempts`` (a
        member with dependencies takes no ``delay``/``run_at``; no member takes a
        ``unique_key``). Everything is checked at the push, with errors naming the member.
        """
        request = task if isinstance(task, Push) else Push(task=task)
        entry = _Entry(request=request, bare=not isinstance(task, Push), after=tuple(after),
                       on_failure=on_failure)
        self._entries.append(entry)
        return Member(self, len(self._entries) - 1)

    # -- building the rows ----------------------------------------------------------------

    def _describe(self, index: int) -> str:
        task = self._entries[index].request.task
        try:
            name = task_options(task).name
        except TypeError:
            name = type(task).__qualname__
        return f"member {index} ({name}) of workflow {self.name!r}"

    def plan(self, now: float) -> WorkflowInsert:
        """The rows and edges to store; :class:`InvalidWorkflow` naming the member when the
        graph, an option or a payload is invalid -- before anything is written."""
        return WorkflowInsert(name=self.name, created_at=now, members=list(self.member_rows(now)))

    def member_rows(
        self, now: float, traceparent: str | None = None
    ) -> Iterator[MemberInsert]:
        """:meth:`plan`'s members one at a time (``push_workflow`` yields to the event loop in
        between); the workflow's own faults are raised before the first."""
        if self.job_ids is not None:
            raise InvalidWorkflow(f"workflow {self.name!r} was pushed already (id {self.id})")
        if not self._entries:
            raise InvalidWorkflow(f"workflow {self.name!r} has no members")
        if len(self._entries) > MAX_MEMBERS:
            raise InvalidWorkflow(f"workflow {self.name!r} has {len(self._entries)} members;"
                                  f" at most {MAX_MEMBERS} are allowed")
        for index, entry in enumerate(self._entries):
            yield self._member_row(index, entry, now, traceparent)

    def pushed(self, inserted: WorkflowInserted) -> None:
        """Record the id and job ids a push gave the workflow."""
        self.id = inserted.id
        self.job_ids = list(inserted.job_ids)

    def _fault(self, index: int, problem: str) -> InvalidWorkflow:
        return InvalidWorkflow(f"{self._describe(index)}: {problem}", member=index)

    def _member_row(
        self, index: int, entry: _Entry, now: float, traceparent: str | None
    ) -> MemberInsert:
        if entry.on_failure not in ON_FAILURE:
            raise self._fault(index, f"on_failure must be 'cancel' or 'run', got"
                                     f" {entry.on_failure!r}")
        internal: list[int] = []
        external: list[int] = []
        for dep in entry.after:
            if isinstance(dep, Member):
                if dep.workflow is not self:
                    raise self._fault(index, f"after= names member {dep.index} of another"
                                             f" workflow ({dep.workflow.name!r}); use its job id"
                                             " once that one is pushed")
                if not 0 <= dep.index < index:  # handles come from earlier adds: no cycles
                    raise self._fault(index, f"after= names member {dep.index}, which is not"
                                             " an earlier member")
                internal.append(dep.index)
            elif isinstance(dep, int) and not isinstance(dep, bool) and dep > 0:
                external.append(dep)
            else:
                raise self._fault(index, f"after= takes handles of this workflow and job ids,"
                                         f" got {dep!r}")
        request = entry.request
        if request.unique_key is not None:
            raise self._fault(index, "a member cannot have a unique_key")
        waits = bool(internal or external)
        if waits and (request.delay is not None or request.run_at is not None):
            raise self._fault(index, "a member with dependencies runs when they end; it takes"
                                     " no delay or run_at")
        try:
            row = (plain_insert(request.task, now, traceparent) if entry.bare
                   else build_insert(request, now, traceparent))
        except (ValueError, TypeError) as exc:
            raise self._fault(index, str(exc)) from exc
        if waits:
            row = attrs.evolve(row, state=JobState.PENDING)
        return MemberInsert(
            row=row,
            on_failure=entry.on_failure,
            after_members=tuple(sorted(set(internal))),
            after_jobs=tuple(sorted(set(external))),
        )

    def unknown_job(self, job_id: int) -> InvalidWorkflow:
        """The error for an ``after=`` id that names no stored job, naming the first member
        that gave it."""
        for index, entry in enumerate(self._entries):
            if job_id in entry.after:
                return InvalidWorkflow(f"{self._describe(index)}: after= names job {job_id},"
                                       " which does not exist", member=index)
        return InvalidWorkflow(f"workflow {self.name!r}: job {job_id} does not exist")


def dependency_failed(at: float, dep_id: int, state: JobState) -> AttemptError:
    """The entry a member cancelled by a failed dependency records (``on_failure="cancel"``)."""
    return AttemptError(attempt=None, at=at, kind=ErrorKind.CANCELLED, error="DependencyFailed",
                        detail=f"dependency {dep_id} ended {state}")
