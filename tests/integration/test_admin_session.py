"""The dashboard's session lasts 12 hours, as README.md says: in the browser and on the server.

The cookie's ``Max-Age`` tells a browser to drop it after 12 h; the server refuses it after 12 h
too, so a cookie copied out of a browser does not open the dashboard for ever.
"""

from __future__ import annotations

import datetime as dt
import email.utils
from typing import TYPE_CHECKING

import pytest
from support.http import ADMIN_TOKEN, make_settings, serve_app

from service.http.app import create_app
from service.runtime import open_state

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from quart_trio import QuartTrio

HOUR = 3600.0
AGES = {"0 s": 0, "11 h": 11 * HOUR, "12 h - 1 s": 12 * HOUR - 1, "12 h": 12 * HOUR,
        "12 h + 1 s": 12 * HOUR + 1, "30 days": 30 * 24 * HOUR}


class HandClock:
    """The store's clock, moved by the test."""

    def __init__(self) -> None:
        self.at = 1_800_000_000.0

    def now(self) -> float:
        return self.at


@pytest.fixture
async def dashboard(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[QuartTrio, HandClock]]:
    async with open_state(make_settings(tmp_path)) as state:
        clock = HandClock()
        monkeypatch.setattr(state.store, "clock", clock)
        yield create_app(state), clock


async def log_in(app: QuartTrio) -> str:
    """The ``Cookie`` header value of a fresh session."""
    response = await app.test_client().post("/admin/login", form={"token": ADMIN_TOKEN})
    assert response.status_code == 303, await response.get_data(as_text=True)
    return response.headers["Set-Cookie"].split(";")[0]


async def status_of_jobs_page(app: QuartTrio, cookie: str) -> int:
    response = await app.test_client().get("/admin/jobs", headers={"Cookie": cookie})
    return response.status_code


async def test_the_login_cookie_tells_the_browser_to_keep_it_12_hours(tmp_path: Path) -> None:
    async with serve_app(tmp_path) as app:
        response = await app.client.post("/admin/login", data={"token": ADMIN_TOKEN})
        now = dt.datetime.now(dt.UTC)
    assert response.status_code == 303
    attributes = {}
    for part in response.headers["set-cookie"].split(";")[1:]:
        key, _, value = part.strip().partition("=")
        attributes[key.lower()] = value
    assert attributes["max-age"] == "43200"
    if "expires" in attributes:
        expires = email.utils.parsedate_to_datetime(attributes["expires"])
        assert abs((expires - now).total_seconds() - 12 * HOUR) < 120, expires


async def test_the_server_accepts_a_session_for_12_hours_and_not_a_second_longer(
    dashboard: tuple[QuartTrio, HandClock],
) -> None:
    app, clock = dashboard
    cookie = await log_in(app)
    start = clock.at
    seen = {}
    for age in ("0 s", "11 h", "12 h - 1 s", "12 h", "12 h + 1 s", "30 days"):
        clock.at = start + AGES[age]
        seen[age] = await status_of_jobs_page(app, cookie)
    assert seen == {"0 s": 200, "11 h": 200, "12 h - 1 s": 200,
                    "12 h": 303, "12 h + 1 s": 303, "30 days": 303}
    clock.at = start + 13 * HOUR
    assert await status_of_jobs_page(app, await log_in(app)) == 200, "logging in again works"


async def test_a_session_issued_in_the_future_is_refused(
    dashboard: tuple[QuartTrio, HandClock],
) -> None:
    app, clock = dashboard
    clock.at += 2 * HOUR
    cookie = await log_in(app)
    clock.at -= 2 * HOUR
    assert await status_of_jobs_page(app, cookie) == 303


@pytest.mark.parametrize("value", ["", ".", "1.", "abc.def", "²." + "0" * 64,
                                   "9" * 5000 + "." + "0" * 64])
async def test_malformed_session_cookies_are_refused(
    dashboard: tuple[QuartTrio, HandClock], value: str,
) -> None:
    app, _ = dashboard
    assert await status_of_jobs_page(app, f"service_admin={value}") == 303
