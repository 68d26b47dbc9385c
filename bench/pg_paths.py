"""PostgreSQL hot paths, one at a time: ``push_many`` and a burn-down, timed and counted.

    .venv/bin/python -m bench.pg_paths [--jobs 20000] [--repeat 3] [--what push_many,burn]
    .venv/bin/python -m bench.pg_paths --engine /tmp/old-tree   # another checkout's service/
    .venv/bin/python -m bench.pg_paths --count                  # statements, round trips per job

Each measurement is a fresh child process on a fresh schema (dropped after). ``push_many``: N
no-op jobs pushed 1,000 per call (``--batch``). ``burn``: N jobs pushed first (untimed,
``ANALYZE``d), then one ``TaskWorker`` with ``--concurrency`` slots drains them; timed from its
start until the last outcome is recorded (``bench.burn`` stops its clock when the last job has
run, before the worker's shutdown writes the outcomes still pending). ``burn-untriggered`` is
the same with the schema's ``jobs`` triggers disabled (the ``job_wait`` NOTIFY of final
outcomes), to price them.

``server-cpu`` (and its ``-untriggered`` / ``-rowtrigger`` variants): the server's CPU per job
to claim and complete the pushed jobs 100 at a time with the engine's statements on one
connection, no worker; read from the backend's ``/proc/<pid>/schedstat`` (same machine only).

``--engine DIR`` runs the ``service`` package found in ``DIR`` (e.g. ``git archive`` of an older
commit) with this harness, so before and after are measured side by side, interleaved, in one run.

``--crossover`` times small batches inserted row by row and with ``COPY`` (where
``COPY_FROM`` comes from).

``--count`` traces the libpq protocol of every connection (``PQtrace``) and reports, per job,
the statements sent (simple ``Query`` and extended ``Execute`` messages) and the round trips
(each ``ReadyForQuery`` and ``CopyInResponse`` the server sent back): deterministic evidence, not
timings (tracing slows everything).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from . import pg

ROOT = Path(__file__).resolve().parent.parent
WHAT = ("push_many", "burn", "burn-untriggered", "burn-rowtrigger", "server-cpu",
        "server-cpu-untriggered", "server-cpu-rowtrigger")
#: ``burn-rowtrigger``: the ``job_wait`` NOTIFY as a row trigger that fires only on a move to a
#: final state, in place of the schema's trigger (a what-if).
ROW_TRIGGER = (
    "CREATE FUNCTION jobs_notify_final_row() RETURNS trigger LANGUAGE plpgsql AS $$"
    " DECLARE channel TEXT := current_setting('service_jobs.channel', true);"
    " BEGIN IF coalesce(channel, '') <> '' THEN PERFORM pg_notify(channel, 'final'); END IF;"
    " RETURN NULL; END $$;"
    " DROP TRIGGER jobs_notify_final ON jobs;"
    " CREATE TRIGGER jobs_notify_final AFTER UPDATE OF state ON jobs FOR EACH ROW"
    " WHEN (NEW.state IN ('completed', 'discarded', 'cancelled')"
    " AND OLD.state IS DISTINCT FROM NEW.state) EXECUTE FUNCTION jobs_notify_final_row()"
)


def _trace_connections(directory: str) -> None:
    """Make every new psycopg connection of this process trace its protocol into ``directory``."""
    import psycopg

    original = psycopg.Connection.connect.__func__  # type: ignore[attr-defined]

    def connect(cls: Any, *args: Any, **kwargs: Any) -> Any:
        conn = original(cls, *args, **kwargs)
        fd = os.open(os.path.join(directory, f"{id(conn)}-{time.monotonic_ns()}.trace"),
                     os.O_WRONLY | os.O_CREAT)
        conn.pgconn.trace(fd)  # a FILE* libc flushes at exit
        return conn

    psycopg.Connection.connect = classmethod(connect)  # type: ignore[method-assign,assignment]


def count_trace(directory: str) -> Counter[str]:
    """Frontend and backend message counts over every trace file in ``directory``."""
    counts: Counter[str] = Counter()
    for name in os.listdir(directory):
        with open(os.path.join(directory, name), errors="replace") as trace:
            for line in trace:
                parts = line.split("\t")
                # With timestamps: time, direction, length, message; without: direction first.
                if len(parts) >= 4 and parts[1] in ("F", "B"):
                    counts[f"{parts[1]} {parts[3].split()[0]}"] += 1
                elif len(parts) >= 3 and parts[0] in ("F", "B"):
                    counts[f"{parts[0]} {parts[2].split()[0]}"] += 1
    return counts


def child(args: dict[str, Any]) -> dict[str, Any]:
    """One measurement (in a fresh process): jobs/s of ``args["what"]``."""
    if args.get("engine"):
        sys.path.insert(0, args["engine"])  # before the working directory's own service/
    if args.get("trace_dir"):
        _trace_connections(args["trace_dir"])
    import trio

    from .ours import TrioTally, opened, task_class, work_until_done

    spec = {"backend": "postgresql", "url": args["url"], "schema": args["schema"]}
    jobs, what = args["jobs"], args["what"]

    async def push_many() -> float:
        async with opened(spec) as store:
            seconds = 0.0
            for first in range(0, jobs, args["batch"]):
                size = min(args["batch"], jobs - first)
                from .ours import NoOp

                start = time.perf_counter()
                await store.push_many(NoOp(n=n) for n in range(first, first + size))
                seconds += time.perf_counter() - start
            counts = await store.job_count_by_state()
        assert sum(counts.values()) == jobs, counts
        return seconds

    async def burn() -> float:
        cls = task_class("noop", args["concurrency"])
        async with opened(spec) as store:
            # Until every outcome is recorded (the worker's shutdown waits for them), not only
            # until the last job ran: slow outcome writes must show.
            start = time.perf_counter()
            await work_until_done(store, cls, TrioTally(jobs), 600.0)
            seconds = time.perf_counter() - start
            counts = await store.job_count_by_state()
        by_state = {state.value: n for (_, state), n in counts.items()}
        assert by_state == {"completed": jobs}, by_state
        return seconds

    if what == "server":
        return {"rate": _server_cpu(args), "engine": _engine_file()}
    seconds = trio.run(push_many if what == "push_many" else burn)
    return {"rate": jobs / seconds, "engine": _engine_file()}


def _engine_file() -> str:
    import service

    return str(service.__file__)


def _server_cpu(args: dict[str, Any]) -> float:
    """The server's CPU (µs, from the backend's ``/proc/<pid>/schedstat``) per job to claim
    and complete the jobs 100 at a time with the engine's own statements, on one connection,
    without a worker: deterministic where wall-clock rates on a shared machine are not."""
    import psycopg

    from service.jobs._postgres import graph, queries

    info = f"{args['url']}?options=-csearch_path%3D{args['schema']}%20-cservice_jobs.channel%3Dx"
    with psycopg.connect(info, autocommit=True) as conn:
        stat = Path(f"/proc/{conn.info.backend_pid}/schedstat")
        start, done = int(stat.read_text().split()[0]), 0
        while claimed := queries.claim(conn, "bench.noop", "w", 100, now := time.time(),
                                       now + 60):
            done += len(claimed)
            graph.set_state_and_settle(conn, [
                {"state": "completed", "run_at": None, "finished_at": now, "refund": 0,
                 "error": None, "result": None, "id": c.id, "owner": "w",
                 "attempt": c.attempt} for c in claimed], "x", "o")
        used = int(stat.read_text().split()[0]) - start
    assert done == args["jobs"], done
    return used / done / 1000


def _prefill(url: str, schema: str, jobs: int, engine: str | None, variant: str) -> None:
    code = (
        f"import sys; sys.path.insert(0, {engine or str(ROOT)!r});"
        " import trio; from bench.ours import prefill;"
        f" trio.run(prefill, {{'backend': 'postgresql', 'url': {url!r}, 'schema': {schema!r}}},"
        f" {jobs})"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
    pg.analyze(url, "jobs", schema)
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        if variant.endswith("-untriggered"):
            conn.execute(f'ALTER TABLE "{schema}".jobs DISABLE TRIGGER USER')
        elif variant.endswith("-rowtrigger"):
            conn.execute(f'SET search_path = "{schema}"')
            conn.execute(ROW_TRIGGER)


def measure(what: str, engine: str | None, opts: argparse.Namespace,
            trace_dir: str | None = None) -> float:
    """One measurement of ``what`` with the engine in ``engine`` (None: this tree)."""
    with pg.throwaway_schema(opts.url, "pgpaths") as schema:
        if what.startswith(("burn", "server")):
            _prefill(opts.url, schema, opts.jobs, engine, what)
        args = {"url": opts.url, "schema": schema, "jobs": opts.jobs, "batch": opts.batch,
                "concurrency": opts.concurrency, "what": what.split("-")[0],
                "trace_dir": trace_dir, "engine": engine}
        out = subprocess.run(
            [sys.executable, "-m", "bench.pg_paths", "--child", json.dumps(args)],
            check=True, cwd=ROOT, capture_output=True, text=True,
        )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    expected = Path(engine or ROOT).resolve() / "service" / "__init__.py"
    assert Path(result["engine"]).resolve() == expected, (result["engine"], expected)
    return float(result["rate"])


def crossover(url: str) -> None:
    """Database side only, one connection: µs a row to insert batches of each size row by row
    (the pipelined ``executemany``) and with ``COPY``, each batch its own transaction."""
    import psycopg
    import trio

    from service.jobs import PostgresStore
    from service.jobs._postgres import copy, inserts
    from service.jobs._push import plain_insert

    from .ours import NoOp

    def row_by_row(conn: Any, jobs: list[Any]) -> None:
        conn.cursor().executemany(inserts._INSERT, [inserts._values(j) for j in jobs],
                                  returning=True)

    with pg.throwaway_schema(url, "pgcross") as schema:
        async def create() -> None:
            async with PostgresStore(url, schema=schema):
                pass

        trio.run(create)
        with psycopg.connect(f"{url}?options=-csearch_path%3D{schema}", autocommit=True) as conn:
            for size in (8, 16, 32, 64, 128, 256):
                rows = [plain_insert(NoOp(n=n), time.time()) for n in range(size)]
                shown = []
                for label, insert, pipelined in (("row by row", row_by_row, True),
                                                 ("COPY", copy.copy_rows, False)):
                    times = []
                    for _ in range(5):
                        start = time.perf_counter()
                        for _ in range(max(1, 2000 // size)):
                            with conn.pipeline() if pipelined else contextlib.nullcontext(), \
                                    conn.transaction():
                                insert(conn, rows)
                        times.append((time.perf_counter() - start) / (max(1, 2000 // size) * size))
                    shown.append(f"{label} {statistics.median(times) * 1e6:7.1f} us/row")
                print(f"batch {size:4d}: {', '.join(shown)}", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.pg_paths", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--url", default=pg.DEFAULT_URL)
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=1000, help="jobs per push_many call")
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--what", default="push_many,burn,burn-untriggered")
    parser.add_argument("--engine", action="append", default=[],
                        help="a directory holding another service/ package (repeatable);"
                        " this tree is always measured too")
    parser.add_argument("--crossover", action="store_true",
                        help="time row-by-row inserts against COPY for small batches")
    parser.add_argument("--count", action="store_true",
                        help="count statements and round trips per job instead of timing")
    opts = parser.parse_args(argv)
    if opts.child:
        print(json.dumps(child(json.loads(opts.child))))
        return
    if opts.crossover:
        crossover(opts.url)
        return
    engines: list[str | None] = [*opts.engine, None]
    whats = [w for w in opts.what.split(",") if w]
    for what in whats:
        if what not in WHAT:
            parser.error(f"--what: {what!r} is not one of {', '.join(WHAT)}")
    if opts.count:
        for what in whats:
            for engine in engines:
                with tempfile.TemporaryDirectory() as traces:
                    measure(what, engine, opts, traces)
                    counts = count_trace(traces)
                per_job = {
                    "statements": (counts["F Query"] + counts["F Execute"]) / opts.jobs,
                    "round trips": (counts["B ReadyForQuery"] + counts["B CopyInResponse"])
                    / opts.jobs,
                }
                shown = ", ".join(f"{k} {v:.3f}" for k, v in per_job.items())
                print(f"{what:<18} {engine or 'this tree':<24} per job: {shown}", flush=True)
        return
    rates: dict[tuple[str, str | None], list[float]] = {}
    for run in range(opts.repeat):
        for what in whats:
            for engine in engines if run % 2 == 0 else reversed(engines):
                rate = measure(what, engine, opts)
                rates.setdefault((what, engine), []).append(rate)
                print(f"run {run + 1}: {what:<22} {engine or 'this tree':<24} {rate:>10,.1f}"
                      f" {_unit(what)}", flush=True)
    print(f"\njobs={opts.jobs} batch={opts.batch} concurrency={opts.concurrency}"
          f" repeat={opts.repeat}  medians [min-max]")
    for (what, engine), values in rates.items():
        ratio = ""
        if engine is not None and (what, None) in rates:
            ours = statistics.median(rates[what, None])
            ratio = f"  this tree / it: {ours / statistics.median(values):.2f}x"
        print(f"{what:<22} {engine or 'this tree':<24} {statistics.median(values):>10,.1f}"
              f" {_unit(what)} [{min(values):,.1f}-{max(values):,.1f}]{ratio}")


def _unit(what: str) -> str:
    return "server CPU us/job" if what.startswith("server") else "jobs/s"


if __name__ == "__main__":
    main()
