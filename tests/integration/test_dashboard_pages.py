"""The dashboard's queues, workers and bulk-action pages over real HTTP, and what the job pages
gained with them: the "failed" filter, ``cursor`` paging, a retry that says it raised
``max_attempts``, and the live-refresh script under the CSP."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from support.conformance import Email, make_job
from support.http import Served, serve_app

from integration.test_job_pages import SCRIPT, listed_ids, log_in, push_welcome
from service.jobs import Backoff, JobFilter, JobState, WorkerBeat
from service.jobs import _outcomes as outcomes

if TYPE_CHECKING:
    from pathlib import Path

WELCOME = "send_welcome_email"
CROSS_SITE = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}


def unescaped(url: str) -> str:
    return url.replace("&amp;", "&")


def confirm_form(page: str) -> dict[str, str]:
    """The hidden fields of a bulk confirmation page's form."""
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', page))


async def job_in(app: Served, state: JobState, n: int = 0) -> int:
    return await make_job(app.state.store, state, Email(to=f"user{n}@example.com"))


async def test_the_queues_page_shows_each_queue_and_pauses_and_resumes_it(
    tmp_path: Path,
) -> None:
    async with serve_app(tmp_path) as app:
        client = await log_in(app)
        await push_welcome(app)
        await job_in(app, JobState.COMPLETED)
        page = await client.get("/admin/queues")
        assert page.status_code == 200
        row = re.search(rf"<tr><td><a [^>]*>{WELCOME}</a>.*?</tr>", page.text)
        assert row is not None
        assert "<td>running</td>" in row.group(0)
        assert '<td class="num">4</td>' in row.group(0), "the task's concurrency"
        assert f'aria-label="Pause {WELCOME}"' in row.group(0)
        assert "not registered" in page.text, "conf.email has jobs but no task here"

        paused = await client.post("/admin/queues/pause", data={"task": WELCOME})
        assert paused.status_code == 303
        after = await client.get(paused.headers["Location"])
        assert f"Queue {WELCOME} paused." in after.text
        assert f'aria-label="Resume {WELCOME}"' in after.text
        queues = (await app.admin.get("/api/queues")).json()["queues"]
        assert {q["task"]: q["paused"] for q in queues}[WELCOME] is True

        resumed = await client.post("/admin/queues/resume", data={"task": WELCOME})
        assert resumed.status_code == 303
        assert f'aria-label="Pause {WELCOME}"' in (await client.get("/admin/queues")).text

        unknown = await client.post("/admin/queues/pause", data={"task": SCRIPT})
        assert unknown.status_code == 404
        assert SCRIPT not in unknown.text
        assert (await client.post("/admin/queues/pause", data={"task": ""})).status_code == 400
        forged = await client.post("/admin/queues/pause", data={"task": WELCOME},
                                   headers=CROSS_SITE)
        assert forged.status_code == 403
        assert (await app.client.post("/admin/logout")).status_code == 303
        assert (await app.client.get("/admin/queues")).headers["Location"] == "/admin/login"


async def test_the_throughput_chart_counts_jobs_finished_this_hour(tmp_path: Path) -> None:
    async with serve_app(tmp_path) as app:
        client = await log_in(app)
        for n in range(2):
            await job_in(app, JobState.COMPLETED, n)
        await job_in(app, JobState.DISCARDED, 9)

        page = (await client.get("/admin/queues")).text

        chart = re.search(r'<svg class="chart"[^>]*aria-label="([^"]+)"', page)
        assert chart is not None
        assert chart.group(1).endswith("last 60 minutes: 2 completed, 1 failed")
        assert page.count("<g><title>") == 60
        assert "completed, 1 failed</title>" in page


async def test_the_failed_filter_lists_retryable_and_discarded_jobs(tmp_path: Path) -> None:
    async with serve_app(tmp_path) as app:
        client = await log_in(app)
        by_state = {state: await job_in(app, state, n) for n, state in enumerate(
            [JobState.RETRYABLE, JobState.DISCARDED, JobState.COMPLETED, JobState.CANCELLED])}

        page = (await client.get("/admin/jobs", params={"state": "failed"})).text

        assert listed_ids(page) == [by_state[JobState.DISCARDED], by_state[JobState.RETRYABLE]]
        assert ">failed: 2</a>" in page
        assert '<option value="failed" selected>failed (retryable, discarded)</option>' in page


