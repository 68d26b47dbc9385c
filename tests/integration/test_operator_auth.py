"""Every operator route refuses a wrong token of the right length, and so does the dashboard.

The routes are read from the app's ``url_map``: any route that is not on the short public list
below is an operator route, so a route added later is covered (or must be declared public here).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest
from support.http import ADMIN_TOKEN, make_settings, serve_app

from service.http.app import create_app
from service.runtime import open_state

if TYPE_CHECKING:
    from pathlib import Path

#: Routes anyone may call (the user API and pages, probes) and the cookie-based dashboard,
#: whose pages are tested below and in test_job_pages.py.
PUBLIC = re.compile(
    r"^/((api/users|api/uploads|users|healthz|readyz|admin|docs)(/|$)|openapi\.json$|$)")
#: Values for the routes' path parameters.
PARAMS = {"raw_id": "1", "job_id": "1", "task": "send_welcome_email", "user_id": "1",
          "upload_id": "1", "name": "cleanup-uploads"}


def same_length_wrong(token: str) -> str:
    """``token`` with its last character changed: equal length, never equal."""
    last = "x" if token[-1] != "x" else "y"
    return token[:-1] + last


async def operator_routes(tmp_path: Path) -> list[tuple[str, str]]:
    async with open_state(make_settings(tmp_path)) as state:
        app = create_app(state)
        routes = []
        for rule in app.url_map.iter_rules():
            if PUBLIC.match(rule.rule) or rule.rule.startswith("/static"):
                continue
            path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: PARAMS[m.group(1)], rule.rule)
            routes += [(method, path) for method in sorted(rule.methods or ())
                       if method not in ("HEAD", "OPTIONS")]
        return routes


async def test_the_operator_routes_found_include_every_documented_one(tmp_path: Path) -> None:
    documented = {
        ("GET", "/api/jobs"), ("POST", "/api/jobs"), ("GET", "/api/jobs/1"),
        ("POST", "/api/jobs/1/retry"), ("POST", "/api/jobs/1/cancel"), ("GET", "/api/queues"),
        ("POST", "/api/queues/send_welcome_email/pause"),
        ("POST", "/api/queues/send_welcome_email/resume"), ("GET", "/api/workers"),
        ("GET", "/api/schedules"), ("POST", "/api/schedules/cleanup-uploads/pause"),
        ("POST", "/api/schedules/cleanup-uploads/resume"), ("GET", "/metrics"),
    }
    assert documented <= set(await operator_routes(tmp_path))


async def test_every_operator_route_refuses_a_wrong_token_of_the_right_length(
    tmp_path: Path,
) -> None:
    wrong = same_length_wrong(ADMIN_TOKEN)
    assert len(wrong) == len(ADMIN_TOKEN)
    assert wrong != ADMIN_TOKEN
    routes = await operator_routes(tmp_path / "routes")
    async with serve_app(tmp_path) as app:
        for method, path in routes:
            for header in (f"Bearer {wrong}", f"bearer {wrong}", f"Bearer  {wrong}"):
                response = await app.client.request(
                    method, path, headers={"Authorization": header}, json={})
                assert response.status_code == 401, (method, path, header, response.text)
                assert response.json()["error"]["code"] == "unauthorized", (method, path)
        # The right token opens each of them (whatever the route then answers).
        for method, path in routes:
            response = await app.admin.request(method, path, json={})
            assert response.status_code != 401, (method, path, response.text)


async def test_the_dashboard_refuses_a_wrong_token_of_the_right_length(tmp_path: Path) -> None:
    wrong = same_length_wrong(ADMIN_TOKEN)
    async with serve_app(tmp_path) as app:
        login = await app.client.post("/admin/login", data={"token": wrong})
        assert login.status_code == 401
        assert "set-cookie" not in login.headers
        assert (await app.client.get("/admin/jobs")).status_code == 303
        bearer = {"Authorization": f"Bearer {wrong}"}
        for path in ("/admin/jobs", "/admin/jobs/1"):
            response = await app.client.get(path, headers=bearer)
            assert response.status_code == 303, path
            assert response.headers["Location"] == "/admin/login"
        for path in ("/admin/jobs/1/retry", "/admin/jobs/1/cancel", "/admin/logout"):
            assert (await app.client.post(path, headers=bearer)).status_code == 401, path
        right = await app.client.post("/admin/login", data={"token": ADMIN_TOKEN})
        assert right.status_code == 303


@pytest.mark.parametrize("header", ["Bearer", "Bearer x", ADMIN_TOKEN, f"Token {ADMIN_TOKEN}"])
async def test_an_empty_short_or_unschemed_bearer_is_refused(tmp_path: Path, header: str) -> None:
    async with serve_app(tmp_path) as app:
        response = await app.client.get("/api/jobs", headers={"Authorization": header})
        assert response.status_code == 401
