"""An upload's workflow over real HTTP and a real SQLite file: inspect, then thumbnail and text
in parallel, then finish; the steps in the upload's JSON, and the thumbnail's own route."""

from __future__ import annotations

import io
import uuid
from typing import TYPE_CHECKING, Any

import pytest
import trio
from PIL import Image
from support.http import Served, serve_app
from support.uploads import (
    BOUNDARY,
    PNG,
    image_bytes,
    multipart,
    pdf_with_text,
    png_claiming,
)
from support.waiting import eventually

from service.domain.uploads import get_upload, new_upload
from service.jobs import JobFilter, JobState
from service.tasks import ProcessUpload

if TYPE_CHECKING:
    from pathlib import Path

STEPS = ["inspect", "thumbnail", "extract", "finish"]


async def upload(app: Served, data: bytes, filename: bytes = b"file") -> str:
    response = await app.client.post(
        "/api/uploads", content=multipart(filename, data),
        headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
    assert response.status_code == 202, response.text
    upload_id: str = response.json()["id"]
    return upload_id


async def settled(app: Served, upload_id: str) -> dict[str, Any]:
    async def done() -> dict[str, Any] | None:
        view: dict[str, Any] = (await app.client.get(f"/api/uploads/{upload_id}")).json()
        finished = view["status"] != "pending" and view["steps"][-1]["state"] == "completed"
        return view if finished else None

    return await eventually(done, within=30)


def steps(view: dict[str, Any]) -> list[tuple[str, str]]:
    return [(step["name"], step["state"]) for step in view["steps"]]


def not_found(response: Any, *words: str) -> str:
    assert response.status_code == 404, response.text
    assert response.headers["content-type"].startswith("application/json")
    message: str = response.json()["error"]["message"]
    for word in words:
        assert word in message, message
    return message


@pytest.mark.parametrize(("fmt", "media"), [("PNG", "image/png"), ("JPEG", "image/jpeg")])
async def test_an_image_ends_processed_with_a_thumbnail_that_can_be_fetched(
    tmp_path: Path, fmt: str, media: str,
) -> None:
    data = image_bytes((1200, 900), fmt)
    async with serve_app(tmp_path, worker=True) as app:
        upload_id = await upload(app, data, b"photo")
        view = await settled(app, upload_id)
        assert (view["status"], view["content_type"], view["size"]) == ("processed", media,
                                                                         len(data))
        assert steps(view) == [(name, "completed") for name in STEPS]
        assert (view["has_thumbnail"], view["text_excerpt"], view["notes"]) == (True, None, [])
        inspected = view["steps"][0]["progress"]
        assert (inspected["fraction"], inspected["message"]) == (
            1.0, f"{len(data)} bytes inspected")
        assert "progress" not in view["steps"][1]  # a step in a process reports none
        response = await app.client.get(f"/api/uploads/{upload_id}/thumbnail")
        assert response.status_code == 200
        assert response.headers["content-type"] == media
        assert "immutable" in response.headers["cache-control"]
        thumbnail = Image.open(io.BytesIO(response.content))
        assert thumbnail.format == fmt
        assert thumbnail.size == (256, 192)


async def test_a_pdf_ends_with_its_text_and_no_thumbnail(tmp_path: Path) -> None:
    async with serve_app(tmp_path, worker=True) as app:
        upload_id = await upload(app, pdf_with_text("Quarterly report", "Revenue rose (a lot)"))
        view = await settled(app, upload_id)
        assert (view["status"], view["content_type"]) == ("processed", "application/pdf")
        assert "Quarterly report" in view["text_excerpt"]
        assert "Revenue rose (a lot)" in view["text_excerpt"]
        assert (view["has_thumbnail"], view["notes"]) == (False, [])
        not_found(await app.client.get(f"/api/uploads/{upload_id}/thumbnail"),
                  "has no thumbnail", "not an image (application/pdf)")


async def test_a_text_file_ends_with_its_text(tmp_path: Path) -> None:
    text = "Dear Ada,\nthe engine works.\n" * 100
    async with serve_app(tmp_path, worker=True) as app:
        view = await settled(app, await upload(app, text.encode()))
        assert (view["status"], view["content_type"]) == ("processed",
                                                          "text/plain; charset=utf-8")
        assert view["text_excerpt"] == text[:1000]
        assert view["has_thumbnail"] is False


@pytest.mark.parametrize(("data", "note"), [
    (PNG, "no thumbnail: not an image of a format thumbnails are made of"),
    (image_bytes((400, 400))[:400], "no thumbnail: the image does not decode"),
    (png_claiming(100_000, 100_000), "no thumbnail: the image is too large"),
    (b"%PDF-1.7\nnot really a PDF", "no text: the PDF cannot be read"),
], ids=["fake-png", "truncated-png", "decompression-bomb", "corrupt-pdf"])
async def test_a_corrupt_file_is_processed_without_the_extra_and_says_why(
    tmp_path: Path, data: bytes, note: str,
) -> None:
    async with serve_app(tmp_path, worker=True) as app:
        upload_id = await upload(app, data)
        view = await settled(app, upload_id)
        assert view["status"] == "processed"
        assert steps(view) == [(name, "completed") for name in STEPS]
        [written] = view["notes"]
        assert written.startswith(note), written
        assert (view["has_thumbnail"], view["text_excerpt"]) == (False, None)
        if view["content_type"].startswith("image/"):
            message = not_found(await app.client.get(f"/api/uploads/{upload_id}/thumbnail"),
                                "has no thumbnail")
            assert note.removeprefix("no thumbnail: ") in message
        # The worker is alive and well: the next upload is processed.
        after = await settled(app, await upload(app, image_bytes((64, 64))))
        assert after["has_thumbnail"] is True


async def test_the_steps_wait_for_the_inspection_and_the_thumbnail_for_processing(
    tmp_path: Path,
) -> None:
    async with serve_app(tmp_path) as app:  # no worker: nothing runs
        upload_id = await upload(app, image_bytes((64, 64)))
        view = (await app.client.get(f"/api/uploads/{upload_id}")).json()
        assert view["status"] == "pending"
        assert steps(view) == [("inspect", "available"), ("thumbnail", "pending"),
                               ("extract", "pending"), ("finish", "pending")]
        assert (view["has_thumbnail"], view["text_excerpt"], view["notes"]) == (False, None, [])
        not_found(await app.client.get(f"/api/uploads/{upload_id}/thumbnail"),
                  "has no thumbnail", "not processed yet")
        jobs = await app.state.store.job_list(JobFilter())
        assert {job.workflow_name for job in jobs} == {f"upload-{upload_id}"}


@pytest.mark.parametrize("raw", ["not-a-uuid", "123", "0c5a9a7e-1f2b-4c3d-8e9f-a0b1c2d3e4f5"])
async def test_the_thumbnail_of_no_upload_is_404_saying_so(tmp_path: Path, raw: str) -> None:
    async with serve_app(tmp_path) as app:
        not_found(await app.client.get(f"/api/uploads/{raw}/thumbnail"), "no upload")


async def test_a_deleted_thumbnail_file_is_404_not_500(tmp_path: Path) -> None:
    async with serve_app(tmp_path, worker=True) as app:
        upload_id = await upload(app, image_bytes((64, 64)))
        await settled(app, upload_id)
        thumbnails = app.state.settings.upload_dir / "thumbnails"
        await trio.Path(thumbnails / uuid.UUID(upload_id).hex).unlink()
        not_found(await app.client.get(f"/api/uploads/{upload_id}/thumbnail"), "file is missing")


async def test_an_upload_whose_row_is_gone_cancels_its_workflow(tmp_path: Path) -> None:
    async with serve_app(tmp_path) as app:
        upload_id = await upload(app, image_bytes((64, 64)))
        async with app.state.store.transaction() as tx:
            await tx.execute("DELETE FROM uploads WHERE id = ?", (upload_id,))
    async with serve_app(tmp_path, worker=True) as app:
        async def all_ended() -> list[Any] | None:
            jobs = await app.state.store.job_list(JobFilter())
            return jobs if all(j.state is JobState.CANCELLED for j in jobs) else None

        jobs = await eventually(all_ended)
        assert sorted(j.task for j in jobs) == ["extract_text", "finish_upload",
                                               "make_thumbnail", "process_upload"]


async def test_a_process_upload_job_from_before_workflows_starts_one(tmp_path: Path) -> None:
    """A job pushed by an older version (one job, no workflow) is not stranded."""
    async with serve_app(tmp_path) as app:
        store = app.state.store
        legacy = new_upload(store, upload_id=uuid.uuid4(), filename="old.png",
                            stored_name=uuid.uuid4().hex)
        stored = trio.Path(app.state.settings.upload_dir / legacy.stored_name)
        await stored.parent.mkdir(parents=True, exist_ok=True)
        await stored.write_bytes(image_bytes((64, 64)))
        async with store.transaction() as tx:
            await tx.execute(
                "INSERT INTO uploads (id, filename, stored_name, status, created_at)"
                " VALUES (?, ?, ?, 'pending', ?)",
                (str(legacy.id), legacy.filename, legacy.stored_name, legacy.created_at))
            await tx.push(ProcessUpload(upload_id=legacy.id))
    async with serve_app(tmp_path, worker=True) as app:
        view = await settled(app, str(legacy.id))
        assert view["has_thumbnail"] is True
        assert steps(view) == [(name, "completed") for name in STEPS]
        row = await get_upload(app.state.store, legacy.id)
        assert row is not None
        assert row.workflow_id is not None


async def test_an_inspection_cancelled_by_an_operator_fails_the_upload_saying_so(
    tmp_path: Path,
) -> None:
    async with serve_app(tmp_path) as app:
        upload_id = await upload(app, image_bytes((64, 64)))
        row = await get_upload(app.state.store, uuid.UUID(upload_id))
        assert row is not None
        inspect_job = row.step_jobs["inspect"]
        response = await app.admin.post(f"/api/jobs/{inspect_job}/cancel", json={})
        assert response.status_code == 200, response.text
    async with serve_app(tmp_path, worker=True) as app:
        view = await settled(app, upload_id)
    assert (view["status"], view["error"]) == ("failed", "the inspect step ended cancelled")
    assert steps(view) == [("inspect", "cancelled"), ("thumbnail", "cancelled"),
                           ("extract", "cancelled"), ("finish", "completed")]
