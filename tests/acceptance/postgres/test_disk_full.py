"""``python -m service`` on PostgreSQL when the disk under its database fills up.

The fault is real: the service's database lives in a tablespace on a tiny tmpfs, and a filler
file takes the last free byte. PostgreSQL then cannot extend a table or index file ("could not
extend file ... No space left on device"). Pages that still have room keep taking rows, so
pushes after the fill are refused only now and then at first: each refused one answers 503
with the JSON error and turns readiness not-ready, each accepted one is durable. The service
stays up and heals by itself when space comes back. Nothing refused leaves a row; everything
accepted runs.

Needs root (to mount the tmpfs and hand it to the server's OS user) and a server on this host;
skipped otherwise with the reason.
"""

from __future__ import annotations

import os
import pwd
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql
from support.faults import (
    FullDisk,
    assert_unavailable,
    drained,
    effect_lines,
    push_append,
    query,
    sign_up,
    tiny_disk,
)
from support.postgres import URL, require_postgres
from support.processes import service_env, service_process
from support.waiting import wait_for_status

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.slow

TASKS = {"append", "send_welcome_email"}
#: Pushes tried after the fill before giving up on seeing enough refused.
MAX_PUSHES_UNTIL_FULL = 3000
#: Refused pushes to see. Not every push after the first refusal fails: a page or index
#: leaf with room left still takes a row, so refusals and acceptances interleave for a while.
REFUSALS = 20


def _why_not() -> str | None:
    if urlsplit(URL).hostname not in ("127.0.0.1", "localhost", "::1"):
        return f"the test server {URL} is not on this host"
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return "no 'postgres' OS user to own the tablespace directory"
    return None


@contextmanager
def database_on_tiny_disk(size: str) -> Iterator[tuple[str, Path]]:
    """(URL of a new database whose tablespace is a ``size`` tmpfs, the tmpfs)."""
    url = require_postgres()
    reason = _why_not()
    if reason is not None:
        pytest.skip(reason)
    token = uuid.uuid4().hex[:12]
    # Under /tmp (world-searchable), not pytest's tmp_path: the server's user must reach it.
    mount = Path(f"/tmp/svc-pgdisk-{token}")
    with tiny_disk(mount, size) as disk:
        owner = pwd.getpwnam("postgres")
        space = disk / "space"
        space.mkdir()
        os.chown(space, owner.pw_uid, owner.pw_gid)
        tablespace, database = f"svc_ts_{token}", f"svc_{token}"
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE TABLESPACE {} LOCATION {}").format(
                sql.Identifier(tablespace), sql.Literal(str(space))))
            conn.execute(sql.SQL("CREATE DATABASE {} TABLESPACE {}").format(
                sql.Identifier(database), sql.Identifier(tablespace)))
        try:
            yield urlunsplit(urlsplit(url)._replace(path=f"/{database}")), disk
        finally:
            filler = disk / "filler"
            if filler.exists():
                filler.unlink()
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(database)))
                conn.execute(sql.SQL("DROP TABLESPACE IF EXISTS {}").format(
                    sql.Identifier(tablespace)))
    shutil.rmtree(mount, ignore_errors=True)


async def test_a_full_disk_answers_503_keeps_the_process_up_and_heals_by_itself(
    tmp_path: Path,
) -> None:
    words = ("No space left", "could not extend", "space")
    effects = tmp_path / "effects.txt"
    with database_on_tiny_disk("48m") as (url, disk):
        env = service_env(tmp_path, database_url=url, lease_ttl="2", rescue_interval="0.5")
        async with service_process(env) as service, service.admin() as admin:
            assert [await push_append(admin, effects, n) for n in range(5)] == [201] * 5
            first_user = await sign_up(admin, 0)
            assert first_user.status_code == 201
            await drained(admin, TASKS, within=15)

            fault = FullDisk(disk)
            fault.inject()
            accepted, users = list(range(5)), 1
            try:
                refused = 0
                for n in range(1000, 1000 + MAX_PUSHES_UNTIL_FULL):
                    response = await admin.post("/api/jobs", json={
                        "task": "append", "args": {"path": str(effects), "n": n}})
                    if response.status_code == 201:
                        accepted.append(n)
                        continue
                    assert_unavailable(response, words)
                    refused += 1
                    if refused == 1:
                        # Readiness reports the failure it has just seen.
                        assert_unavailable(await admin.get("/readyz"), words)
                    user = await sign_up(admin, n)
                    if user.status_code == 201:
                        users += 1
                    else:
                        assert_unavailable(user, words)
                    if refused == REFUSALS:
                        break
                assert refused == REFUSALS, f"the full disk refused only {refused} pushes"
                assert (await admin.get("/healthz")).status_code == 200
                read = await admin.get(f"/api/users/{first_user.json()['id']}")
                assert read.status_code == 200, "reads still work"
                assert service.process.returncode is None, "the process stays up"
            finally:
                fault.clear()

            await wait_for_status(admin, "/readyz", 200, within=40)
            after = [await push_append(admin, effects, n) for n in range(5000, 5003)]
            assert after == [201] * 3
            accepted += range(5000, 5003)
            await drained(admin, TASKS, within=60)
            service.signal()
            assert await service.process.wait() == 0

        assert await query(env, "SELECT count(*) FROM jobs WHERE task = 'append'") == [
            (len(accepted),)], "no refused push left a row"
        assert await query(env, "SELECT count(*) FROM users") == [(users,)]
        assert await query(env, "SELECT DISTINCT state FROM jobs") == [("completed",)]
    numbers = {int(line.split()[0]) for line in effects.read_text().splitlines()}
    assert numbers == set(accepted), "every accepted job ran, no refused one did"
    assert all(count >= 1 for count in effect_lines(effects).values())
    recorded = {e.get("event") for e in service.events}
    assert "http.store_error" in recorded
    assert "unparsed" not in recorded, "no traceback: nothing crashed"
