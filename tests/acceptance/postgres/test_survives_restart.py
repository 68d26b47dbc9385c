"""An open store rides out a restart of the PostgreSQL server itself.

This test stops the machine's cluster, so it always starts it again (in a ``finally``, retried),
and it only runs against a local cluster it can control with ``pg_ctlcluster`` as root. Set
``SERVICE_TEST_PG_RESTART=0`` to skip it on a server others are using at the same time.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from urllib.parse import urlsplit

import pytest
import trio
from support.pg_tasks import Mark
from support.postgres import URL, Heard, schema_store
from support.waiting import wait_until

from service.jobs import JobState, PostgresStore, StoreUnavailable

MARK = Mark.options.name


def _cluster_version() -> str | None:
    try:
        versions = sorted(os.listdir("/etc/postgresql"))
    except OSError:
        return None
    return versions[-1] if versions else None


def _why_not_controllable() -> str | None:
    if os.environ.get("SERVICE_TEST_PG_RESTART") == "0":
        return "SERVICE_TEST_PG_RESTART=0"
    if urlsplit(URL).hostname not in ("127.0.0.1", "localhost", "::1"):
        return f"the test server {URL} is not local"
    if shutil.which("pg_ctlcluster") is None or _cluster_version() is None:
        return "no pg_ctlcluster and /etc/postgresql cluster to restart"
    if os.geteuid() != 0:
        return "restarting the cluster needs root"
    return None


pytestmark = [
    pytest.mark.slow,
    pytest.mark.usefixtures("pg_url"),
    pytest.mark.skipif(_why_not_controllable() is not None,
                       reason=f"cannot restart PostgreSQL: {_why_not_controllable()}"),
]


def pg_ctl(action: str) -> None:
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", str(_cluster_version()), "main", action],
        check=True, capture_output=True, timeout=60,
    )


def start_server() -> None:
    """Start the cluster; retried, since a test must never leave it down."""
    for attempt in range(5):
        try:
            pg_ctl("start")
            return
        except subprocess.CalledProcessError:
            if subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1"], check=False).returncode == 0:
                return
            if attempt == 4:
                raise
            time.sleep(1)


async def test_calls_fail_while_the_server_is_down_and_work_once_it_is_back() -> None:
    async with (
        schema_store(min_size=2) as store,
        PostgresStore(URL, schema=store.schema, listen=False) as pusher,
    ):
        heard = Heard()
        store.add_push_listener(heard)
        before = await store.push_many(Mark(n=n) for n in range(20))

        await trio.to_thread.run_sync(pg_ctl, "stop")
        try:
            started = time.monotonic()
            with pytest.raises(StoreUnavailable):
                await store.push(Mark(n=100))
            with pytest.raises(StoreUnavailable):
                await store.job_count_by_state()
            with pytest.raises(StoreUnavailable):
                async with store.transaction() as tx:
                    await tx.push(Mark(n=101))
            with pytest.raises(StoreUnavailable):
                await pusher.push(Mark(n=102))
            failing_took = time.monotonic() - started
        finally:
            await trio.to_thread.run_sync(start_server)

        async def push_once() -> int | StoreUnavailable:
            try:
                return await store.push(Mark(n=200))
            except StoreUnavailable as exc:
                return exc

        after = await wait_until("a push to succeed after the restart", push_once,
                                 lambda pushed: isinstance(pushed, int), within=30, poll=0.2)
        assert isinstance(after, int)
        back_after_restart = await pusher.push(Mark(n=201))

        async def push_and_listen() -> list[tuple[frozenset[str], float]]:
            await pusher.push(Mark(n=202))
            await trio.sleep(0.2)
            return list(heard.calls)

        # the listener reconnected and LISTENs again
        await wait_until("a NOTIFY heard after the restart", push_and_listen,
                         lambda calls: any(run_at for _, run_at in calls), within=20, poll=0)
        rows = [await store.job_get(job_id) for job_id in [*before, after]]
        pushed_later = await pusher.job_get(back_after_restart)

    assert failing_took < 5, "calls fail fast while the server is down"
    assert all(row.state == JobState.AVAILABLE for row in rows), "no pushed job was lost"
    assert sorted(row.id for row in rows) == sorted([*before, after])
    assert pushed_later.task == MARK