async def test_paging_uses_cursor_and_old_before_links_still_work(tmp_path: Path) -> None:
    async with serve_app(tmp_path) as app:
        client = await log_in(app)
        ids = [await push_welcome(app) for _ in range(4)]

        first = (await client.get("/admin/jobs", params={"limit": "2"})).text
        older = re.search(r'<a href="([^"]+)">Older jobs</a>', first)
        assert older is not None
        assert f"cursor={ids[2]}" in older.group(1)
        rest = (await client.get(unescaped(older.group(1)))).text
        old_link = (await client.get("/admin/jobs", params={"limit": "2",
                                                             "before": str(ids[2])})).text

        assert listed_ids(rest) == listed_ids(old_link) == [ids[1], ids[0]]
        api = (await app.admin.get("/api/jobs", params={"limit": "2"})).json()
        assert api["next"] == str(ids[2]), "the same cursor as the API's"


async def test_bulk_retry_confirms_the_count_then_retries_only_what_it_counted(
    tmp_path: Path,
) -> None:
    async with serve_app(tmp_path) as app:
        client = await log_in(app)
        failed = [await job_in(app, state, n) for n, state in enumerate(
            [JobState.DISCARDED, JobState.RETRYABLE, JobState.DISCARDED])]
        done = await job_in(app, JobState.COMPLETED, 7)
        listing = (await client.get("/admin/jobs", params={"state": "failed"})).text
        assert 'href="/admin/jobs/bulk?action=retry&amp;state=failed">Retry' in listing

        confirm = await client.get("/admin/jobs/bulk",
                                   params={"action": "retry", "state": "failed"})
        assert confirm.status_code == 200
        assert "<h1>Retry 3 jobs?</h1>" in confirm.text
        form = confirm_form(confirm.text)
        assert form == {"action": "retry", "state": "failed", "task": "", "upto": str(done)}
        late = await job_in(app, JobState.DISCARDED, 8)  # after the page was shown

        posted = await client.post("/admin/jobs/bulk", data=form)

        assert posted.status_code == 303
        back = await client.get(posted.headers["Location"])
        assert "3 jobs retried." in back.text
        rows = {row.id: row.state
                for row in await app.state.store.job_list(JobFilter(limit=50))}
        assert [rows[i] for i in failed] == [JobState.AVAILABLE] * 3
        assert rows[done] == JobState.COMPLETED
        assert rows[late] == JobState.DISCARDED, "pushed after the confirmation: left alone"


async def test_bulk_delete_leaves_running_jobs_and_bulk_cancel_records_its_reason(
    tmp_path: Path,
) -> None:
    async with serve_app(tmp_path) as app:
        client = await log_in(app)
        running = await job_in(app, JobState.RUNNING, 1)
        finished = await job_in(app, JobState.COMPLETED, 2)
        waiting = await push_welcome(app, delay=600)

        confirm = (await client.get("/admin/jobs/bulk", params={"action": "delete",
                                                                "task": "conf.email"})).text
        assert "<h1>Delete 1 job?</h1>" in confirm
        assert "cancel those first" in confirm
        deleted = await client.post("/admin/jobs/bulk", data=confirm_form(confirm))
        assert deleted.status_code == 303
        assert "1 job deleted." in (await client.get(deleted.headers["Location"])).text
        assert listed_ids((await client.get("/admin/jobs")).text) == [waiting, running]
        assert finished not in listed_ids((await client.get("/admin/jobs")).text)

        confirm = (await client.get("/admin/jobs/bulk", params={"action": "cancel",
                                                                "state": "scheduled"})).text
        assert 'name="reason"' in confirm
        cancelled = await client.post("/admin/jobs/bulk",
                                      data={**confirm_form(confirm), "reason": "wrong batch"})
        assert cancelled.status_code == 303
        job = (await app.admin.get(f"/api/jobs/{waiting}")).json()
        assert job["state"] == "cancelled"
        assert job["errors"][-1]["message"] == "wrong batch"

        nothing = (await client.get("/admin/jobs/bulk", params={"action": "delete",
                                                                "state": "running"})).text
        assert "No job this filter selects can be deleted." in nothing
        assert 'method="post"' not in nothing.split("</nav>", 1)[1]


