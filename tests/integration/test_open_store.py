"""``open_store``: which backend a database URL names, and the options that reach it."""

from __future__ import annotations

import re
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest
import trio
from support.conformance import Email
from support.postgres import URL, drop_schema, new_schema_name, require_postgres

from service.domain.schema import APP_MIGRATIONS
from service.jobs import (
    DatabaseNotFound,
    InlineRunner,
    JobStore,
    PostgresStore,
    ServiceError,
    SQLiteStore,
    StoreError,
    StoreUnavailable,
    UnsupportedStoreURL,
    open_store,
)
from service.jobs._factory import sqlite_path

if TYPE_CHECKING:
    from pathlib import Path


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///jobs.db", "jobs.db"),
        ("sqlite:///data/jobs.db", "data/jobs.db"),
        ("sqlite:////var/lib/service/jobs.db", "/var/lib/service/jobs.db"),
        ("SQLite:///jobs.db", "jobs.db"),
        ("sqlite:///:memory:", ":memory:"),
        (":memory:", ":memory:"),
        ("jobs.db", "jobs.db"),
        ("/var/lib/service/jobs.db", "/var/lib/service/jobs.db"),
        ("C:/service/jobs.db", "C:/service/jobs.db"),
    ],
)
def test_sqlite_urls_and_plain_paths_name_a_sqlite_file(url: str, path: str) -> None:
    assert sqlite_path(url) == path
    store = open_store(url)
    assert isinstance(store, SQLiteStore)
    assert store.path == path


def test_a_path_object_names_a_sqlite_file(tmp_path: Path) -> None:
    store = open_store(tmp_path / "jobs.db")

    assert isinstance(store, SQLiteStore)
    assert store.path == str(tmp_path / "jobs.db")


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("mysql://root@localhost/jobs", "unsupported database 'mysql'"),
        ("postgresql+psycopg://localhost/jobs", "unsupported database 'postgresql+psycopg'"),
        ("redis://localhost", "unsupported database 'redis'"),
        ("sqlite://jobs.db", "a SQLite URL needs three slashes and a path"),
        ("sqlite:///", "a SQLite URL needs three slashes and a path"),
        ("sqlite:jobs.db", "a SQLite URL needs three slashes and a path"),
        ("", "empty database URL"),
        ("  ", "empty database URL"),
    ],
)
def test_an_unsupported_url_is_refused_naming_the_problem_and_the_forms_that_work(
    url: str, problem: str
) -> None:
    with pytest.raises(UnsupportedStoreURL) as caught:
        open_store(url)

    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, ServiceError)
    assert str(caught.value).startswith(f"{problem}: {url!r}")
    assert "sqlite:///path/to/file.db" in str(caught.value)
    assert "postgresql://" in str(caught.value)
    assert caught.value.url == url


async def test_an_in_memory_store_opens_and_keeps_jobs() -> None:
    async with open_store("sqlite:///:memory:", runner=InlineRunner()) as store:
        job_id = await store.push(Email(to="ann@example.com"))

        assert (await store.job_get(job_id)).task == "conf.email"


async def test_sqlite_options_reach_the_connection(tmp_path: Path) -> None:
    async with open_store(
        f"sqlite:///{tmp_path / 'jobs.db'}", runner=InlineRunner(), cache_bytes=4 * 1024**2,
        mmap_bytes=1024**2, pool_size=3, schema="ignored_by_sqlite",
    ) as store:
        assert await store.query("PRAGMA cache_size") == [(-4096,)]
        assert await store.query("PRAGMA mmap_size") == [(1024**2,)]


async def test_the_apps_migrations_are_applied_on_open(tmp_path: Path) -> None:
    store = open_store(tmp_path / "jobs.db", runner=InlineRunner(), migrations=APP_MIGRATIONS)
    async with store:
        applied = list(store.applied_migrations)

    assert {f"{m.component}:{m.version}" for m in APP_MIGRATIONS} <= set(applied)
    assert any(name.startswith("app:") for name in applied)


@pytest.mark.parametrize("runner", [InlineRunner, None])
async def test_create_false_opens_only_an_existing_file_and_creates_nothing(
    tmp_path: Path, runner: type[InlineRunner] | None
) -> None:
    missing = tmp_path / "data" / "jobs.db"
    with pytest.raises(DatabaseNotFound) as info:
        async with open_store(f"sqlite:///{missing}", create=False,
                              runner=runner() if runner else None):
            pass
    assert str(info.value) == f"no SQLite database at {missing}"
    assert info.value.path == str(missing)
    assert isinstance(info.value, StoreError)
    assert isinstance(info.value, FileNotFoundError)
    assert not missing.parent.exists(), "not even the directory"

    async with open_store(missing, runner=runner() if runner else None) as store:
        job_id = await store.push(Email(to="ann@example.com"))
    async with open_store(missing, create=False, runner=runner() if runner else None) as store:
        assert (await store.job_get(job_id)).task == "conf.email"


async def test_errors_while_opening_a_sqlite_file_name_it(tmp_path: Path) -> None:
    directory = tmp_path / "a-directory.db"
    directory.mkdir()
    with pytest.raises(StoreUnavailable, match=rf"^SQLite database {re.escape(str(directory))}:"
                                               r" unable to open database file"):
        async with open_store(directory, runner=InlineRunner()):
            pass


async def test_a_file_that_fails_after_opening_is_named_too(tmp_path: Path) -> None:
    path = tmp_path / "service.db"
    async with open_store(path) as store:
        await store.push(Email(to="ann@example.com"))
        await store.query("PRAGMA wal_checkpoint(TRUNCATE)")  # every page back in the file
        with path.open("r+b") as file:
            file.write(b"not SQLite" * 10)  # its header, clobbered behind the store's back
        with pytest.raises(StoreUnavailable, match=rf"^SQLite database {re.escape(str(path))}:"
                                                   r" file is not a database"):
            await store.job_count_by_state()  # the reader connection opens the file now


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
async def test_a_postgresql_url_opens_the_postgres_store(scheme: str) -> None:
    url = scheme + URL[URL.index(":"):]
    require_postgres()
    schema = new_schema_name()
    try:
        store: JobStore = open_store(url, schema=schema, pool_size=2, listen=False,
                                     cache_bytes=1024, runner=InlineRunner())
        assert isinstance(store, PostgresStore)
        assert store.schema == schema
        assert store._pool_options["max_size"] == 2
        async with store:
            result = await store.push_result(Email(to="ann@example.com"))
            assert result.inserted
            assert await store.query("SELECT current_schema()") == [(schema,)]
    finally:
        await trio.to_thread.run_sync(drop_schema, schema)


def test_a_sqlite_only_process_never_imports_psycopg(tmp_path: Path) -> None:
    script = (
        "import sys, trio\n"
        "from service.jobs import open_store\n"
        "async def main():\n"
        f"    async with open_store({str(tmp_path / 'jobs.db')!r}) as store:\n"
        "        await store.query('SELECT 1')\n"
        "trio.run(main)\n"
        "import service.runtime, service.cli, service.http.app\n"
        "assert 'psycopg' not in sys.modules, 'psycopg was imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=False, timeout=60)
    assert result.returncode == 0, result.stderr
