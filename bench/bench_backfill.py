"""Backfill (`update_stock_v2.py --mode backfill`) against the simulator: sequential, threads, a LocalCluster.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test .venv/bin/python bench/bench_backfill.py \
        [--symbols 500] [--days 252] [--latency-ms 100] [--workers 4,8,16] [--cluster-threads 8] \
        [--binding-rate 5] [--binding-symbols 200] [--only-binding]

Each case is a fresh `update_stock_v2.py` process (as a user runs it) on a
scratch database on DATABASE_URL's server (cluster workers must reach it),
dropped afterwards. The simulator runs in this process with `--latency-ms`
per request. Cases:

1. a rate limit that does not bind (YAHOO_RATE_LIMIT 1000/s, none at the
   simulator): `--workers 1` (sequential), threads at each `--workers`,
   and `--scheduler processes` (a LocalCluster of 2 worker processes with
   `--cluster-threads` threads each);
2. a binding limit (`--binding-rate` requests/s at the client and the
   simulator, over the first `--binding-symbols` symbols): threads at the
   largest worker count and the LocalCluster, with the busiest second the
   simulator counted on Yahoo's hosts. The rate must sit below what the
   machine reaches without a limit, or it does not bind.

"wall" includes interpreter and cluster start-up; "fetch" is the job's
own figure from its summary line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from divpipe.market_time import exchange_today  # noqa: E402
from divpipe.net.hosts import source_for_host  # noqa: E402
from divpipe.sim.server import SimServer  # noqa: E402
from divpipe.sim.universe import Universe  # noqa: E402


def scratch_database(admin_url: str) -> str:
    name = f"divpipe_bench_bf_{uuid.uuid4().hex[:8]}"
    conn = psycopg2.connect(admin_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    return name


def drop_database(admin_url: str, name: str) -> None:
    conn = psycopg2.connect(admin_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


def run_case(label: str, admin_url: str, sim: SimServer, symbols: list[str], days: int, rate: float,
             extra: list[str]) -> dict:
    name = scratch_database(admin_url)
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    with tempfile.TemporaryDirectory(prefix="divpipe-bench-bf-") as tmp:
        env = {**os.environ, "DATABASE_URL": url, "DIVPIPE_SIMULATOR_URL": sim.url, "DIVPIPE_DATA_DIR": tmp,
               "LOG_DIR": tmp, "DIVPIPE_ENV_FILE": os.devnull, "YAHOO_RATE_LIMIT": str(rate),
               "HTTP_BACKOFF": "0.2"}
        sim.reset_stats()
        started = time.monotonic()
        proc = subprocess.run([sys.executable, str(ROOT / "update_stock_v2.py"), "--mode", "backfill",
                               "--tickers", ",".join(symbols), "--days", str(days), *extra],
                              env=env, capture_output=True, text=True, timeout=3600)
        wall = time.monotonic() - started
    try:
        conn = psycopg2.connect(url)
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM raw_stock_prices")
            rows = cur.fetchone()[0]
        conn.close()
    finally:
        drop_database(admin_url, name)
    if proc.returncode != 0:
        print(proc.stderr[-3000:], file=sys.stderr)
    summary = re.search(r"backfill: (\d+) ok, (\d+) failed, (\d+) waited.* in ([\d.]+) s", proc.stderr)
    per_second: dict[int, int] = {}
    for host, seconds in sim.stats()["per_second"].items():
        if source_for_host(host) == "yahoo":
            for second, n in seconds.items():
                per_second[int(second)] = per_second.get(int(second), 0) + n
    charts = sum(n for paths in sim.stats()["requests"].values() for p, n in paths.items()
                 if p.startswith("/v8/finance/chart/"))
    result = {"case": label, "code": proc.returncode, "wall": wall,
              "job": float(summary.group(4)) if summary else float("nan"),
              "ok": int(summary.group(1)) if summary else 0, "rows": rows, "charts": charts,
              "busiest": max(per_second.values(), default=0), "429": sim.stats()["faults"].get("429", 0)}
    print(f"{label:<34} exit {result['code']}  wall {wall:6.1f} s  job {result['job']:6.1f} s  "
          f"ok {result['ok']}  rows {rows}  chart requests {charts}  busiest second {result['busiest']}  "
          f"429s {result['429']}", flush=True)
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--days", type=int, default=252)
    parser.add_argument("--latency-ms", type=float, default=100)
    parser.add_argument("--workers", default="4,8,16")
    parser.add_argument("--cluster-threads", type=int, default=8, help="0: no LocalCluster case")
    parser.add_argument("--binding-rate", type=float, default=5)
    parser.add_argument("--binding-symbols", type=int, default=200)
    parser.add_argument("--only-binding", action="store_true", help="skip the non-binding cases")
    return parser.parse_args(argv)


def run(args: argparse.Namespace, admin_url: str) -> dict:
    """Prints every case; returns {"symbols": n, "unlimited": [case, ...], "binding": [case, ...]}."""
    universe = Universe(args.symbols, 7, exchange_today() - dt.timedelta(days=1))
    symbols = [c.symbol for c in universe.listed()]
    workers = [int(w) for w in args.workers.split(",")]
    cluster = ["--scheduler", "processes", "--workers", str(2 * args.cluster_threads)] if args.cluster_threads else []
    print(f"{len(symbols)} symbols x {args.days} sessions, simulator latency {args.latency_ms:g} ms", flush=True)

    out = {"symbols": len(symbols), "unlimited": [], "binding": []}
    if not args.only_binding:
        out["unlimited"] = unlimited(args, admin_url, universe, symbols, workers, cluster)
    out["binding"] = binding(args, admin_url, universe, symbols[:args.binding_symbols], workers, cluster)
    return out


def main() -> int:
    args = parse_args()
    admin_url = os.environ.get("DATABASE_URL")
    if not admin_url:
        print("❌ bench_backfill: set DATABASE_URL to a PostgreSQL server (cluster workers must reach it)",
              file=sys.stderr)
        return 2
    run(args, admin_url)
    return 0


def unlimited(args, admin_url, universe, symbols, workers, cluster) -> list[dict]:
    """Sequential, threads at each worker count, then the cluster (none when cluster is empty)."""
    sim = SimServer(universe, latency_ms=args.latency_ms).start()
    try:
        results = [run_case("sequential (threads, 1 worker)", admin_url, sim, symbols, args.days, 1000,
                            ["--workers", "1"])]
        for n in workers:
            results.append(run_case(f"threads, {n} workers", admin_url, sim, symbols, args.days, 1000,
                                    ["--workers", str(n)]))
        if cluster:
            results.append(run_case(f"LocalCluster 2 x {args.cluster_threads} threads", admin_url, sim,
                                    symbols, args.days, 1000, cluster))
    finally:
        sim.stop()
    base = results[0]["job"]
    print("\nspeedup over sequential (job time):", flush=True)
    for r in results:
        print(f"  {r['case']:<34} {base / r['job']:5.1f}x", flush=True)
    return results


def binding(args, admin_url, universe, symbols, workers, cluster) -> list[dict]:
    rate = args.binding_rate
    print(f"\nbinding limit: {rate:g} requests/s at the client and the simulator, {len(symbols)} symbols",
          flush=True)
    sim = SimServer(universe, latency_ms=args.latency_ms, rate_limit=rate).start()
    try:
        results = [run_case(f"threads, {workers[-1]} workers", admin_url, sim, symbols, args.days, rate,
                            ["--workers", str(workers[-1])])]
        if cluster:
            results.append(run_case(f"LocalCluster 2 x {args.cluster_threads} threads", admin_url, sim, symbols,
                                    args.days, rate, cluster))
    finally:
        sim.stop()
    return results


if __name__ == "__main__":
    sys.exit(main())
