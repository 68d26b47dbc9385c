"""A database failure over HTTP: clients get a generic 503 with a request id, the log the detail.

Issue 11, bug 2: with the database gone, ``POST /api/users`` and ``/readyz`` answered the driver's
text (``connection to server at "127.0.0.1", port 5432 failed: FATAL: database "x" does not
exist``) to anyone, and the log got a warning per request (~5 a second during an outage).
"""

from __future__ import annotations

import logging
import re
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import pytest
import trio
import trio.testing
from support.http import make_settings, serve_app

from service.http.app import create_app
from service.http.plumbing.health import StoreHealth
from service.http.plumbing.outage import LOG_INTERVAL_S, StoreOutage, public_reason
from service.jobs import StoreUnavailable
from service.runtime import open_state

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import httpx
    from quart_trio import QuartTrio

    from service.state import AppState

DETAIL = ('connection to server at "127.0.0.1", port 5432 failed: FATAL:  database "x" does not'
          ' exist')
INTERNALS = ("127.0.0.1", "5432", "FATAL", '"x"')
ADA = {"name": "Ada Lovelace", "email": "ada@example.com"}


def break_store(state: AppState, monkeypatch: pytest.MonkeyPatch, detail: str = DETAIL) -> None:
    """Every write transaction and query of ``state.store`` fails as a lost server does."""

    @asynccontextmanager
    async def transaction(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        raise StoreUnavailable(detail)
        yield  # pragma: no cover - makes this a generator

    async def query(*args: Any, **kwargs: Any) -> Any:
        raise StoreUnavailable(detail)

    monkeypatch.setattr(state.store, "transaction", transaction)
    monkeypatch.setattr(state.store, "query", query)


def events(caplog: pytest.LogCaptureFixture, name: str) -> list[dict[str, Any]]:
    """The fields of each ``name`` event logged so far."""
    return [dict(getattr(r, "fields", {})) for r in caplog.records
            if getattr(r, "event", None) == name]


def assert_generic_503(response: httpx.Response, message: str) -> str:
    """The 503's request id, after checking the body shows nothing of the driver's text."""
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["code"] == "unavailable"
    assert error["message"] == message
    for internal in INTERNALS:
        assert internal not in response.text
    request_id: str = error["request_id"]
    assert response.headers["X-Request-ID"] == request_id
    return request_id


async def test_a_503_shows_no_database_internals_and_the_log_has_them_with_the_request_id(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="service")
    async with serve_app(tmp_path) as app:
        break_store(app.state, monkeypatch)
        signup = await app.client.post("/api/users", json=ADA)
        request_id = assert_generic_503(
            signup, "the database is unavailable: it cannot be reached")
        ready = await app.client.get("/readyz")
        assert_generic_503(ready, "the database is unavailable: it cannot be reached")

    [logged] = events(caplog, "http.store_error")  # the readiness failure is in the same outage
    assert logged["error"] == DETAIL
    assert logged["request_id"] == request_id
    assert logged["path"] == "/api/users"
    requests = {e["path"]: e for e in events(caplog, "http.request")}
    assert requests["/api/users"]["request_id"] == request_id
    assert requests["/readyz"]["request_id"] == ready.headers["X-Request-ID"]


@pytest.mark.parametrize(
    ("detail", "message"),
    [
        ("database or disk is full (SQLITE_FULL)",
         "the database is unavailable: its disk is full, no space left (SQLITE_FULL)"),
        ("the database is read-only: cannot execute INSERT in a read-only transaction",
         "the database is unavailable: it is read-only"),
        ("disk I/O error (SQLITE_IOERR_WRITE)",
         "the database is unavailable: disk I/O error (SQLITE_IOERR_WRITE)"),
        ("no database connection: couldn't get a connection after 5.00 sec",
         "the database is unavailable: it cannot be reached"),
        ('relation "jobs" does not exist', "the database is unavailable"),
    ],
)
def test_a_client_learns_the_kind_of_failure_only(detail: str, message: str) -> None:
    assert f"the database is unavailable{public_reason(detail)}" == message


async def test_a_sane_x_request_id_is_kept_and_any_other_replaced(tmp_path: Any) -> None:
    async with serve_app(tmp_path) as app:
        sent = "lb-7f3a:2026/12/03+x=1"
        invalid = await app.client.post("/api/users", json={"name": 5},
                                        headers={"X-Request-ID": sent})
        assert invalid.status_code == 422
        assert invalid.headers["X-Request-ID"] == sent
        assert invalid.json()["error"]["request_id"] == sent

        for bad in (b"-leading-dash", b"x" * 129, b"has space", b"<script>", "é".encode()):
            response = await app.client.get("/api/nope", headers={"X-Request-ID": bad})
            assert response.status_code == 404
            chosen = response.headers["X-Request-ID"]
            assert re.fullmatch(r"[0-9a-f]{32}", chosen), (bad, chosen)
            assert response.json()["error"]["request_id"] == chosen

        ok = await app.client.get("/healthz")
        first, second = ok.headers["X-Request-ID"], (await app.client.get("/healthz")).headers[
            "X-Request-ID"]
        assert re.fullmatch(r"[0-9a-f]{32}", first)
        assert first != second, "a new id per request"


@pytest.fixture
async def outage_app(tmp_path: Any) -> AsyncIterator[tuple[QuartTrio, AppState]]:
    """The app with its outage log on trio's clock."""
    async with open_state(make_settings(tmp_path)) as state:
        app = create_app(state)
        app.extensions["store_outage"] = StoreOutage(trio.current_time)
        app.extensions["store_health"] = StoreHealth(trio.current_time)
        yield app, state


async def test_an_outage_is_logged_at_once_then_at_most_every_10_s_until_a_success(
    outage_app: tuple[QuartTrio, AppState], autojump_clock: trio.testing.MockClock,
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    app, state = outage_app
    caplog.set_level(logging.INFO, logger="service")
    client = app.test_client()
    assert LOG_INTERVAL_S == 10.0
    with monkeypatch.context() as broken:
        break_store(state, broken)
        start = trio.current_time()
        for _ in range(16):  # 4 a second for 4 s: one line, at once
            assert (await client.post("/api/users", json=ADA)).status_code == 503
            await trio.sleep(0.25)
        assert [e["suppressed"] for e in events(caplog, "http.store_error")] == [0]

        while trio.current_time() - start < 25:  # the outage goes on, 4 failures a second
            assert (await client.post("/api/users", json=ADA)).status_code == 503
            await trio.sleep(0.25)
        logged = events(caplog, "http.store_error")
        assert [e["outage_s"] for e in logged] == [
            pytest.approx(0, abs=0.01), pytest.approx(10, abs=0.01),
            pytest.approx(20, abs=0.01)], "at once, then one line per 10 s"
        assert [e["suppressed"] for e in logged] == [0, 39, 39], "each counts those it stands for"
        assert all(e["error"] == DETAIL and e["request_id"] for e in logged)
        assert not events(caplog, "http.store_recovered")

    created = await client.post("/api/users", json=ADA)  # the database is back
    assert created.status_code == 201
    [recovered] = events(caplog, "http.store_recovered")
    assert recovered["failures"] == 100
    assert recovered["suppressed"] == 19, "failures after the last line are counted here"

    with monkeypatch.context() as broken:  # a new outage is logged at once
        break_store(state, broken, "database or disk is full (SQLITE_FULL)")
        refused = await client.post("/api/users", json={**ADA, "email": "bob@example.com"})
        assert refused.status_code == 503
    latest = events(caplog, "http.store_error")[-1]
    assert latest["error"] == "database or disk is full (SQLITE_FULL)"
    assert latest["suppressed"] == 0
    assert latest["outage_failures"] == 1


async def test_readiness_answering_200_ends_an_outage(
    outage_app: tuple[QuartTrio, AppState], autojump_clock: trio.testing.MockClock,
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    app, state = outage_app
    caplog.set_level(logging.INFO, logger="service")
    client = app.test_client()
    with monkeypatch.context() as broken:
        break_store(state, broken)
        for _ in range(3):
            assert (await client.get("/readyz")).status_code == 503
    assert len(events(caplog, "http.store_error")) == 1
    await trio.sleep(3)  # readiness holds a recorded failure for 3 s
    assert (await client.get("/readyz")).status_code == 200
    [recovered] = events(caplog, "http.store_recovered")
    assert recovered["failures"] == 3
