"""Uploads over real HTTP: streamed to disk, size-limited while streaming, sniffed by a job."""

from __future__ import annotations

import hashlib
import logging
import uuid
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import trio
from conftest import EPOCH
from support.http import Served, make_settings, serve_app
from support.uploads import BOUNDARY, PNG, multipart
from support.waiting import eventually, wait_for_job_state, wait_until
from support.workers import running

from service.domain.mail import make_mailer
from service.domain.schema import APP_MIGRATIONS
from service.http.app import create_app
from service.jobs import ErrorKind, JobAdmin, JobFilter, JobState, TrioClock
from service.jobs.testing import sqlite_test_store
from service.runtime import make_worker
from service.state import AppState
from service.tasks import REGISTRY

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import httpx
    from quart_trio import QuartTrio
    from trio.testing import MockClock

    from service.jobs import JobRow


def field(name: str, value: str) -> bytes:
    return (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
            f"{value}\r\n").encode()


async def post(app: Served, body: bytes | AsyncIterator[bytes],
               content_type: str = f"multipart/form-data; boundary={BOUNDARY}"
               ) -> httpx.Response:
    return await app.client.post("/api/uploads", content=body,
                                 headers={"Content-Type": content_type})


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    return error


def files_outside(root: Path, allowed: Path) -> list[Path]:
    return [p for p in root.rglob("*") if not p.resolve().is_relative_to(allowed.resolve())]


async def assert_nothing_recorded(app: Served) -> None:
    assert await app.state.store.query("SELECT id FROM uploads") == []
    assert await app.state.store.job_list(JobFilter(task="process_upload")) == []
    upload_dir = app.state.settings.upload_dir
    assert not upload_dir.exists() or list(upload_dir.iterdir()) == []


async def processed(app: Served, upload_id: str) -> dict[str, Any]:
    async def done() -> dict[str, Any] | None:
        upload: dict[str, Any] = (await app.client.get(f"/api/uploads/{upload_id}")).json()
        return None if upload["status"] == "pending" else upload

    return await eventually(done)


async def test_an_upload_is_202_then_processed_from_its_bytes_not_its_claimed_type(
    tmp_path: Path,
) -> None:
    async with serve_app(tmp_path, worker=True) as app:
        body = multipart(b"holiday.txt", PNG, content_type=b"text/plain",
                         extra=field("comment", "ignored"))
        response = await post(app, body)
        assert response.status_code == 202, response.text
        accepted = response.json()
        assert accepted == {"id": accepted["id"], "filename": "holiday.txt", "status": "pending"}
        assert response.headers["Location"] == f"/api/uploads/{accepted['id']}"
        upload = await processed(app, accepted["id"])
        assert upload["status"] == "processed"
        assert upload["size"] == len(PNG)
        assert upload["sha256"] == hashlib.sha256(PNG).hexdigest()
        assert upload["content_type"] == "image/png"
        assert upload["filename"] == "holiday.txt"
        stored = app.state.settings.upload_dir / uuid.UUID(accepted["id"]).hex
        assert stored.read_bytes() == PNG
        [job] = await app.state.store.job_list(JobFilter(task="process_upload"))
        assert job.state is JobState.COMPLETED


async def test_until_processed_the_facts_are_null(tmp_path: Path) -> None:
    async with serve_app(tmp_path) as app:
        accepted = (await post(app, multipart(b"a.bin", b"data"))).json()
        upload = (await app.client.get(f"/api/uploads/{accepted['id']}")).json()
        assert upload["status"] == "pending"
        assert (upload["size"], upload["sha256"], upload["content_type"]) == (None, None, None)
        assert {"id", "filename", "status", "size", "sha256", "content_type"} <= set(upload)


async def chunks(total: int, chunk: int = 64 * 1024) -> AsyncIterator[bytes]:
    yield multipart(b"big.bin", b"").split(b"\r\n--" + BOUNDARY.encode() + b"--")[0]
    sent = 0
    while sent < total:
        yield b"x" * min(chunk, total - sent)
        sent += chunk
    yield b"\r\n--" + BOUNDARY.encode() + b"--\r\n"


async def test_a_streamed_upload_over_the_limit_is_413_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    async with serve_app(tmp_path, worker=True, upload_max_bytes="256k") as app:
        response = await post(app, chunks(4 * 1024 * 1024))  # chunked: no Content-Length
        assert "content-length" not in response.request.headers
        error = assert_error(response, 413, "too_large")
        assert "file" in error["fields"]
        await assert_nothing_recorded(app)


