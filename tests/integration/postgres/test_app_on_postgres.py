"""The app's repositories, written once with ``?`` placeholders, run unchanged on PostgreSQL."""

from __future__ import annotations

import uuid

import pytest
from support.postgres import URL, schema_store

from service import runtime, settings
from service.domain.schema import APP_MIGRATIONS
from service.domain.sniff import FileFacts
from service.domain.uploads import Derived, get_upload, mark_processed
from service.domain.users import DuplicateEmail, get_user, list_users, mark_welcome_sent
from service.flows.signup import create_user
from service.flows.uploads import create_upload
from service.jobs import JobState, PostgresStore

pytestmark = pytest.mark.usefixtures("pg_url")


async def test_signing_up_stores_the_user_and_its_welcome_job_together() -> None:
    async with schema_store(migrations=APP_MIGRATIONS) as store:
        ann = await create_user(store, name="Ann", email="ann@example.com")
        with pytest.raises(DuplicateEmail):
            await create_user(store, name="Ann again", email="ANN@example.com")

        assert await get_user(store, ann.id) == ann
        assert [u.id for u in await list_users(store)] == [ann.id]
        assert await mark_welcome_sent(store, ann.id, store.clock.now())
        assert not await mark_welcome_sent(store, ann.id, store.clock.now())
        counts = await store.job_count_by_state()

    assert counts == {("send_welcome_email", JobState.AVAILABLE): 1}


def test_a_postgresql_database_url_opens_the_postgres_store() -> None:
    store = runtime.open_store(settings.load({"database_url": URL}, environ={}))

    assert isinstance(store, PostgresStore)


async def test_an_upload_and_its_workflow_commit_together_and_finish_records_the_steps(
) -> None:
    async with schema_store(migrations=APP_MIGRATIONS) as store:
        upload_id = uuid.uuid4()
        await create_upload(store, upload_id=upload_id, filename="a.txt",
                            stored_name=upload_id.hex)
        upload = await get_upload(store, upload_id)
        assert upload is not None
        assert list(upload.step_jobs) == ["inspect", "thumbnail", "extract", "finish"]
        states = [(await store.job_get(i)).state for i in upload.step_jobs.values()]
        assert states == [JobState.AVAILABLE] + [JobState.PENDING] * 3
        facts = FileFacts(size=5, sha256="0" * 64, content_type="text/plain; charset=utf-8")
        derived = Derived(text_excerpt="hello", notes=("no thumbnail: a note",))
        assert await mark_processed(store, upload_id, facts, store.clock.now(), derived)
        done = await get_upload(store, upload_id)
    assert done is not None
    assert (done.status, done.text_excerpt, done.notes, done.thumbnail_type) == (
        "processed", "hello", ("no thumbnail: a note",), None)
