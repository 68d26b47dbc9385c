"""Spans for pushes (producer) and attempts (consumer), linked through the stored traceparent.

A push's span is a child of whatever span is current (the HTTP request that pushed, or the
attempt of a task that pushes follow-up jobs); the job stores the push span's W3C
``traceparent``. Each attempt's span is a *child* of that push span -- in whichever process
and after however many retries it runs -- so a request, its pushes and every attempt of their
jobs are one trace.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from ..jobs import AttemptTrace, JobState, PushTrace

if TYPE_CHECKING:
    from collections.abc import Iterator

    from opentelemetry.trace import Span, Tracer

#: The job's ``traceparent`` is W3C Trace Context, whatever ``OTEL_PROPAGATORS`` says for HTTP.
W3C = TraceContextTextMapPropagator()
#: Outcomes that mean the attempt failed: its span's status is an error.
FAILED = frozenset({JobState.RETRYABLE, JobState.DISCARDED})


class JobSpans:
    """The engine's :class:`~service.jobs.JobTracer`, making OpenTelemetry spans."""

    def __init__(self, tracer: Tracer) -> None:
        self._tracer = tracer

    @contextmanager
    def push(self, trace: PushTrace) -> Iterator[str | None]:
        with self._tracer.start_as_current_span("push", kind=SpanKind.PRODUCER) as span:
            carrier: dict[str, str] = {}
            W3C.inject(carrier)
            try:
                yield carrier.get("traceparent")
            finally:
                _describe_push(span, trace)

    @contextmanager
    def attempt(self, trace: AttemptTrace) -> Iterator[None]:
        job = trace.job
        parent = W3C.extract({"traceparent": job.traceparent}) if job.traceparent else None
        attributes: dict[str, Any] = {
            "job.task": job.task,
            "job.id": job.job_id,
            "job.attempt": job.attempt,
            "job.max_attempts": job.max_attempts,
            "messaging.operation.type": "process",
            "messaging.destination.name": job.task,
            "messaging.message.id": str(job.job_id),
        }
        with self._tracer.start_as_current_span(
            f"run {job.task}", context=parent, kind=SpanKind.CONSUMER, attributes=attributes
        ) as span:
            yield
            if trace.state is not None:
                span.set_attribute("job.state", trace.state.value)
            error = trace.error
            if error is not None and trace.state in FAILED:
                span.add_event("exception", {"exception.type": error.error,
                                             "exception.message": error.message})
                span.set_status(Status(StatusCode.ERROR, error.message))


def _describe_push(span: Span, trace: PushTrace) -> None:
    tasks = sorted(trace.tasks)
    if len(tasks) == 1:
        span.update_name(f"push {tasks[0]}")
        span.set_attribute("job.task", tasks[0])
        span.set_attribute("messaging.destination.name", tasks[0])
    elif tasks:
        span.set_attribute("job.task", tasks)
    span.set_attribute("job.count", trace.count)
    span.set_attribute("messaging.operation.type", "send")
    if trace.count > 1:
        span.set_attribute("messaging.batch.message_count", trace.count)
    if trace.ids is not None and len(trace.ids) == 1:
        span.set_attribute("job.id", trace.ids[0])
        span.set_attribute("messaging.message.id", str(trace.ids[0]))