async def test_a_declared_length_over_the_limit_is_413_before_reading(tmp_path: Path) -> None:
    async with serve_app(tmp_path, upload_max_bytes="64k") as app:
        response = await post(app, multipart(b"big.bin", bytes(1024 * 1024)))
        assert_error(response, 413, "too_large")
        await assert_nothing_recorded(app)


async def test_the_limit_counts_the_file_bytes_exactly(tmp_path: Path) -> None:
    async with serve_app(tmp_path, worker=True, upload_max_bytes="64k") as app:
        assert_error(await post(app, chunks(64 * 1024 + 1)), 413, "too_large")
        await assert_nothing_recorded(app)
        accepted = await post(app, chunks(64 * 1024))
        assert accepted.status_code == 202, accepted.text
        upload = await processed(app, accepted.json()["id"])
        assert (upload["size"], upload["content_type"]) == (
            64 * 1024, "text/plain; charset=utf-8")


@pytest.mark.parametrize(
    ("filename", "shown"),
    [
        (b"../../escape.txt", "escape.txt"),
        (b"/tmp/absolute.txt", "absolute.txt"),
        (b"..\\..\\windows.txt", "windows.txt"),
        (b"nul\x00byte.txt", "nulbyte.txt"),
        (b"..", "upload"),
        (b"", "upload"),
        ("ünïcødé.txt".encode(), "ünïcødé.txt"),
    ],
)
async def test_client_file_names_are_shown_cleaned_and_never_choose_the_path(
    tmp_path: Path, filename: bytes, shown: str
) -> None:
    async with serve_app(tmp_path) as app:
        response = await post(app, multipart(filename, b"content"))
        assert response.status_code == 202, response.text
        assert response.json()["filename"] == shown
        upload_id = uuid.UUID(response.json()["id"])
        upload_dir = app.state.settings.upload_dir
        assert [p.name for p in upload_dir.iterdir()] == [upload_id.hex]
        assert files_outside(tmp_path, app.state.settings.data_dir) == []
        assert not Path("/tmp/absolute.txt").exists()  # noqa: ASYNC240 - a quick stat


async def test_a_form_without_a_file_field_is_422_naming_it(tmp_path: Path) -> None:
    async with serve_app(tmp_path) as app:
        body = field("other", "value") + f"--{BOUNDARY}--\r\n".encode()
        error = assert_error(await post(app, body), 422, "invalid")
        assert "file" in error["fields"]
        await assert_nothing_recorded(app)


async def test_two_file_fields_are_422(tmp_path: Path) -> None:
    async with serve_app(tmp_path) as app:
        body = multipart(b"a.txt", b"a").replace(
            f"--{BOUNDARY}--".encode(), multipart(b"b.txt", b"b")[:-2])
        error = assert_error(await post(app, body), 422, "invalid")
        assert "file" in error["fields"]
        await assert_nothing_recorded(app)


async def test_a_body_that_is_not_multipart_is_415(tmp_path: Path) -> None:
    async with serve_app(tmp_path) as app:
        response = await app.client.post("/api/uploads", json={"file": "abc"})
        error = assert_error(response, 415, "unsupported_media_type")
        assert "file" in error["fields"]
        await assert_nothing_recorded(app)


@pytest.mark.parametrize("content_type", ["multipart/form-data",
                                          "multipart/form-data; boundary=" + "x" * 71])
async def test_a_missing_or_bad_boundary_is_422(tmp_path: Path, content_type: str) -> None:
    async with serve_app(tmp_path) as app:
        response = await post(app, multipart(b"a.txt", b"a"), content_type=content_type)
        error = assert_error(response, 422, "invalid")
        assert "boundary" in error["message"]
        await assert_nothing_recorded(app)


async def test_a_body_cut_short_is_400_and_leaves_nothing(tmp_path: Path) -> None:
    async with serve_app(tmp_path) as app:
        truncated = multipart(b"a.txt", b"a" * 1000)[:-30]
        assert_error(await post(app, truncated), 400, "bad_request")
        await assert_nothing_recorded(app)


