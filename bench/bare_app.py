"""The framework's ceiling for scenario 7: a bare quart-trio app on our hypercorn.

    python -m bench.bare_app 127.0.0.1:8001

``POST /api/jobs`` parses the JSON body and answers 201 with a small JSON object and a
``Location`` header; no database, no logging, no middleware. ``GET /healthz`` answers 200 (the
bench waits for it). It is served exactly as ``python -m service web`` serves the product: the
same :func:`service.http.plumbing.server.hypercorn_config` (one worker, keep-alive and
timeouts), the same :func:`~service.http.plumbing.server.serve` (which carries the shielded
close fix), one trio run. The ratio ours/bare is the share of the framework's rate we keep.
"""

from __future__ import annotations

import itertools
import json
import signal
import sys

import trio
from quart import Response, request
from quart_trio import QuartTrio

from service.http.plumbing.server import hypercorn_config, serve


def create_bare_app() -> QuartTrio:
    app = QuartTrio("bare", static_folder=None)
    ids = itertools.count(1)

    @app.post("/api/jobs")
    async def push() -> Response:
        body = json.loads(await request.get_data())
        job_id = next(ids)
        answer = {"id": job_id, "task": body["task"], "state": "available"}
        return Response(json.dumps(answer), status=201, mimetype="application/json",
                        headers={"Location": f"/api/jobs/{job_id}"})

    @app.get("/healthz")
    async def healthz() -> Response:
        return Response('{"status": "ok"}', mimetype="application/json")

    return app


async def main(bind: str) -> None:
    stop = trio.Event()
    config = hypercorn_config(bind, 2.0)
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            await nursery.start(serve, create_bare_app(), config, stop)
            async for _ in signals:
                stop.set()
                break


if __name__ == "__main__":
    trio.run(main, sys.argv[1])
