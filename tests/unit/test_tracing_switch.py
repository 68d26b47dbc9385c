"""When tracing is on: the standard ``OTEL_*`` variables decide, and a wrong exporter is named."""

from __future__ import annotations

import pytest

from service.settings import SettingsError
from service.tracing import start_tracing, tracing_exporters


@pytest.mark.parametrize(
    ("environ", "exporters"),
    [
        ({}, []),
        ({"OTEL_TRACES_EXPORTER": ""}, []),
        ({"OTEL_TRACES_EXPORTER": "none"}, []),
        ({"OTEL_TRACES_EXPORTER": "console"}, ["console"]),
        ({"OTEL_TRACES_EXPORTER": " OTLP , console"}, ["otlp", "console"]),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}, []),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "false"}, ["otlp"]),
        ({"OTEL_TRACES_EXPORTER": "jaeger", "OTEL_SDK_DISABLED": "TRUE"}, []),
    ],
)
def test_tracing_is_on_only_when_an_exporter_is_named_and_the_sdk_is_not_disabled(
    environ: dict[str, str], exporters: list[str]
) -> None:
    assert tracing_exporters(environ) == exporters


def test_an_unknown_exporter_is_an_error_naming_the_variable_and_the_choices() -> None:
    with pytest.raises(SettingsError, match=r"OTEL_TRACES_EXPORTER: unknown exporter 'zipkin'"
                       r".*console, otlp, none"):
        tracing_exporters({"OTEL_TRACES_EXPORTER": "console,zipkin"})


def test_with_tracing_off_nothing_is_started() -> None:
    assert start_tracing({}) is None