async def test_a_client_that_hangs_up_mid_upload_leaves_no_partial_file(
    tmp_path: Path,
) -> None:
    async with serve_app(tmp_path) as app:
        host, port = app.url.removeprefix("http://").rsplit(":", 1)
        head = multipart(b"a.bin", b"").split(b"\r\n--" + BOUNDARY.encode() + b"--")[0]
        stream = await trio.open_tcp_stream(host, int(port))
        await stream.send_all(
            b"POST /api/uploads HTTP/1.1\r\nHost: test\r\n"
            b"Content-Type: multipart/form-data; boundary=" + BOUNDARY.encode() + b"\r\n"
            b"Content-Length: 10000000\r\n\r\n" + head + b"x" * 200_000)
        upload_dir = app.state.settings.upload_dir

        async def partial_written() -> bool:
            return upload_dir.exists() and any(upload_dir.iterdir())

        await eventually(partial_written)
        await stream.aclose()

        async def cleaned_up() -> bool:
            return not any(upload_dir.iterdir())

        await eventually(cleaned_up)
        await assert_nothing_recorded(app)


@asynccontextmanager
async def virtual_time_app(tmp_path: Path) -> AsyncIterator[tuple[QuartTrio, AppState]]:
    """The app on a SQLite file whose timestamps follow trio's clock (MockClock: backoff
    passes in virtual time), served in process; start its worker with ``make_worker``."""
    settings = make_settings(tmp_path)
    async with sqlite_test_store(
        tmp_path / "service.db", clock=TrioClock(EPOCH), migrations=APP_MIGRATIONS
    ) as store:
        state = AppState(
            settings=settings, store=store, registry=REGISTRY, mailer=make_mailer(settings)
        )
        yield create_app(state), state


