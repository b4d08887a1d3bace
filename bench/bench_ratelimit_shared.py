"""The shared per-host rate limit: what one acquire costs per store, and the rate several processes send.

    python bench/bench_ratelimit_shared.py [--acquires 2000] [--processes 3] [--each 40]
                                           [--rate 10] [--burst 2] [--runs 3] [--server-limit 4]

1. Acquire cost: `--acquires` calls of `HostLimiter.acquire()` from one
   thread, with a limit so high that nobody waits, so only the store's
   read-modify-write is timed: this process's memory, PostgreSQL (table
   rate_limits) and Redis (127.0.0.1:6379, or BENCH_REDIS_URL). Median of
   `--runs` runs, in microseconds per acquire.
2. Several processes: `--processes` OS processes each send `--each`
   requests to one host of a simulator, under `--rate`/s and `--burst`. The
   simulator counts what arrives per second. With one store per process
   (the old limiter) the host sees about processes x rate; with the state in
   PostgreSQL or Redis, rate (+ burst in the first second).
3. A stricter server: the same processes, but the simulator allows only
   `--server-limit`/s (429 with Retry-After: 1 beyond it). Counted: the
   429s served, requests given up, and the wall time. Sharing the pause
   and lowering the rate after repeated 429s (AIMD) is what keeps the 429s
   down.

PostgreSQL is DATABASE_URL when set, else an embedded server in a temporary
directory (deleted afterwards).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

HOST = "api.nasdaq.com"
CALENDAR = "https://api.nasdaq.com/api/calendar/dividends"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


def _database() -> tuple[str, object]:
    from divpipe.db import embedded
    from divpipe.db.migrate import migrate

    url = os.environ.get("DATABASE_URL")
    server = None
    if not url:
        pgserver, _ = embedded.import_pgserver()
        server = pgserver.get_server(Path(tempfile.mkdtemp(prefix="divpipe-bench-pg-")), cleanup_mode="delete")
        url = server.get_uri()
    import psycopg2

    name = f"divpipe_bench_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(url)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    db = embedded.with_database(url, name)
    migrate(db)
    return db, (url, name, server)


def _drop(handle) -> None:
    import psycopg2

    url, name, _server = handle
    admin = psycopg2.connect(url)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


def acquire_cost(store, n: int) -> float:
    from divpipe.net.ratelimit import HostLimiter, Policy

    limiter = HostLimiter(f"bench-{uuid.uuid4().hex[:6]}", Policy(1e9, 1_000_000), store)
    limiter.acquire()  # connect outside the timing
    start = time.perf_counter()
    for _ in range(n):
        limiter.acquire()
    return (time.perf_counter() - start) / n * 1e6


def worker(args) -> int:
    from divpipe import net

    if os.environ.get("DATABASE_URL"):
        from divpipe.db.connect import connect

        connect().close()
    http = net.client("nasdaq")
    Path(args.ready).touch()
    while not Path(args.go).exists():
        time.sleep(0.01)
    from divpipe.errors import FetchError

    failed = 0
    for _ in range(args.each):
        try:
            http.get(CALENDAR, params={"date": "2024-01-02"})
        except FetchError:
            failed += 1
    print(json.dumps({"failed": failed}))
    return 0


def processes(store: str, db_url: str, args, server_limit: float | None = None) -> dict:
    from divpipe.sim.server import SimServer
    from divpipe.sim.universe import Universe

    with SimServer(Universe(20, 1), rate_limit=server_limit) as sim:
        env = dict(os.environ, DIVPIPE_SIMULATOR_URL=sim.url, NASDAQ_RATE_LIMIT=str(args.rate),
                   RATE_LIMIT_BURST=str(args.burst), DIVPIPE_ENV_FILE=os.devnull,
                   DIVPIPE_DATA_DIR=tempfile.mkdtemp(prefix="divpipe-bench-data-"))
        env.pop("DATABASE_URL", None)
        env.pop("RATE_LIMIT_REDIS_URL", None)
        if store == "postgres":
            env["DATABASE_URL"] = db_url
        elif store == "redis":
            env["RATE_LIMIT_REDIS_URL"] = REDIS_URL
            env["RATE_LIMIT_REDIS_PREFIX"] = f"divpipe-bench:{uuid.uuid4().hex}:"
        tmp = Path(tempfile.mkdtemp(prefix="divpipe-bench-"))
        procs = []
        for i in range(args.processes):
            procs.append(subprocess.Popen(
                [sys.executable, __file__, "--worker", "--each", str(args.each),
                 "--ready", str(tmp / f"ready{i}"), "--go", str(tmp / "go")], env=env,
                stdout=subprocess.PIPE, text=True))
        while not all((tmp / f"ready{i}").exists() for i in range(args.processes)):
            time.sleep(0.05)
        started = time.monotonic()
        (tmp / "go").touch()
        failed = sum(json.loads(p.communicate()[0].strip().splitlines()[-1])["failed"] for p in procs)
        wall = time.monotonic() - started
        per_second = sim.per_second(HOST)
        refused = sim.stats()["faults"].get("429", 0)
    counts = list(per_second.values())
    inner = counts[1:-1] or counts  # whole seconds only: the first and last are partial
    result = {"total": sum(counts), "max/s": max(counts), "mean/s (whole seconds)": round(statistics.mean(inner), 1),
              "seconds": len(counts)}
    if server_limit:
        result = {"received": sum(counts), "429s": refused, "given up": failed, "wall s": round(wall, 1)}
    return result


def redis_available() -> bool:
    """Whether REDIS_URL answers a PING (the redis package and a server)."""
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2).ping()
        return True
    except Exception:
        return False


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    p.add_argument("--acquires", type=int, default=2000)
    p.add_argument("--processes", type=int, default=3)
    p.add_argument("--each", type=int, default=40)
    p.add_argument("--rate", type=float, default=10.0)
    p.add_argument("--burst", type=int, default=2)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--server-limit", type=float, default=4.0)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--ready", help=argparse.SUPPRESS)
    p.add_argument("--go", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> dict:
    """Prints the three parts; returns {"acquire": {store: [µs per run]}, "shared": {store: {...}},
    "strict": {store: {...}}, "skipped": {store: why}}. Redis is skipped when it does not answer."""
    os.environ["DIVPIPE_ENV_FILE"] = os.devnull
    from divpipe.net import ratestore

    names = ["process", "postgres", "redis"]
    out: dict = {"acquire": {}, "shared": {}, "strict": {}, "skipped": {}}
    if not redis_available():
        names.remove("redis")
        out["skipped"]["redis"] = f"no Redis answering at {REDIS_URL} (BENCH_REDIS_URL)"
        print(f"redis: skipped, {out['skipped']['redis']}")
    db_url, handle = _database()
    try:
        stores = {"process": lambda: ratestore.ProcessStore(), "postgres": lambda: ratestore.PostgresStore(db_url),
                  "redis": lambda: ratestore.RedisStore(REDIS_URL, f"divpipe-bench:{uuid.uuid4().hex}:")}
        print(f"acquire cost, {args.acquires} acquires from one thread, median of {args.runs} runs:")
        for name in names:
            store = stores[name]()
            runs = [acquire_cost(store, args.acquires) for _ in range(args.runs)]
            out["acquire"][name] = runs
            print(f"  {name:9} {statistics.median(runs):8.1f} µs/acquire   (runs: "
                  + ", ".join(f"{r:.1f}" for r in runs) + ")")
            store.close()
        print(f"{args.processes} processes x {args.each} requests, limit {args.rate:g}/s burst {args.burst},"
              " as the simulator counted them:")
        for name in names:
            out["shared"][name] = processes(name, db_url, args)
            print(f"  {name:9} {json.dumps(out['shared'][name])}")
        print(f"the same against a server allowing only {args.server_limit:g}/s:")
        for name in names:
            out["strict"][name] = processes(name, db_url, args, args.server_limit)
            print(f"  {name:9} {json.dumps(out['strict'][name])}")
    finally:
        _drop(handle)
    return out


def main() -> int:
    args = parse_args()
    if args.worker:
        return worker(args)
    run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
