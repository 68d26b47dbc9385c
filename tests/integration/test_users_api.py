"""The users JSON API over real HTTP: sign-up, validation, the welcome job and its transaction."""

from __future__ import annotations

import datetime as dt
import email
import uuid
from email import policy
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

import pytest
from support.http import Served, serve_app
from support.waiting import eventually

from service.jobs import JobFilter, StoreError
from service.jobs._sqlite.store import SQLiteTransaction
from service.tasks import SendWelcomeEmail

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    import httpx

    from service.jobs._store import InsertResult, JobInsert

ADA = {"name": "Ada Lovelace", "email": "ada@example.com"}


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    return error


async def user_count(app: Served) -> int:
    [(count,)] = await app.state.store.query("SELECT count(*) FROM users")
    return int(count)


async def welcome_jobs(app: Served) -> int:
    return len(await app.state.store.job_list(JobFilter(task="send_welcome_email")))


def parse_time(text: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(text)
    assert moment.utcoffset() == dt.timedelta(0)
    return moment


async def test_creating_a_user_answers_201_with_the_user_and_pushes_its_welcome(
    tmp_path: Path,
) -> None:
    async with serve_app(tmp_path) as app:
        response = await app.client.post("/api/users", json=ADA)
        assert response.status_code == 201, response.text
        user = response.json()
        assert set(user) == {"id", "name", "email", "created_at", "welcome_email_sent_at"}
        assert uuid.UUID(user["id"]).version == 4
        assert (user["name"], user["email"]) == (ADA["name"], ADA["email"])
        assert user["welcome_email_sent_at"] is None
        created = parse_time(user["created_at"])
        assert abs(created.timestamp() - app.state.store.clock.now()) < 60
        assert response.headers["Location"] == f"/api/users/{user['id']}"
        fetched = await app.client.get(f"/api/users/{user['id']}")
        assert fetched.status_code == 200
        assert fetched.json() == user
        [job] = await app.state.store.job_list(JobFilter(task="send_welcome_email"))
        assert job.args == f'{{"user_id":"{user["id"]}"}}'


async def test_surrounding_whitespace_is_trimmed(tmp_path: Path) -> None:
    async with serve_app(tmp_path) as app:
        response = await app.client.post(
            "/api/users", json={"name": "  Ada  ", "email": " ada@example.com\t"})
        assert response.status_code == 201, response.text
        assert (response.json()["name"], response.json()["email"]) == ("Ada", "ada@example.com")


async def test_the_welcome_email_is_written_and_recorded_once_the_job_ran(
    tmp_path: Path,
) -> None:
    async with serve_app(tmp_path, worker=True) as app:
        user = (await app.client.post("/api/users", json=ADA)).json()

        async def sent_at() -> str | None:
            fetched = (await app.client.get(f"/api/users/{user['id']}")).json()
            return fetched["welcome_email_sent_at"]  # type: ignore[no-any-return]

        assert parse_time(await eventually(sent_at)) >= parse_time(user["created_at"])
        eml = app.state.settings.mail_dir / f"welcome-{user['id']}.eml"
        message = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
        assert isinstance(message, EmailMessage)
        [to] = message["To"].addresses
        assert (to.display_name, to.addr_spec) == ("Ada Lovelace", "ada@example.com")
        assert message["From"].addresses[0].addr_spec == app.state.settings.mail_from
        assert message["Subject"] == "Welcome!"
        assert message["Message-ID"] == f"<welcome-{user['id']}@service>"
        assert message["Date"].datetime is not None
        assert [p.name for p in app.state.settings.mail_dir.iterdir()] == [eml.name]


async def test_a_name_that_looks_like_header_syntax_is_the_emails_display_name_as_given(
    tmp_path: Path,
) -> None:
    name = "Ada =?utf-8?q?x?= evil, <root@example.com>"
    async with serve_app(tmp_path, worker=True) as app:
        created = await app.client.post(
            "/api/users", json={"name": name, "email": "ada@example.com"})
        assert created.status_code == 201, created.text
        user = created.json()
        assert user["name"] == name

        async def sent_at() -> str | None:
            fetched = (await app.client.get(f"/api/users/{user['id']}")).json()
            return fetched["welcome_email_sent_at"]  # type: ignore[no-any-return]

        await eventually(sent_at)
        eml = app.state.settings.mail_dir / f"welcome-{user['id']}.eml"
        message = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
        assert isinstance(message, EmailMessage)
        [to] = message["To"].addresses
        assert (to.display_name, to.addr_spec) == (name, "ada@example.com")


async def test_the_welcome_task_is_idempotent_and_cancels_for_a_missing_user(
    tmp_path: Path,
) -> None:
    from service.jobs.testing import run_task

    async with serve_app(tmp_path) as app:
        user = (await app.client.post("/api/users", json=ADA)).json()
        task = SendWelcomeEmail(user_id=uuid.UUID(user["id"]))
        first = await run_task(task, state=app.state)
        assert first.outcome == "completed", first.error
        eml = app.state.settings.mail_dir / f"welcome-{user['id']}.eml"
        written = eml.stat().st_mtime_ns
        second = await run_task(task, state=app.state)
        assert (second.outcome, second.value) == ("completed", "already sent")
        assert eml.stat().st_mtime_ns == written
        gone = await run_task(SendWelcomeEmail(user_id=uuid.uuid4()), state=app.state)
        assert gone.outcome == "cancelled"
        assert "no longer exists" in str(gone.error)


async def test_a_duplicate_email_is_409_whatever_its_case_and_adds_nothing(
    tmp_path: Path,
) -> None:
    async with serve_app(tmp_path) as app:
        assert (await app.client.post("/api/users", json=ADA)).status_code == 201
        again = await app.client.post(
            "/api/users", json={"name": "Other", "email": "ADA@Example.COM"})
        error = assert_error(again, 409, "conflict")
        assert "$.email" in error["fields"]
        assert await user_count(app) == 1
        assert await welcome_jobs(app) == 1


async def test_a_failed_push_rolls_back_the_user_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def failing_insert(self: SQLiteTransaction, jobs: Sequence[JobInsert]
                             ) -> list[InsertResult]:
        raise StoreError("disk full (simulated)")

    async with serve_app(tmp_path) as app:
        monkeypatch.setattr(SQLiteTransaction, "job_insert_many", failing_insert)
        response = await app.client.post("/api/users", json=ADA)
        assert response.status_code >= 500, response.text
        monkeypatch.undo()
        assert await user_count(app) == 0
        assert await welcome_jobs(app) == 0
        # The email is free: nothing of the failed sign-up was kept.
        assert (await app.client.post("/api/users", json=ADA)).status_code == 201
        assert (await user_count(app), await welcome_jobs(app)) == (1, 1)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "a@example.com"}, "$.name"),
        ({"name": "A"}, "$.email"),
        ({"name": "   ", "email": "a@example.com"}, "$.name"),
        ({"name": "x" * 201, "email": "a@example.com"}, "$.name"),
        ({"name": "Eve\r\nBcc: all@example.com", "email": "eve@example.com"}, "$.name"),
        ({"name": "Ada\u202eecalevoL", "email": "a@example.com"}, "$.name"),
        ({"name": "\u2067Ada\u2069", "email": "a@example.com"}, "$.name"),
        ({"name": 42, "email": "a@example.com"}, "$.name"),
        ({"name": "A", "email": "no-at-sign"}, "$.email"),
        ({"name": "A", "email": "two@@example.com"}, "$.email"),
        ({"name": "A", "email": "a@b@example.com"}, "$.email"),
        ({"name": "A", "email": "has space@example.com"}, "$.email"),
        ({"name": "A", "email": "eve@example.com\r\nBcc: all@example.com"}, "$.email"),
        ({"name": "A", "email": "x" * 250 + "@example.com"}, "$.email"),
        ({"name": "A", "email": "@example.com"}, "$.email"),
        ({"name": "A", "email": None}, "$.email"),
    ],
)
async def test_invalid_users_are_422_naming_the_field(
    tmp_path: Path, body: dict[str, Any], field: str
) -> None:
    async with serve_app(tmp_path) as app:
        error = assert_error(await app.client.post("/api/users", json=body), 422, "invalid")
        assert field in error["fields"], error
        assert await user_count(app) == 0


