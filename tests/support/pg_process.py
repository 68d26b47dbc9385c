"""Other processes for the PostgreSQL tests, sharing one schema with the test.

    python -m postgres.process work SCHEMA OUT [--lease-ttl S] [--renew S] [--rescue S]
                                                [--poll-min S] [--poll-max S]
        run a TaskWorker for Mark until SIGTERM; prints "ready" once claiming
    python -m postgres.process push SCHEMA N [--first F] [--seconds S] [--batch B]
        push Mark jobs F..F+N-1 (B per push_many call; 1 means push one per call)
    python -m postgres.process unique SCHEMA N
        print "ready", wait for a line on stdin, then push Mark(n) with unique key "k<n>" for
        n in 0..N-1, one per call; print the ids as JSON
"""

from __future__ import annotations

import argparse
import json
import signal
import sys

import trio

from service.jobs import PostgresStore, TaskWorker, WorkerConfig
from support.pg_tasks import Mark
from support.postgres import URL


async def work(args: argparse.Namespace) -> None:
    config = WorkerConfig(
        lease_ttl=args.lease_ttl, lease_renew_interval=args.renew,
        rescue_interval=args.rescue, poll_min=args.poll_min, poll_max=args.poll_max,
        shutdown_grace=2.0,
    )
    async with PostgresStore(URL, schema=args.schema) as store:
        worker = TaskWorker(store, [Mark], state=args.out, config=config)
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async with trio.open_nursery() as nursery:
                await nursery.start(worker.run)
                print("ready", flush=True)
                async for _ in signals:
                    break
                await worker.shutdown()


async def push(args: argparse.Namespace) -> None:
    async with PostgresStore(URL, schema=args.schema, listen=False) as store:
        end = args.first + args.n
        if args.batch == 1:
            for n in range(args.first, end):
                await store.push(Mark(n=n, seconds=args.seconds))
            return
        for first in range(args.first, end, args.batch):
            last = min(end, first + args.batch)
            await store.push_many(Mark(n=n, seconds=args.seconds) for n in range(first, last))


async def unique(args: argparse.Namespace) -> None:
    async with PostgresStore(URL, schema=args.schema, listen=False) as store:
        print("ready", flush=True)
        await trio.to_thread.run_sync(sys.stdin.readline)
        ids = [await store.push(Mark(n=n), unique_key=f"k{n}") for n in range(args.n)]
        print(json.dumps(ids), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["work", "push", "unique"])
    parser.add_argument("schema")
    parser.add_argument("arg")
    parser.add_argument("--lease-ttl", type=float, default=15.0)
    parser.add_argument("--renew", type=float, default=5.0)
    parser.add_argument("--rescue", type=float, default=5.0)
    parser.add_argument("--poll-min", type=float, default=0.05)
    parser.add_argument("--poll-max", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, default=0.0)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--first", type=int, default=0)
    args = parser.parse_args()
    if args.command == "work":
        args.out = args.arg
        trio.run(work, args)
    else:
        args.n = int(args.arg)
        trio.run(push if args.command == "push" else unique, args)


if __name__ == "__main__":
    main()
