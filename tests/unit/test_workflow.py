"""Building a workflow's rows and edges, without a store: what is refused, naming the member."""

from __future__ import annotations

import attrs
import pytest

from service.jobs import InvalidWorkflow, JobState, Member, Push, Task, TaskOptions, Workflow
from service.jobs._store import WorkflowInserted

NOW = 1_800_000_000.0


@attrs.frozen(kw_only=True)
class Step(Task):
    options = TaskOptions(name="unit.step")
    n: int


def test_members_with_dependencies_are_pending_and_edges_follow_the_handles() -> None:
    wf = Workflow("w")
    a = wf.add(Step(n=0))
    b = wf.add(Step(n=1), after=[a, a])
    wf.add(Step(n=2), after=[a, b, 99], on_failure="run")

    plan = wf.plan(NOW)

    assert [m.row.state for m in plan.members] == [
        JobState.AVAILABLE, JobState.PENDING, JobState.PENDING,
    ]
    assert [m.on_failure for m in plan.members] == ["cancel", "cancel", "run"]
    assert [m.dependencies for m in plan.members] == [0, 1, 3]
    assert plan.external_ids() == [99]
    assert plan.edges([10, 11, 12]) == [(11, 10), (12, 10), (12, 11), (12, 99)]
    wake = plan.due_wake()
    assert wake is not None
    assert wake.tasks == {"unit.step"}


def test_a_pushed_workflow_knows_its_ids_and_cannot_be_pushed_again() -> None:
    wf = Workflow("w")
    first = wf.add(Step(n=0))
    assert first.id is None
    wf.pushed(WorkflowInserted(id=3, job_ids=[41]))

    assert (wf.id, wf.job_ids, first.id) == (3, [41], 41)
    with pytest.raises(InvalidWorkflow, match="pushed already"):
        wf.plan(NOW)


@pytest.mark.parametrize(
    ("after", "problem"),
    [
        (["not a handle"], "after= takes handles of this workflow and job ids, got 'not a handle'"),
        ([True], "got True"),
        ([0], "got 0"),
    ],
)
def test_an_after_that_is_neither_a_handle_nor_a_job_id_is_refused(
    after: list[object], problem: str
) -> None:
    wf = Workflow("w")
    wf.add(Step(n=0))
    wf.add(Step(n=1), after=after)  # type: ignore[arg-type]

    with pytest.raises(InvalidWorkflow, match=r"member 1 \(unit.step\) of workflow 'w'") as info:
        wf.plan(NOW)
    assert problem in str(info.value)
    assert info.value.member == 1


def test_a_handle_to_a_later_member_cannot_make_a_cycle() -> None:
    wf = Workflow("w")
    wf.add(Step(n=0), after=[Member(wf, 1)])
    wf.add(Step(n=1))

    with pytest.raises(InvalidWorkflow, match="not an earlier member"):
        wf.plan(NOW)


def test_member_options_are_checked_naming_the_member() -> None:
    wf = Workflow("w")
    wf.add(Step(n=0))
    wf.add(Push(task=Step(n=1), priority=2**40))
    with pytest.raises(InvalidWorkflow, match=r"member 1 .*priority must be an integer"):
        wf.plan(NOW)

    keyed = Workflow("k")
    keyed.add(Push(task=Step(n=0), unique_key="x"))
    with pytest.raises(InvalidWorkflow, match=r"member 0 .*unique_key"):
        keyed.plan(NOW)


def test_a_workflow_needs_a_name_and_a_member() -> None:
    with pytest.raises(InvalidWorkflow, match="workflow name"):
        Workflow("")
    with pytest.raises(InvalidWorkflow, match="has no members"):
        Workflow("empty").plan(NOW)
