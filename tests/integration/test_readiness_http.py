"""``GET /readyz`` against the numbers README.md documents, on trio's MockClock.

README: 503 "when the database does not answer within 2 s or does not take writes (... a request
failed on it in the last 3 s, or readiness's own one-row write probe fails; that probe runs at
most every 5 s while all is well)". The literals below are those documented numbers, on purpose
not the module's constants, so changing a constant without the docs fails here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import trio
import trio.testing
from quart_trio import QuartTrio
from support.http import make_settings

from service.http.app import create_app
from service.http.operator import ops
from service.http.plumbing.health import StoreHealth
from service.runtime import open_state
from service.state import AppState

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

Ready = tuple[QuartTrio, AppState, list[float]]


@pytest.fixture
async def ready_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Ready]:
    """The app with readiness on trio's clock; the list records when a write probe ran."""
    probes: list[float] = []
    real_probe = ops.probe_write

    async def counted_probe(store: Any) -> None:
        probes.append(trio.current_time())
        await real_probe(store)

    monkeypatch.setattr(ops, "probe_write", counted_probe)
    async with open_state(make_settings(tmp_path)) as state:
        app = create_app(state)
        app.extensions["store_health"] = StoreHealth(trio.current_time)
        yield app, state, probes


async def readyz(app: QuartTrio) -> tuple[int, dict[str, Any]]:
    response = await app.test_client().get("/readyz")
    return response.status_code, await response.get_json()


async def test_readiness_answers_503_after_2_seconds_when_the_database_hangs(
    ready_app: Ready, autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch,
) -> None:
    app, state, _ = ready_app

    async def hang(*args: Any, **kwargs: Any) -> Any:
        await trio.sleep_forever()

    monkeypatch.setattr(state.store, "query", hang)
    start = trio.current_time()
    status, body = await readyz(app)
    waited = trio.current_time() - start

    assert status == 503, body
    assert body["error"]["code"] == "unavailable"
    assert "within 2 s" in body["error"]["message"]
    assert waited == pytest.approx(2.0, abs=0.01), waited


async def test_the_write_probe_runs_at_most_every_5_seconds_while_all_is_well(
    ready_app: Ready, autojump_clock: trio.testing.MockClock,
) -> None:
    app, _, probes = ready_app
    start = trio.current_time()

    assert (await readyz(app))[0] == 200
    await trio.sleep(4.9)
    assert (await readyz(app))[0] == 200
    assert [t - start for t in probes] == [pytest.approx(0, abs=0.01)], "none before 5 s"
    await trio.sleep(0.1)
    assert (await readyz(app))[0] == 200

    assert [t - start for t in probes] == [
        pytest.approx(0, abs=0.01), pytest.approx(5.0, abs=0.01)], "one again at 5 s"


async def test_a_failed_request_holds_readiness_at_503_for_3_seconds(
    ready_app: Ready, autojump_clock: trio.testing.MockClock,
) -> None:
    app, _, probes = ready_app
    health = app.extensions["store_health"]
    assert (await readyz(app))[0] == 200
    health.failed("database or disk is full (SQLITE_FULL)")

    await trio.sleep(2.9)
    status, body = await readyz(app)
    assert status == 503
    assert "SQLITE_FULL" in body["error"]["message"]
    assert "2.9 s ago" in body["error"]["message"]
    await trio.sleep(0.1)
    assert (await readyz(app))[0] == 200, "the first probe after 3 s clears it"
    assert len(probes) == 3, "a recorded failure probes at every check"
