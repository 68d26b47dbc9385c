"""Whether this process traces, from the standard OpenTelemetry variables; no OpenTelemetry here.

Tracing is on when ``OTEL_TRACES_EXPORTER`` names an exporter (``console``, ``otlp``, or both,
comma-separated) and ``OTEL_SDK_DISABLED`` is not ``true``. Unset, or ``none``, it is off: a
process that merely has the extra installed (the test extra includes it) sends nothing anywhere.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Protocol

from ..jobs import emit
from ..settings import SettingsError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from quart_trio import QuartTrio

logger = logging.getLogger("service.tracing")

#: The span exporters ``OTEL_TRACES_EXPORTER`` may name.
EXPORTERS = ("console", "otlp", "none")


class Tracing(Protocol):
    """Tracing switched on for this process: pushes and attempts are traced from the start."""

    def instrument(self, app: QuartTrio) -> None:
        """Trace every HTTP request ``app`` serves."""
        ...

    def close(self) -> None:
        """Export the spans still buffered and stop tracing pushes and attempts."""
        ...


def tracing_exporters(environ: Mapping[str, str]) -> list[str]:
    """The exporters ``environ`` asks for; empty when tracing is off. :class:`SettingsError`
    naming ``OTEL_TRACES_EXPORTER`` when it names an exporter we do not have."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    names = [n.strip().lower() for n in environ.get("OTEL_TRACES_EXPORTER", "").split(",")]
    names = [n for n in names if n]
    unknown = [n for n in names if n not in EXPORTERS]
    if unknown:
        raise SettingsError(
            f"OTEL_TRACES_EXPORTER: unknown exporter {unknown[0]!r}; use one or more of"
            f" {', '.join(EXPORTERS)} (comma-separated)"
        )
    return [n for n in names if n != "none"]


def start_tracing(environ: Mapping[str, str] | None = None) -> Tracing | None:
    """Switch tracing on for this process as ``environ`` (default: ``os.environ``) asks; None
    when it is off -- or when the ``otel`` extra is not installed, which is logged once as
    ``tracing.unavailable`` and otherwise ignored: the service runs untraced."""
    environ = os.environ if environ is None else environ
    exporters = tracing_exporters(environ)
    if not exporters:
        return None
    try:
        from ._otel import OtelTracing
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("opentelemetry"):
            raise
        emit(logger, logging.WARNING, "tracing.unavailable",
             message=f"OTEL_TRACES_EXPORTER is set but {exc.name} is not installed: install"
             " the otel extra (pip install -e '.[otel]'); running without tracing")
        return None
    return OtelTracing.from_environment(exporters)
