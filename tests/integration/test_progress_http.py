"""A job's progress over real HTTP: ``progress`` in the job's JSON (checked against the OpenAPI
document by every answer's hook) and on the dashboard's job page."""

from __future__ import annotations

from typing import TYPE_CHECKING

from support.http import Served, serve_app

from integration.test_job_pages import escaped, log_in, push_welcome
from service.jobs import JobProgress, ProgressUpdate, to_datetime

if TYPE_CHECKING:
    from pathlib import Path

HOSTILE = "<script>alert('page')</script> 4 of 10"


async def report(app: Served, job_id: int, fraction: float, message: str | None) -> float:
    """Claim ``job_id`` as a worker would and renew its lease with a progress report; the
    report's time."""
    store = app.state.store
    now = store.clock.now()
    [claimed] = await store.job_claim("send_welcome_email", "w1", 1, now, now + 60)
    assert claimed.id == job_id
    at = now + 0.25
    update = ProgressUpdate(progress=JobProgress(fraction=fraction, message=message, at=at),
                            checkpoint='{"page":4}')
    assert await store.job_renew_leases("w1", [job_id], now + 60, {job_id: update}) == [job_id]
    return at


async def test_the_job_json_shows_progress_once_a_renewal_wrote_it(tmp_path: Path) -> None:
    async with serve_app(tmp_path) as app:
        job_id = await push_welcome(app)
        before = (await app.admin.get(f"/api/jobs/{job_id}")).json()
        assert before["progress"] is None

        at = await report(app, job_id, 0.4, "page 4 of 10")

        job = (await app.admin.get(f"/api/jobs/{job_id}")).json()
        moment = to_datetime(at)
        assert moment is not None
        assert job["state"] == "running"
        assert job["progress"] == {"fraction": 0.4, "message": "page 4 of 10",
                                   "at": moment.isoformat()}
        assert "checkpoint" not in job, "the checkpoint is the task's, not the API's"
        [listed] = (await app.admin.get("/api/jobs", params={"state": "running"})).json()["jobs"]
        assert listed["progress"] == job["progress"]


async def test_a_progress_without_a_message_shows_null(tmp_path: Path) -> None:
    async with serve_app(tmp_path) as app:
        job_id = await push_welcome(app)

        await report(app, job_id, 1, None)

        progress = (await app.admin.get(f"/api/jobs/{job_id}")).json()["progress"]
        assert progress["fraction"] == 1.0
        assert progress["message"] is None


async def test_the_job_page_shows_a_progress_bar_with_the_message_as_text(
    tmp_path: Path,
) -> None:
    async with serve_app(tmp_path) as app:
        client = await log_in(app)
        job_id = await push_welcome(app)
        assert 'id="job-progress"' not in (await client.get(f"/admin/jobs/{job_id}")).text

        await report(app, job_id, 0.4, HOSTILE)

        page = (await client.get(f"/admin/jobs/{job_id}")).text
        assert '<progress id="job-progress" value="0.4000" max="1">40%</progress>' in page
        assert HOSTILE not in page
        assert f"40%: {escaped(HOSTILE)}" in page.replace("&#39;", "'")
