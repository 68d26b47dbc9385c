"""A pushing process for the cross-process uniqueness tests.

    python -m support.unique_pusher sqlite DB_PATH TAG N [--on-conflict C] [--unique-for S]
    python -m support.unique_pusher pg SCHEMA TAG N [--on-conflict C] [--unique-for S]

Prints "ready", waits for a line on stdin, then pushes ``Mark(n=k, seconds=TAG)`` with unique
key ``k<k>`` (and ``delay=30``) for k in 0..N-1 (N-1..0 with ``--reverse``, so that two
processes cross in the middle), one push per call, and prints ``[[id, unique], ...]`` in key
order as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys

import trio

from service.jobs import JobStore, PostgresStore, SQLiteStore
from support.pg_tasks import Mark
from support.postgres import URL


async def main(args: argparse.Namespace) -> None:
    store: JobStore = (SQLiteStore(args.where) if args.backend == "sqlite"
                       else PostgresStore(URL, schema=args.where, listen=False))
    async with store:
        print("ready", flush=True)
        await trio.to_thread.run_sync(sys.stdin.readline)
        pushed: dict[int, list[object]] = {}
        for k in reversed(range(args.n)) if args.reverse else range(args.n):
            result = await store.push_result(
                Mark(n=k, seconds=args.tag), delay=30, unique_key=f"k{k}",
                on_conflict=args.on_conflict, unique_for=args.unique_for,
            )
            pushed[k] = [result.row.id, result.unique.value]
        print(json.dumps([pushed[k] for k in range(args.n)]), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("backend", choices=["sqlite", "pg"])
    parser.add_argument("where")
    parser.add_argument("tag", type=float)
    parser.add_argument("n", type=int)
    parser.add_argument("--on-conflict", default="keep")
    parser.add_argument("--unique-for", type=float)
    parser.add_argument("--reverse", action="store_true")
    trio.run(main, parser.parse_args())
