"""The quart-trio application: JSON API, HTML pages and operator endpoints."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from quart import Response, request
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException

from ..jobs import StoreError
from .operator import (
    bulk_pages,
    dashboard_assets,
    job_pages,
    jobs_api,
    ops,
    queue_pages,
    schedule_pages,
    schedules_api,
    worker_pages,
)
from .plumbing import api_docs
from .plumbing.access_log import AccessLog
from .plumbing.backpressure import install_backpressure
from .plumbing.errors import (
    ApiError,
    handle_api_error,
    handle_http_exception,
    handle_store_error,
    handle_unexpected,
)
from .plumbing.health import StoreHealth
from .plumbing.outage import StoreOutage
from .plumbing.request_id import HEADER as REQUEST_ID_HEADER
from .plumbing.request_id import STARTED_KEY, request_id
from .plumbing.request_state import STATE_KEY
from .user import pages, uploads, users

if TYPE_CHECKING:
    from types import ModuleType

    from ..state import AppState

#: Methods whose success means the database took a write: every write route writes to it, but
#: for the dashboard's login and logout (:data:`_NO_STORE`).
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_NO_STORE = frozenset({"job_pages.login", "job_pages.logout"})


def create_app(state: AppState) -> QuartTrio:
    """The whole app: user API and pages, operator API and dashboard, health and metrics."""
    return _app(state, (users, uploads, jobs_api, schedules_api, ops, pages, job_pages,
                        bulk_pages, queue_pages, schedule_pages, worker_pages,
                        dashboard_assets, api_docs))


def create_ops_app(state: AppState) -> QuartTrio:
    """Only ``/metrics``, ``/healthz`` and ``/readyz`` (``SERVICE_METRICS_BIND``): the same
    handlers, token rule, error bodies and request log as in the whole app."""
    return _app(state, (ops,))


def _app(state: AppState, modules: tuple[ModuleType, ...]) -> QuartTrio:
    app = QuartTrio("service", static_folder=None)
    install_backpressure(app)  # quart would buffer a body its handler is slow to read
    app.extensions[STATE_KEY] = state
    app.extensions["store_health"] = StoreHealth()
    app.extensions["store_outage"] = StoreOutage()
    app.config["BODY_MAX_BYTES"] = state.settings.body_max_bytes
    # Uploads stream past quart's own limit; our handlers enforce SERVICE_UPLOAD_MAX_BYTES.
    app.config["MAX_CONTENT_LENGTH"] = None
    app.config["JSON_SORT_KEYS"] = False
    app.url_map.strict_slashes = False

    app.register_error_handler(ApiError, handle_api_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(StoreError, handle_store_error)
    app.register_error_handler(Exception, handle_unexpected)

    for module in modules:
        app.register_blueprint(module.blueprint)
    if state.tracing is not None:
        state.tracing.instrument(app)

    access_log = AccessLog(state.settings.http_log_every, state.settings.http_slow)

    @app.after_request
    async def _count(response: Response) -> Response:
        # Runs for every request: one lookup of the request proxy, no before_request hook
        # (InFlight stamps the arrival time; quart's test client, without it, counts 0 s).
        req = request._get_current_object()  # type: ignore[attr-defined]
        rule = req.url_rule
        route = rule.rule if rule is not None else "unmatched"
        metrics = state.metrics
        status = response.status_code
        method = req.method
        metrics.http_requests.inc(method=method, route=route, status=str(status))
        started = req.scope.get(STARTED_KEY)
        seconds = 0.0 if started is None else time.perf_counter() - started
        metrics.http_duration.observe(seconds, route=route)
        chosen = request_id()
        access_log.request(method=method, path=req.path, route=route, status=status,
                           seconds=seconds, request_id=chosen)
        if method in _WRITES and status < 400 and req.endpoint not in _NO_STORE:
            app.extensions["store_outage"].succeeded()  # the database took a write again
        headers = response.headers
        headers[REQUEST_ID_HEADER] = chosen
        headers.setdefault("X-Content-Type-Options", "nosniff")
        return response

    return app
