"""Health, readiness and Prometheus metrics."""

from __future__ import annotations

import trio
from quart import Blueprint, Response

from ...domain.health import probe_write
from ...jobs import StoreError
from ..plumbing.answers import HealthAnswer, ReadyAnswer, json_answer
from ..plumbing.errors import error_response
from ..plumbing.health import store_health
from ..plumbing.operations import operation
from ..plumbing.outage import public_reason, store_outage
from ..plumbing.request_id import request_id
from ..plumbing.request_state import app_state
from .auth import admin_only

blueprint = Blueprint("ops", __name__)

READY_TIMEOUT_S = 2.0


@blueprint.get("/healthz")
@operation(summary="Liveness", tag="health", answers={200: HealthAnswer}, uses_store=False)
async def healthz() -> Response:
    """The process is up and serving (no database check, no token)."""
    return json_answer(HealthAnswer(status="ok"))


@blueprint.get("/readyz")
@operation(summary="Readiness", tag="health", answers={200: ReadyAnswer})
async def readyz() -> Response:
    """200 when the database answers within 2 s and takes writes, else 503 saying why.

    See :mod:`service.http.plumbing.health` for how writes are checked without writing on every
    call. The answer says what kind of failure it is, never the driver's message (that goes to
    the log, see :mod:`service.http.plumbing.outage`).
    """
    state = app_state()
    health = store_health()
    outage = store_outage()
    with trio.move_on_after(READY_TIMEOUT_S):
        try:
            await state.store.query("SELECT 1")
        except StoreError as exc:
            health.failed(str(exc))
            outage.failed(str(exc), request_id=request_id(), path="/readyz")
            return error_response(503, "unavailable",
                                  f"the database is unavailable{public_reason(str(exc))}")
        if health.probe_due():
            try:
                await probe_write(state.store)
            except StoreError as exc:
                health.failed(str(exc))
                outage.failed(str(exc), request_id=request_id(), path="/readyz")
                return error_response(503, "unavailable",
                                      f"the database refuses writes{public_reason(str(exc))}")
            health.probe_succeeded()
        if health.failure is not None:
            ago = health.failed_seconds_ago()
            return error_response(503, "unavailable", f"a database write failed {ago:.1f} s ago"
                                  f"{public_reason(health.failure)}")
        outage.succeeded()
        return json_answer(ReadyAnswer(status="ready"))
    return error_response(503, "unavailable", "database did not answer within 2 s")


@blueprint.get("/metrics")
@operation(summary="Prometheus metrics", tag="health",
           answers={200: "text/plain; version=0.0.4; charset=utf-8"})
@admin_only
async def metrics() -> Response:
    """Prometheus text; the store's gauges (jobs by task and state, queue lag) are read from the
    database now, in one grouped query."""
    state = app_state()
    stats = await state.store.job_stats_by_state()
    state.metrics.observe_store(stats, state.registry.names(), state.store.clock.now())
    return Response(state.metrics.expose(), content_type="text/plain; version=0.0.4; charset=utf-8")
