"""OpenTelemetry spans for requests, pushes and attempts, read from the SDK's in-memory exporter.

A request that pushes a job, the push and every attempt of that job are one trace: the push is
a child of the request, and each attempt -- a retry too -- a child of the push, through the
traceparent stored with the job.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs
import pytest
import trio
import trio.testing
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from support.http import serve_app
from support.waiting import wait_for_job_state, wait_until

from service.jobs import Backoff, JobContext, JobState, SQLiteStore, Task, TaskOptions, TaskWorker
from service.jobs.testing import TEST_CONFIG
from service.tracing._otel import OtelTracing

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

TRACE_ID = 0x0AF7651916CD43DD8448EB211C80319C
CLIENT_SPAN_ID = 0xB7AD6B7169203331
TRACEPARENT = f"00-{TRACE_ID:032x}-{CLIENT_SPAN_ID:016x}-01"


@attrs.frozen(kw_only=True)
class FailsOnce(Task):
    """Fails its first attempt, succeeds on the next (after a short backoff)."""

    options = TaskOptions(name="fails_once", max_attempts=3, backoff=Backoff(base=0.05, jitter=0))
    note: str

    async def run(self, ctx: JobContext) -> str:
        if ctx.attempt == 1:
            raise RuntimeError("first attempt fails")
        return self.note


@attrs.frozen(kw_only=True)
class PushesFollowUp(Task):
    """Pushes a :class:`FailsOnce` from inside its attempt."""

    options = TaskOptions(name="pushes_follow_up")

    async def run(self, ctx: JobContext[SQLiteStore]) -> int:
        return await ctx.state.push(FailsOnce(note="follow-up"))


@attrs.frozen
class Traced:
    tracing: OtelTracing
    exporter: InMemorySpanExporter

    def spans(self, kind: SpanKind | None = None) -> list[ReadableSpan]:
        return [s for s in self.exporter.get_finished_spans() if kind is None or s.kind == kind]


@pytest.fixture
def traced() -> Iterator[Traced]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing = OtelTracing(provider)
    try:
        yield Traced(tracing, exporter)
    finally:
        tracing.close()


def parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def attrs_of(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


async def test_a_pushed_jobs_attempts_continue_the_trace_of_the_request_that_pushed_it(
    tmp_path: Path, traced: Traced, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with serve_app(tmp_path, tracing=traced.tracing) as app, trio.open_nursery() as nursery:
        monkeypatch.setitem(app.state.registry._by_name, "fails_once", FailsOnce)
        worker = TaskWorker(app.state.store, [FailsOnce], state=app.state)
        await nursery.start(worker.run)
        response = await app.admin.post(
            "/api/jobs", json={"task": "fails_once", "args": {"note": "done"}},
            headers={"traceparent": TRACEPARENT},
        )
        assert response.status_code == 201, response.text
        job_id = response.json()["id"]
        row = await wait_for_job_state(app.state.store, job_id, JobState.COMPLETED)
        await wait_until("two attempt spans", lambda: len(traced.spans(SpanKind.CONSUMER)) == 2)
        await worker.shutdown()

    [request] = [s for s in traced.spans(SpanKind.SERVER) if attrs_of(s)["url.path"] == "/api/jobs"]
    [push] = traced.spans(SpanKind.PRODUCER)
    first, second = sorted(traced.spans(SpanKind.CONSUMER),
                           key=lambda s: attrs_of(s)["job.attempt"])

    # The request continues the client's trace; the push and both attempts are in it.
    assert request.context.trace_id == TRACE_ID
    assert parent_id(request) == CLIENT_SPAN_ID
    assert {s.context.trace_id for s in (push, first, second)} == {TRACE_ID}
    assert parent_id(push) == request.context.span_id
    assert parent_id(first) == parent_id(second) == push.context.span_id
    assert row.traceparent == f"00-{TRACE_ID:032x}-{push.context.span_id:016x}-01"
    assert response.json()["traceparent"] == row.traceparent, "the job's JSON shows it"

    assert request.name == "POST /api/jobs"
    assert attrs_of(request) | {"client.address": "-"} == {
        "http.request.method": "POST", "url.path": "/api/jobs", "url.scheme": "http",
        "network.protocol.version": "1.1", "client.address": "-", "http.route": "/api/jobs",
        "http.response.status_code": 201,
    }
    assert push.name == "push fails_once"
    assert attrs_of(push)["job.id"] == job_id
    assert attrs_of(push)["job.task"] == "fails_once"

    assert first.name == second.name == "run fails_once"
    assert attrs_of(first) | {"job.state": "retryable"} == attrs_of(first)
    assert {k: attrs_of(second)[k] for k in ("job.id", "job.task", "job.attempt", "job.state")} \
        == {"job.id": job_id, "job.task": "fails_once", "job.attempt": 2, "job.state": "completed"}
    assert first.status.status_code == StatusCode.ERROR
    assert "first attempt fails" in (first.status.description or "")
    assert [event.name for event in first.events] == ["exception"]
    assert second.status.status_code == StatusCode.UNSET
    assert not second.events


async def test_a_request_without_a_traceparent_starts_a_trace_and_an_unmatched_one_has_no_route(
    tmp_path: Path, traced: Traced
) -> None:
    async with serve_app(tmp_path, tracing=traced.tracing) as app:
        created = await app.client.post(
            "/api/users", json={"name": "Ada", "email": "ada@example.com"}
        )
        assert created.status_code == 201, created.text
        missing = await app.client.get("/no/such/page")
        assert missing.status_code == 404

    by_path = {attrs_of(s)["url.path"]: s for s in traced.spans(SpanKind.SERVER)}
    signup, unmatched = by_path["/api/users"], by_path["/no/such/page"]
    assert signup.parent is None
    assert signup.name == "POST /api/users"
    assert attrs_of(signup)["http.route"] == "/api/users"
    [push] = traced.spans(SpanKind.PRODUCER)
    assert push.name == "push send_welcome_email"
    assert parent_id(push) == signup.context.span_id

    assert unmatched.name == "GET"
    assert "http.route" not in attrs_of(unmatched)
    assert attrs_of(unmatched)["http.response.status_code"] == 404
    assert unmatched.status.status_code == StatusCode.UNSET


async def test_a_job_pushed_by_a_running_task_is_traced_as_a_child_of_that_attempt(
    store: SQLiteStore, traced: Traced, autojump_clock: trio.testing.MockClock
) -> None:
    async with trio.open_nursery() as nursery:
        worker = TaskWorker(store, [PushesFollowUp, FailsOnce], state=store, config=TEST_CONFIG)
        await nursery.start(worker.run)
        first = await store.push(PushesFollowUp())
        done = await wait_for_job_state(store, first, JobState.COMPLETED)
        assert done.result is not None
        await wait_for_job_state(store, int(done.result), JobState.COMPLETED)
        await worker.shutdown()

    pushes = traced.spans(SpanKind.PRODUCER)
    [outer_push, inner_push] = sorted(pushes, key=lambda s: s.start_time or 0)
    [outer] = [s for s in traced.spans(SpanKind.CONSUMER) if s.name == "run pushes_follow_up"]
    inner = [s for s in traced.spans(SpanKind.CONSUMER) if s.name == "run fails_once"]
    assert outer_push.parent is None  # pushed outside any span: a trace of its own
    assert parent_id(outer) == outer_push.context.span_id
    assert parent_id(inner_push) == outer.context.span_id
    assert [parent_id(s) for s in inner] == [inner_push.context.span_id] * 2
    assert {s.context.trace_id for s in (outer, inner_push, *inner)} == {
        outer_push.context.trace_id}
