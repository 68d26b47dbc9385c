"""Poison jobs: a task that kills its own process is discarded after a bounded number of rescues.

A web process takes pushes throughout; a worker process is restarted by a supervisor loop (as a
process manager would) each time it dies. The ``kill_process`` job ends its worker with
``os._exit`` on every attempt; its lease expires, the next worker rescues it, it kills that one
too... until it has been rescued ``SERVICE_MAX_RESCUES`` times and is discarded, saying why.
Meanwhile, and after, ordinary jobs keep being accepted and completed, none of them discarded.

A task that blocks the event loop is the other kind of poison: see
``tests/acceptance/test_process.py::test_a_task_that_blocks_the_event_loop_is_reported``.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
import trio
from support.faults import drained, effect_lines, query
from support.processes import ServiceProcess, service_env, service_process
from support.waiting import wait_until

pytestmark = pytest.mark.slow

MAX_RESCUES = 3
#: Short leases, so the poison job is rescued about 2 s after each death (not so short that a
#: busy machine lets a live worker's lease lapse).
SETTINGS = {"lease_ttl": "2", "rescue_interval": "0.2", "max_rescues": str(MAX_RESCUES)}


@attrs.define
class Supervisor:
    """Runs ``python -m service worker`` and starts it again whenever it dies."""

    env: dict[str, str]
    exit_codes: list[int] = attrs.field(factory=list)
    current: ServiceProcess | None = None
    stopping: bool = False

    async def run(self) -> None:
        while not self.stopping:
            async with service_process(self.env, "worker", wait_ready=False) as worker:
                self.current = worker
                code = await worker.process.wait()
                if not self.stopping:
                    self.exit_codes.append(code)

    async def stop(self) -> int:
        """SIGTERM the worker of the moment; its exit code."""
        self.stopping = True
        assert self.current is not None
        self.current.signal()
        return await self.current.process.wait()


@attrs.define
class Pusher:
    """Pushes an ``append`` job every 50 ms through the web process until stopped."""

    admin: httpx.AsyncClient
    effects: Path
    accepted: list[int] = attrs.field(factory=list)
    stopping: bool = False

    async def run(self) -> None:
        for n in itertools.count():
            if self.stopping:
                return
            response = await self.admin.post("/api/jobs", json={
                "task": "append", "args": {"path": str(self.effects), "n": n}})
            assert response.status_code == 201, response.text
            self.accepted.append(int(response.json()["id"]))
            await trio.sleep(0.05)


async def test_a_job_that_kills_its_process_is_discarded_after_max_rescues_while_others_flow(
    tmp_path: Path,
) -> None:
    env = service_env(tmp_path, **SETTINGS)
    effects, poison_runs = tmp_path / "effects.txt", tmp_path / "poison.txt"
    supervisor = Supervisor(env)
    async with (
        service_process(env, "web") as web,
        web.admin() as admin,
        trio.open_nursery() as nursery,
    ):
        nursery.start_soon(supervisor.run)
        pusher = Pusher(admin, effects)
        async with trio.open_nursery() as pushing:
            pushing.start_soon(pusher.run)
            response = await admin.post("/api/jobs", json={
                "task": "kill_process", "args": {"path": str(poison_runs)}})
            assert response.status_code == 201, response.text
            poison = int(response.json()["id"])
            async def poison_job() -> dict[str, Any]:
                return dict((await admin.get(f"/api/jobs/{poison}")).json())

            job = await wait_until(f"the poison job {poison} to be discarded", poison_job,
                                   lambda job: job["state"] == "discarded", within=60, poll=0.1)
            during = len(pusher.accepted)
            # Once it is gone the worker stays up and the queue keeps flowing.
            await wait_until(f"20 more accepted pushes after {during}",
                             lambda: len(pusher.accepted), lambda n: n >= during + 20,
                             within=30)
            pusher.stopping = True
        await drained(admin, {"append"}, within=20)
        assert await supervisor.stop() == 0
        web.signal()
        assert await web.process.wait() == 0
        assert supervisor.current is not None
        assert "unparsed" not in web.names() + supervisor.current.names()
    accepted = pusher.accepted

    print(f"\npoison: worker died {len(supervisor.exit_codes)} times, {during} jobs accepted"
          f" meanwhile, {len(accepted)} in all; last error: {job['errors'][-1]['message']}")
    assert supervisor.exit_codes == [70] * MAX_RESCUES, "killed once per attempt, then no more"
    assert len(poison_runs.read_text().splitlines()) == MAX_RESCUES
    assert job["rescues"] == MAX_RESCUES
    assert [e["kind"] for e in job["errors"]] == ["lease_expired"] * MAX_RESCUES
    last = job["errors"][-1]["message"]
    assert f"lease expired {MAX_RESCUES} times" in last, last
    assert "killing its process" in last, last
    ran = effect_lines(effects)
    assert [job_id for job_id in accepted if ran[job_id] == 0] == []
    others = await query(env, "SELECT id, state, errors FROM jobs WHERE task = ?", ("append",))
    assert len(others) == len(accepted)
    assert [(id_, state, errors) for id_, state, errors in others if state != "completed"] == []