async def test_bulk_refuses_bad_input_other_sites_and_strangers(tmp_path: Path) -> None:
    async with serve_app(tmp_path) as app:
        client = await log_in(app)
        bad = await client.get("/admin/jobs/bulk", params={"action": "explode"})
        assert bad.status_code == 400
        assert "action: expected one of retry, cancel, delete" in bad.text
        bad_state = await client.get("/admin/jobs/bulk", params={"action": "retry",
                                                                  "state": "lost"})
        assert bad_state.status_code == 400
        assert "state: " in bad_state.text
        no_upto = await client.post("/admin/jobs/bulk", data={"action": "delete"})
        assert no_upto.status_code == 400
        assert "upto: " in no_upto.text
        form = {"action": "delete", "upto": "1"}
        assert (await client.post("/admin/jobs/bulk", data=form,
                                  headers=CROSS_SITE)).status_code == 403
        await client.post("/admin/logout")
        assert (await client.post("/admin/jobs/bulk", data=form)).status_code == 401
        assert (await client.get("/admin/jobs/bulk",
                                 params={"action": "delete"})).status_code == 303


async def test_retry_now_says_when_it_raised_max_attempts(tmp_path: Path) -> None:
    async with serve_app(tmp_path) as app:
        client = await log_in(app)
        job_id = await push_welcome(app, max_attempts=1)
        store = app.state.store
        now = store.clock.now()
        [claimed] = await store.job_claim(WELCOME, "w", 1, now, now + 60)
        try:
            raise RuntimeError("smtp down")
        except RuntimeError as exc:
            outcome = outcomes.failed(claimed, "w", now, Backoff(), exc)
        assert await store.job_set_state_if_running_many([outcome]) == [True]

        retry = await client.post(f"/admin/jobs/{job_id}/retry")

        assert retry.status_code == 303
        assert retry.headers["Location"] == f"/admin/jobs/{job_id}?raised_from=1"
        page = (await client.get(retry.headers["Location"])).text
        assert (f"job {job_id} had used all 1 of its attempts: max_attempts raised from 1 to 2"
                in page)
        plain = (await client.get(f"/admin/jobs/{job_id}?raised_from=5")).text
        assert "had used all" not in plain, "a notice the row does not bear out is not shown"


async def test_the_workers_page_and_api_show_live_and_gone_workers(tmp_path: Path) -> None:
    async with serve_app(tmp_path, worker=True) as app:
        client = await log_in(app)
        store = app.state.store
        now = store.clock.now()
        await store.worker_beat(WorkerBeat(owner="crashed:1:aa", host="old-host", pid=4242,
                                           tasks=(WELCOME,), in_flight=3, started_at=now - 900,
                                           seen_at=now - 600, interval=5.0))

        workers = (await app.admin.get("/api/workers")).json()["workers"]
        page = (await client.get("/admin/workers")).text

        live, gone = workers
        assert live["status"] == "live"
        assert WELCOME in live["tasks"]
        assert set(live) == {"owner", "host", "pid", "status", "tasks", "in_flight",
                             "started_at", "last_seen_at", "stopped_at", "heartbeat_interval"}
        assert gone == {"owner": "crashed:1:aa", "host": "old-host", "pid": 4242,
                        "status": "gone", "tasks": [WELCOME], "in_flight": 3,
                        "started_at": gone["started_at"], "last_seen_at": gone["last_seen_at"],
                        "stopped_at": None, "heartbeat_interval": 5.0}
        assert "<strong>1</strong> live of 2 recorded." in page
        assert '<tr class="gone"><td class="status-gone">gone</td><td>old-host</td>' in page
        assert (await app.client.get("/api/workers")).status_code == 401


async def test_dashboard_pages_load_only_the_sites_own_script(tmp_path: Path) -> None:
    async with serve_app(tmp_path) as app:
        client = await log_in(app)
        job_id = await push_welcome(app)
        script = await app.client.get("/admin/live.js")
        assert script.status_code == 200
        assert script.headers["Content-Type"].startswith("text/javascript")
        assert "data-live" in script.text
        for path in ("/admin/jobs", f"/admin/jobs/{job_id}", "/admin/queues", "/admin/workers",
                     "/admin/schedules", "/admin/jobs/bulk?action=retry"):
            page = await client.get(path)
            assert page.status_code == 200, path
            csp = page.headers["Content-Security-Policy"]
            assert "script-src 'self'" in csp
            assert "default-src 'none'" in csp
            assert "unsafe-inline" not in csp.split("script-src", 1)[1]
            assert re.findall(r"<script[^>]*>", page.text) == [
                '<script src="/admin/live.js" defer>'], path
            assert 'data-live' in page.text or "bulk" in path, path
        nav = re.search(r'<nav class="main">(.*?)</nav>', (await client.get("/admin/queues")).text)
        assert nav is not None
        assert re.findall(r'<a href="([^"]+)"', nav.group(1)) == [
            "/admin/jobs", "/admin/queues", "/admin/workers", "/admin/schedules"]
        assert '<a href="/admin/queues" aria-current="page">' in nav.group(1)
