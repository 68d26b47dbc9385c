"""The W3C ``traceparent`` a push stores with its job, given or from an installed tracer.

The engine treats it as an opaque string: stored by every push path, returned with the row, and
handed to the worker's claim (so the attempt's span can continue the push's trace).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING

import pytest
from support.conformance import EMAIL, LEASE, REPORT, Email, Report, all_jobs

from service.jobs import AttemptTrace, JobStore, Push, PushTrace, Workflow, set_job_tracer

if TYPE_CHECKING:
    from collections.abc import Iterator

PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
OTHER = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


class RecordingTracer:
    """A tracer that hands out one traceparent per push and remembers what it saw."""

    def __init__(self) -> None:
        self.pushes: list[PushTrace] = []

    @contextmanager
    def push(self, trace: PushTrace) -> Iterator[str | None]:
        self.pushes.append(trace)
        yield f"00-{len(self.pushes):032x}-{len(self.pushes):016x}-01"

    @contextmanager
    def attempt(self, trace: AttemptTrace) -> Iterator[None]:
        yield


@pytest.fixture
def tracer() -> Iterator[RecordingTracer]:
    recording = RecordingTracer()
    previous = set_job_tracer(recording)
    try:
        yield recording
    finally:
        set_job_tracer(previous)


async def test_every_push_path_stores_the_traceparent_given_and_returns_it(
    backend: JobStore,
) -> None:
    one = await backend.push(Email(to="a@example.com"), traceparent=PARENT)
    result = await backend.push_result(Email(to="b@example.com"), traceparent=OTHER)
    [many, bare] = await backend.push_many(
        [Push(task=Report(month=1), traceparent=PARENT), Report(month=2)]
    )
    async with backend.transaction() as tx:
        in_tx = await tx.push(Email(to="c@example.com"), traceparent=OTHER)
        [in_tx_many] = await tx.push_many([Push(task=Report(month=3), traceparent=PARENT)])

    assert (await backend.job_get(one)).traceparent == PARENT
    assert result.row.traceparent == OTHER
    assert (await backend.job_get(result.row.id)).traceparent == OTHER
    assert (await backend.job_get(many)).traceparent == PARENT
    assert (await backend.job_get(bare)).traceparent is None
    assert (await backend.job_get(in_tx)).traceparent == OTHER
    assert (await backend.job_get(in_tx_many)).traceparent == PARENT
    assert {row.id: row.traceparent for row in await all_jobs(backend)}[one] == PARENT


async def test_a_claim_hands_the_worker_the_stored_traceparent(backend: JobStore) -> None:
    traced = await backend.push(Email(to="a@example.com"), traceparent=PARENT)
    untraced = await backend.push(Email(to="b@example.com"))
    now = backend.clock.now()

    claimed = await backend.job_claim(EMAIL, "w1", 10, now, now + LEASE)

    assert {job.id: job.traceparent for job in claimed} == {traced: PARENT, untraced: None}


@pytest.mark.parametrize("bad", ["", "x" * 513, 42])
async def test_a_traceparent_that_is_not_a_short_string_is_refused_before_writing(
    backend: JobStore, bad: object
) -> None:
    with pytest.raises(ValueError, match="traceparent"):
        await backend.push(Email(to="a@example.com"), traceparent=bad)  # type: ignore[arg-type]
    assert await all_jobs(backend) == []


async def test_pushes_without_one_store_the_installed_tracers_traceparent(
    backend: JobStore, tracer: RecordingTracer
) -> None:
    one = await backend.push(Email(to="a@example.com"))
    given = await backend.push(Email(to="b@example.com"), traceparent=PARENT)
    result = await backend.push_result(Report(month=1))
    ids = await backend.push_many([Email(to="c@example.com"), Push(task=Report(month=2))])
    async with backend.transaction() as tx:
        in_tx = await tx.push(Email(to="d@example.com"))

    stored = {row.id: row.traceparent for row in await all_jobs(backend)}
    handed_out = [f"00-{n:032x}-{n:016x}-01" for n in range(1, 6)]
    assert stored == {
        one: handed_out[0], given: PARENT, result.row.id: handed_out[2],
        ids[0]: handed_out[3], ids[1]: handed_out[3], in_tx: handed_out[4],
    }
    assert [(p.tasks, p.count, p.ids) for p in tracer.pushes] == [
        (frozenset({EMAIL}), 1, [one]),
        (frozenset({EMAIL}), 1, [given]),
        (frozenset({REPORT}), 1, [result.row.id]),
        (frozenset({EMAIL, REPORT}), 2, ids),
        (frozenset({EMAIL}), 1, [in_tx]),
    ]


async def test_a_big_push_many_written_while_built_is_one_traced_push(
    backend: JobStore, tracer: RecordingTracer
) -> None:
    tasks = (Email(to=f"{n}@example.com") if n % 2 else Report(month=n % 12 + 1)
             for n in range(1000))

    ids = await backend.push_many(tasks)

    [trace] = tracer.pushes
    assert (trace.tasks, trace.count, trace.ids) == (frozenset({EMAIL, REPORT}), 1000, ids)
    handed_out = f"00-{1:032x}-{1:016x}-01"
    assert {row.traceparent for row in await all_jobs(backend)} == {handed_out}


async def test_a_workflow_push_is_one_traced_push_whose_members_store_its_traceparent(
    backend: JobStore, tracer: RecordingTracer
) -> None:
    wf = Workflow("traced")
    first = wf.add(Email(to="a@example.com"))
    wf.add(Push(task=Report(month=1), traceparent=PARENT), after=[first])

    ids = await backend.push_workflow(wf)

    stored = {row.id: row.traceparent for row in await all_jobs(backend)}
    assert stored == {ids[0]: f"00-{1:032x}-{1:016x}-01", ids[1]: PARENT}
    assert [(p.tasks, p.count, p.ids) for p in tracer.pushes] == [
        (frozenset({EMAIL, REPORT}), 2, ids),
    ]
