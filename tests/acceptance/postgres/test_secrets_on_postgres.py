"""A real ``python -m service web`` given a PostgreSQL URL with a password (issue 11, bugs 1-2).

The test server trusts every connection from 127.0.0.1, so any password logs in: it is only
there to be looked for. It must appear nowhere on stderr -- not in ``service.ready``, not in the
errors of the outage the test causes by dropping the database -- and clients of that outage get
a generic 503 with a request id while the log has the driver's detail under the same id.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql
from support.postgres import URL, fresh_database
from support.processes import service_env, service_process

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("pg_url")]

PASSWORD = "hunter2-0f5e"


def with_password(url: str, password: str) -> str:
    parts = urlsplit(url)
    netloc = f"{parts.username or 'postgres'}:{password}@{parts.hostname}:{parts.port or 5432}"
    return urlunsplit(parts._replace(netloc=netloc))


def drop_database(name: str) -> None:
    with psycopg.connect(URL, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))


async def test_the_password_never_reaches_stderr_nor_a_client(tmp_path: Path) -> None:
    import trio

    with fresh_database() as url:
        secret_url = with_password(url, PASSWORD)
        database = urlsplit(url).path.lstrip("/")
        env = service_env(tmp_path)
        async with service_process(env, "web", "--database-url", secret_url,
                                   module="service") as service, service.admin() as admin:
            ready = await service.wait_for("service.ready")
            assert ready["database"] == with_password(url, "***")
            assert (await admin.post("/api/users", json={
                "name": "Ada", "email": "ada@example.com"})).status_code == 201

            await trio.to_thread.run_sync(drop_database, database)
            for _ in range(3):
                refused = await admin.post("/api/users", json={
                    "name": "Bob", "email": "bob@example.com"})
                assert refused.status_code == 503, refused.text
                error = refused.json()["error"]
                assert error["code"] == "unavailable"
                assert error["message"].startswith("the database is unavailable"), error
                for internal in (database, "127.0.0.1", "5432", "FATAL", PASSWORD):
                    assert internal not in refused.text
                assert error["request_id"] == refused.headers["X-Request-ID"]
            ready_now = await admin.get("/readyz")
            assert ready_now.status_code == 503
            assert database not in ready_now.text

            logged = await service.wait_for("http.store_error")
            assert database in logged["error"], "the detail goes to the log"
            assert logged["request_id"]
            service.signal()
            await service.process.wait()

        stderr = "\n".join(json.dumps(event) for event in service.events)
        assert PASSWORD not in stderr
        assert service.names().count("http.store_error") == 1, "one line for the outage"
