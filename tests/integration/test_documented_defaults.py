"""The defaults and bounds README.md states as numbers, written out as the literals it shows.

Other tests import the constants they exercise, so a changed constant changes the test with it;
these compare against the documentation instead: change a number here only with README.md.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from support.http import serve_app

from service.domain import extract, thumbnails
from service.jobs import WorkerConfig
from service.jobs._sqlite.connection import connect
from service.jobs._store import REPEAT_RESCUE_SPREAD_MAX_S, REPEAT_RESCUE_SPREAD_S
from service.runtime import worker_config
from service.settings import load
from service.tasks import ExtractText, MakeThumbnail, ProcessUpload, SendWelcomeEmail

MIB = 1024 * 1024


def test_the_environment_table_defaults() -> None:
    settings = load(environ={})
    assert settings.database_url == f"sqlite:///{Path('data') / 'service.db'}"
    assert settings.bind == "127.0.0.1:8000"
    assert settings.admin_token is None
    assert settings.shutdown_grace == 10
    assert settings.smtp_url is None
    assert settings.mail_from == "service@localhost"
    assert settings.upload_max_bytes == 64 * MIB
    assert settings.body_max_bytes == 1 * MIB
    assert settings.log_level == "INFO"
    assert settings.db_pool_size == 8
    assert settings.sqlite_cache_bytes == 8 * MIB
    assert settings.sqlite_mmap_bytes == 0
    assert settings.lease_ttl == 15
    assert settings.rescue_interval == 5
    assert settings.max_rescues == 5
    assert settings.metrics_bind is None, "a worker listens on no port unless told to"
    assert settings.log_format is None, "text on a terminal, else JSON"


def test_the_bounds_table_defaults() -> None:
    config = worker_config(load(environ={}))
    assert config.lease_ttl == 15
    assert config.lease_renew_interval == 5, "a third of SERVICE_LEASE_TTL"
    assert config.rescue_interval == 5
    assert config.max_rescues == 5
    assert config.shutdown_grace == 10
    assert (config.poll_min, config.poll_max) == (0.05, 1.0)
    assert config.schedule_interval == 1
    assert config.lease_ttl + config.rescue_interval + config.poll_max == 21
    assert WorkerConfig() == config, "the engine's own defaults are the documented ones"
    assert (REPEAT_RESCUE_SPREAD_S, REPEAT_RESCUE_SPREAD_MAX_S) == (1, 10)


def test_the_sqlite_connection_waits_10_s_for_the_lock_with_an_8_mib_cache(
    tmp_path: Path,
) -> None:
    conn = connect(str(tmp_path / "x.db"))
    try:
        assert conn.execute("PRAGMA busy_timeout").fetchone() == (10_000,)
        assert conn.execute("PRAGMA cache_size").fetchone() == (-8 * 1024,)
        assert conn.execute("PRAGMA mmap_size").fetchone() == (0,)
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("PRAGMA synchronous").fetchone() == (1,), "NORMAL"
    finally:
        conn.close()


async def test_the_job_listing_pages_50_by_default_and_at_most_500(tmp_path: Path) -> None:
    async with serve_app(tmp_path) as app:
        await app.state.store.push_many([SendWelcomeEmail(user_id=uuid.uuid4())
                                         for _ in range(51)])
        page = (await app.admin.get("/api/jobs")).json()
        assert len(page["jobs"]) == 50
        assert page["next"] is not None
        for limit, status in (("500", 200), ("501", 422), ("0", 422)):
            response = await app.admin.get("/api/jobs", params={"limit": limit})
            assert response.status_code == status, (limit, response.text)


def test_an_upload_job_retries_2_8_32_128_s_apart_over_5_attempts() -> None:
    options = ProcessUpload.options
    assert options.max_attempts == 5
    assert options.backoff.schedule(options.max_attempts - 1) == [2, 8, 32, 128]


def test_upload_steps_make_256_px_thumbnails_of_up_to_50_megapixels_and_1000_characters() -> None:
    assert (thumbnails.MAX_SIDE, thumbnails.MAX_PIXELS) == (256, 50_000_000)
    assert extract.EXCERPT_CHARS == 1000
    for task in (MakeThumbnail, ExtractText):
        assert (task.options.run_in, task.options.timeout) == ("process", 120)
