"""Tracing switched on: the tracer provider, its exporters, and where its spans come from."""

from __future__ import annotations

from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
)

from ..jobs import JobTracer, set_job_tracer
from ._http import instrument_app
from ._jobs import JobSpans

#: The resource attribute naming the service (semantic conventions' ``service.name``).
RESOURCE_NAME_KEY = "service.name"

if TYPE_CHECKING:
    from collections.abc import Sequence

    from quart_trio import QuartTrio

#: The instrumentation scope of every span the service makes.
SCOPE = "service"


class OtelTracing:
    """Spans from ``provider`` for HTTP requests (apps given to :meth:`instrument`), pushes and
    attempts (a :class:`JobSpans` installed as the engine's tracer until :meth:`close`)."""

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self.tracer = provider.get_tracer(SCOPE)
        self._previous: JobTracer | None = set_job_tracer(JobSpans(self.tracer))

    @classmethod
    def from_environment(cls, exporters: Sequence[str]) -> OtelTracing:
        """The process's tracing, set as OpenTelemetry's global provider too (so tasks may make
        spans of their own). The SDK reads the other ``OTEL_*`` variables itself: the sampler
        (``OTEL_TRACES_SAMPLER``), the resource (``OTEL_SERVICE_NAME``,
        ``OTEL_RESOURCE_ATTRIBUTES``), the OTLP endpoint (``OTEL_EXPORTER_OTLP_ENDPOINT``...)."""
        resource = Resource.create()
        if str(resource.attributes.get(RESOURCE_NAME_KEY, "")).startswith("unknown_service"):
            resource = resource.merge(Resource({RESOURCE_NAME_KEY: "service"}))
        provider = TracerProvider(resource=resource)
        for name in exporters:
            if name == "console":
                # One JSON object per span on stdout as each ends (logs go to stderr).
                provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
            elif name == "otlp":
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
                    OTLPSpanExporter,
                )

                provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(provider)
        return cls(provider)

    def instrument(self, app: QuartTrio) -> None:
        instrument_app(app, self.tracer)

    def close(self) -> None:
        set_job_tracer(self._previous)
        self.provider.shutdown()