async def test_unknown_keys_and_non_objects_are_422(tmp_path: Path) -> None:
    async with serve_app(tmp_path) as app:
        extra = await app.client.post("/api/users", json={**ADA, "admin": True})
        assert_error(extra, 422, "invalid")
        assert_error(await app.client.post("/api/users", json=[ADA]), 422, "invalid")
        assert await user_count(app) == 0


@pytest.mark.parametrize("content", [b"{", b'{"name": "A", "email": }', b"\xff\xfe", b"NaN"])
async def test_malformed_json_is_400(tmp_path: Path, content: bytes) -> None:
    async with serve_app(tmp_path) as app:
        response = await app.client.post(
            "/api/users", content=content, headers={"Content-Type": "application/json"})
        assert_error(response, 400, "malformed_json")


async def test_a_body_that_is_not_json_is_415(tmp_path: Path) -> None:
    async with serve_app(tmp_path) as app:
        response = await app.client.post("/api/users", data=ADA)
        assert_error(response, 415, "unsupported_media_type")


async def test_a_body_over_the_limit_is_413(tmp_path: Path) -> None:
    async with serve_app(tmp_path, body_max_bytes="1k") as app:
        response = await app.client.post(
            "/api/users", json={"name": "x" * 2000, "email": "a@example.com"})
        assert_error(response, 413, "too_large")


@pytest.mark.parametrize(
    "raw", ["not-a-uuid", "1234", "6f1c2a4e-8d3b-4c5a-9e7f-0a1b2c3d4e5", "%00"])
async def test_an_invalid_uuid_in_the_path_is_404_saying_so(tmp_path: Path, raw: str) -> None:
    async with serve_app(tmp_path) as app:
        error = assert_error(await app.client.get(f"/api/users/{raw}"), 404, "not_found")
        assert "not a valid UUID" in error["message"]


async def test_an_unknown_user_is_404(tmp_path: Path) -> None:
    async with serve_app(tmp_path) as app:
        error = assert_error(await app.client.get(f"/api/users/{uuid.uuid4()}"), 404,
                             "not_found")
        assert "not a valid UUID" not in error["message"]