async def upload_via(app: QuartTrio, data: bytes = PNG) -> dict[str, Any]:
    response = await app.test_client().post(
        "/api/uploads", data=multipart(b"gone.png", data),
        headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
    assert response.status_code == 202, await response.get_data(as_text=True)
    accepted: dict[str, Any] = await response.get_json()
    return accepted


async def upload_view(app: QuartTrio, upload_id: str) -> dict[str, Any]:
    response = await app.test_client().get(f"/api/uploads/{upload_id}")
    assert response.status_code == 200
    view: dict[str, Any] = await response.get_json()
    return view


async def settled(app: QuartTrio, upload_id: str) -> dict[str, Any]:
    """The upload once it is no longer pending (its workflow's finish step ran)."""
    async def done() -> dict[str, Any] | None:
        upload = await upload_view(app, upload_id)
        return upload if upload["status"] != "pending" else None

    return await eventually(done, within=600)


def stored_path(state: AppState, upload_id: str) -> Path:
    return state.settings.upload_dir / uuid.UUID(upload_id).hex


async def the_job(state: AppState) -> JobRow:
    [job] = await state.store.job_list(JobFilter(task="process_upload"))
    return job


def failures(state: AppState) -> float:
    key = (("kind", "error"), ("task", "process_upload"))
    return state.metrics.job_failures.values.get(key, 0)


async def test_a_missing_stored_file_is_a_failed_attempt_retried_then_fails_the_upload(
    tmp_path: Path, autojump_clock: MockClock, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="service.jobs")
    async with virtual_time_app(tmp_path) as (app, state):
        accepted = await upload_via(app)
        stored_path(state, accepted["id"]).unlink()
        job_id = (await the_job(state)).id
        async with running(make_worker(state)):
            job = await wait_for_job_state(state.store, job_id, JobState.RETRYABLE, poll=0.01)
            [error] = job.errors
            assert (error.kind, error.attempt, error.error) == (
                ErrorKind.ERROR, 1, "StoredFileUnreadable")
            detail = error.detail or ""
            assert "the stored file is missing" in detail
            assert str(stored_path(state, accepted["id"])) in detail  # where it looked
            upload = await upload_view(app, accepted["id"])
            assert (upload["status"], upload["error"]) == ("pending", None)
            await wait_until("the failure counted", lambda: failures(state), lambda n: n == 1)

            job = await wait_for_job_state(
                state.store, job_id, JobState.DISCARDED, within=600, poll=1)
        assert [(e.kind, e.attempt) for e in job.errors] == [
            (ErrorKind.ERROR, n) for n in range(1, 6)]
        assert "(attempt 5 of 5: discarded)" in (job.errors[-1].detail or "")
        assert job.result is None
        upload = await upload_view(app, accepted["id"])
        assert upload["status"] == "failed"
        assert upload["error"] == "the stored file is missing"
        assert (upload["size"], upload["sha256"], upload["content_type"]) == (None, None, None)
        assert failures(state) == 5
        outcomes = state.metrics.job_outcomes.values
        assert dict(outcomes) == {
            (("state", "retryable"), ("task", "process_upload")): 4,
            (("state", "discarded"), ("task", "process_upload")): 1,
            # the workflow's last step runs anyway, and leaves the failed upload alone
            (("state", "completed"), ("task", "finish_upload")): 1,
        }
        assert [(s["name"], s["state"]) for s in upload["steps"]] == [
            ("inspect", "discarded"), ("thumbnail", "cancelled"), ("extract", "cancelled"),
            ("finish", "completed")]
        listed = await state.store.job_list(JobFilter(state=JobState.DISCARDED))
        assert [j.id for j in listed] == [job_id]
        outcomes_logged = [
            (record.levelno, record.event) for record in caplog.records
            if getattr(record, "event", "") in ("job.retryable", "job.discarded", "job.completed")
            and record.fields["task"] == "process_upload"  # type: ignore[attr-defined]
        ]
        assert outcomes_logged == [(logging.WARNING, "job.retryable")] * 4 + [
            (logging.WARNING, "job.discarded")]


async def test_a_stored_file_that_comes_back_before_the_last_attempt_is_processed(
    tmp_path: Path, autojump_clock: MockClock,
) -> None:
    async with virtual_time_app(tmp_path) as (app, state):
        accepted = await upload_via(app)
        path = stored_path(state, accepted["id"])
        kept = path.read_bytes()
        path.unlink()
        job_id = (await the_job(state)).id
        async with running(make_worker(state)):
            await wait_for_job_state(state.store, job_id, JobState.RETRYABLE, poll=0.01)
            path.write_bytes(kept)  # e.g. the shared directory is mounted now
            job = await wait_for_job_state(
                state.store, job_id, JobState.COMPLETED, within=600, poll=1)
            upload = await settled(app, accepted["id"])
        assert [(e.kind, e.attempt) for e in job.errors] == [(ErrorKind.ERROR, 1)]
        assert (upload["status"], upload["error"]) == ("processed", None)
        assert (upload["size"], upload["content_type"]) == (len(PNG), "image/png")


async def test_retrying_the_discarded_job_of_a_failed_upload_processes_it_anew(
    tmp_path: Path, autojump_clock: MockClock,
) -> None:
    async with virtual_time_app(tmp_path) as (app, state):
        accepted = await upload_via(app)
        path = stored_path(state, accepted["id"])
        kept = path.read_bytes()
        path.unlink()
        job_id = (await the_job(state)).id
        async with running(make_worker(state)):
            job = await wait_for_job_state(
                state.store, job_id, JobState.DISCARDED, within=600, poll=1)
            assert (await upload_view(app, accepted["id"]))["status"] == "failed"
            path.write_bytes(kept)
            first_workflow = job.workflow_id
            await JobAdmin(state.store, state.registry).retry(job_id)
            job = await wait_for_job_state(
                state.store, job_id, JobState.COMPLETED, within=600, poll=1)
            assert job.result is not None
            assert job.result.startswith('"processing in workflow ')
            upload = await settled(app, accepted["id"])
        assert (upload["status"], upload["error"], upload["size"]) == (
            "processed", None, len(PNG))
        assert [(s["name"], s["state"]) for s in upload["steps"]] == [
            (name, "completed") for name in ("inspect", "thumbnail", "extract", "finish")]
        inspect = await state.store.job_list(JobFilter(task="process_upload"))
        assert [j.id for j in inspect][1:] == [job_id]  # the new workflow's, then the retried
        assert inspect[0].workflow_id not in (None, first_workflow)


@pytest.mark.parametrize("raw", ["not-a-uuid", "123"])
async def test_an_invalid_upload_id_is_404_saying_so(tmp_path: Path, raw: str) -> None:
    async with serve_app(tmp_path) as app:
        error = assert_error(await app.client.get(f"/api/uploads/{raw}"), 404, "not_found")
        assert "not a valid UUID" in error["message"]


async def test_an_unknown_upload_is_404(tmp_path: Path) -> None:
    async with serve_app(tmp_path) as app:
        assert_error(await app.client.get(f"/api/uploads/{uuid.uuid4()}"), 404, "not_found")
