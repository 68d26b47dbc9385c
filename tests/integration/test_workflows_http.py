"""Cancelling a workflow over real HTTP: the operator API and the dashboard's button."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest
from support.http import ADMIN_TOKEN, Served, serve_app

from service.jobs import Workflow
from service.tasks.send_welcome_email import SendWelcomeEmail

if TYPE_CHECKING:
    from pathlib import Path

TASK = "send_welcome_email"


async def push_graph(app: Served) -> tuple[int, list[int]]:
    """first -> (second, third); first running, second and third pending. (workflow id, ids)"""
    wf = Workflow("welcome-batch")
    first = wf.add(SendWelcomeEmail(user_id=uuid.uuid4()))
    wf.add(SendWelcomeEmail(user_id=uuid.uuid4()), after=[first])
    wf.add(SendWelcomeEmail(user_id=uuid.uuid4()), after=[first], on_failure="run")
    store = app.state.store
    ids = await store.push_workflow(wf)
    now = store.clock.now()
    [claimed] = await store.job_claim(TASK, "test-owner", 1, now, now + 60)
    assert claimed.id == ids[0]
    assert wf.id is not None
    return wf.id, ids


async def states(app: Served, ids: list[int]) -> list[str]:
    return [(await app.admin.get(f"/api/jobs/{job_id}")).json()["state"] for job_id in ids]


async def test_the_api_cancels_every_unfinished_member_running_ones_included(
    tmp_path: Path,
) -> None:
    async with serve_app(tmp_path) as app:
        workflow_id, ids = await push_graph(app)
        job = (await app.admin.get(f"/api/jobs/{ids[1]}")).json()
        assert job["state"] == "pending"
        assert job["workflow"] == {"id": workflow_id, "name": "welcome-batch"}

        answer = await app.admin.post(f"/api/workflows/{workflow_id}/cancel",
                                      json={"reason": "batch withdrawn"})

        assert answer.status_code == 200, answer.text
        assert answer.json() == {"workflow": workflow_id, "cancelled": ids}
        assert await states(app, ids) == ["cancelled"] * 3
        running = (await app.admin.get(f"/api/jobs/{ids[0]}")).json()
        assert running["errors"][-1]["message"] == "batch withdrawn"
        again = await app.admin.post(f"/api/workflows/{workflow_id}/cancel")
        assert again.json() == {"workflow": workflow_id, "cancelled": []}


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/api/workflows/4242/cancel", None, 404),
        ("/api/workflows/abc/cancel", None, 404),
        ("/api/workflows/1/cancel", {"reason": 5}, 422),
        ("/api/workflows/1/cancel", {"why": "x"}, 422),
    ],
)
async def test_cancelling_an_unknown_workflow_or_with_a_bad_body_is_a_clear_error(
    tmp_path: Path, path: str, body: object, status: int,
) -> None:
    async with serve_app(tmp_path) as app:
        _, ids = await push_graph(app)
        answer = await app.admin.post(path, json=body)
        assert answer.status_code == status, answer.text
        assert answer.json()["error"]["message"]
        assert (await app.client.post(path)).status_code == 401
        assert await states(app, ids) == ["running", "pending", "pending"]


async def test_the_dashboard_cancels_the_workflow_from_a_members_page(tmp_path: Path) -> None:
    async with serve_app(tmp_path) as app:
        workflow_id, ids = await push_graph(app)
        login = await app.client.post("/admin/login", data={"token": ADMIN_TOKEN})
        assert login.status_code == 303
        page = (await app.client.get(f"/admin/jobs/{ids[2]}")).text
        assert f"welcome-batch ({workflow_id})" in page
        assert f'action="/admin/workflows/{workflow_id}/cancel"' in page

        answer = await app.client.post(f"/admin/workflows/{workflow_id}/cancel",
                                       data={"job": str(ids[2])}, headers={"Origin": app.url})

        assert answer.status_code == 303
        assert answer.headers["Location"] == f"/admin/jobs/{ids[2]}"
        assert await states(app, ids) == ["cancelled"] * 3
        assert (await app.client.post("/admin/workflows/999/cancel",
                                      headers={"Origin": app.url})).status_code == 404
