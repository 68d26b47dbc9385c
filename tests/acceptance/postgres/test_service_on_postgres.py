"""``python -m service`` on PostgreSQL: the app works there, and rides out a server restart."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import trio
from psycopg import sql
from support.postgres import require_postgres
from support.processes import service_env, service_process
from support.waiting import wait_for_status, wait_until

from .test_survives_restart import _why_not_controllable, pg_ctl, start_server

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture
def database_url() -> Iterator[str]:
    """A fresh database of its own on the test server, dropped afterwards."""
    url = require_postgres()
    name = f"svc_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    parts = urlsplit(url)
    yield urlunsplit(parts._replace(path=f"/{name}"))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))


async def test_signing_up_on_postgresql_sends_the_welcome_email(
    tmp_path: Path, database_url: str
) -> None:
    env = service_env(tmp_path, database_url=database_url)
    async with service_process(env) as service, service.admin() as client:
        response = await client.post("/api/users",
                                     json={"name": "Grace Hopper", "email": "grace@example.com"})
        assert response.status_code == 201, response.text
        user = response.json()
        with trio.fail_after(15):
            while (await client.get(f"/api/users/{user['id']}")).json()[
                    "welcome_email_sent_at"] is None:
                await trio.sleep(0.05)
        duplicate = await client.post("/api/users",
                                      json={"name": "G", "email": "GRACE@example.com"})
        assert duplicate.status_code == 409
        service.signal()
        assert await service.process.wait() == 0
    assert (tmp_path / "data" / "mail" / f"welcome-{user['id']}.eml").exists()


async def _push_naps(client: object, tmp_path: Path, names: range) -> None:
    for n in names:
        response = await client.post("/api/jobs", json={  # type: ignore[attr-defined]
            "task": "nap", "args": {"seconds": 0.1, "marker": str(tmp_path / f"nap{n}")}})
        assert response.status_code == 201, response.text


@pytest.mark.skipif(_why_not_controllable() is not None,
                    reason=f"cannot restart PostgreSQL: {_why_not_controllable()}")
async def test_the_service_reports_not_ready_during_a_restart_then_recovers_losing_nothing(
    tmp_path: Path, database_url: str
) -> None:
    env = service_env(tmp_path, database_url=database_url)
    async with service_process(env) as service, service.admin() as client:
        await _push_naps(client, tmp_path, range(5))
        try:
            await trio.to_thread.run_sync(pg_ctl, "stop")
            await wait_for_status(client, "/readyz", 503, within=30)
            assert (await client.get("/healthz")).status_code == 200
            refused = await client.post("/api/jobs", json={"task": "nap", "args": {
                "seconds": 0, "marker": str(tmp_path / "refused")}})
            assert refused.status_code == 503
            assert refused.json()["error"]["code"] == "unavailable"
        finally:
            await trio.to_thread.run_sync(start_server)
        await wait_for_status(client, "/readyz", 200, within=60, poll=0.2)
        await _push_naps(client, tmp_path, range(5, 10))
        await wait_until("every nap's marker",
                         lambda: [n for n in range(10) if (tmp_path / f"nap{n}").exists()],
                         lambda written: len(written) == 10, within=60, poll=0.1)
        assert service.process.returncode is None, "the process stayed up"
        service.signal()
        assert await service.process.wait() == 0
    assert not (tmp_path / "refused").exists()
