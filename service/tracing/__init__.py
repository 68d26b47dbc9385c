"""Tracing with OpenTelemetry: an optional extra (``pip install -e '.[otel]'``).

This package's own modules import no OpenTelemetry; :func:`start_tracing` imports the parts
that do (``_otel``, ``_jobs``, ``_http``) only when tracing is switched on, so a process without
the extra, or with tracing off, never loads it.
"""

from ._switch import Tracing, start_tracing, tracing_exporters

__all__ = ["Tracing", "start_tracing", "tracing_exporters"]
