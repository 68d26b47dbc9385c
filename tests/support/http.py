"""Test support: the real app on hypercorn, bound to a free loopback port, in the test's nursery."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import attrs
import httpx
import trio

from service.runtime import WebService, make_worker, open_state
from service.settings import Settings, load
from service.state import AppState
from support.openapi import checking_hook, fetch_contract

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from service.tracing import Tracing

ADMIN_TOKEN = "test-admin-token"


@attrs.frozen
class Served:
    url: str
    state: AppState
    client: httpx.AsyncClient
    admin: httpx.AsyncClient  # sends the admin bearer token


def make_settings(tmp_path: Path, **overrides: str) -> Settings:
    values = {
        "data_dir": str(tmp_path / "data"),
        "bind": "127.0.0.1:0",
        "admin_token": ADMIN_TOKEN,
        "shutdown_grace": "5",
        **overrides,
    }
    return load(overrides=values, environ={})


@asynccontextmanager
async def serve_app(
    tmp_path: Path, *, worker: bool = False, tracing: Tracing | None = None, **overrides: str
) -> AsyncIterator[Served]:
    """Serve the app over real HTTP; with ``worker=True`` the TaskWorker runs beside it;
    ``tracing`` traces its requests."""
    settings = make_settings(tmp_path, **overrides)
    async with open_state(settings, tracing=tracing) as state, trio.open_nursery() as nursery:
        web = WebService(state)
        [address] = await nursery.start(web.run)
        job_worker = make_worker(state) if worker else None
        if job_worker is not None:
            await nursery.start(job_worker.run)
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        # Every answer a test sees is checked against the OpenAPI document.
        hooks = {"response": [checking_hook(await fetch_contract(address))]}
        async with httpx.AsyncClient(base_url=address, timeout=10, event_hooks=hooks) as client, \
                httpx.AsyncClient(base_url=address, timeout=10, headers=headers,
                                  event_hooks=hooks) as admin:
            yield Served(url=address, state=state, client=client, admin=admin)
        if job_worker is not None:
            await job_worker.shutdown()
        await web.shutdown()
