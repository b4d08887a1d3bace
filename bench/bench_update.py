"""Main update (`update_stock_v2.py --mode update`) against the simulator: throughput, requests, memory.

    .venv/bin/python bench/bench_update.py [--symbols 1000] [--workers 1,2,4,8,16,32]
        [--latency-ms 100] [--rate-limit 50] [--rss 1000,5000] [--skip-download]

Scenarios, each a fresh `update_stock_v2.py` process (as cron runs it) on a
scratch database (embedded server, or DATABASE_URL's server), dropped afterwards:

1. initial load: every symbol new (5 years, company data), workers 8;
2. nightly steady state: the same database the next night (bookmarks set,
   company data fresh), once per worker count. The simulator answers after
   `--latency-ms` and allows `--rate-limit` requests/s per host; the client's
   YAHOO_RATE_LIMIT is set to the same value, so past a few workers the limit
   binds and symbols/s should approach it (one chart request per symbol);
3. what a user would write instead: `yf.download(tickers, start=..., threads=True)`
   over the same symbols and the same simulator, with no limiter of ours
   (wall time, requests, tickers that came back; it stores nothing);
4. peak RSS of an initial load (`--prices-only --history-years 1`, simulator
   without latency or limit) for each size in `--rss`: memory must not grow
   in proportion to the number of symbols.

"symbols/s" is the job's own figure (from its summary line: fan-out and
writes, without interpreter start-up); "wall" includes start-up.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from divpipe.db import embedded  # noqa: E402
from divpipe.db.migrate import migrate  # noqa: E402
from divpipe.market_time import exchange_today  # noqa: E402
from divpipe.sim.server import SimServer  # noqa: E402
from divpipe.sim.universe import Universe  # noqa: E402

DATA_PATHS = ("/v8/finance/chart/", "/v10/finance/quoteSummary/", "/v7/finance/quote",
              "/ws/fundamentals-timeseries/")
SUMMARY = re.compile(r"(\d+) ok, (\d+) failed, (\d+) skipped of (\d+) symbols in ([\d.]+) s \(([\d.]+) symbols/s\)")

# Runs a command and prints its peak RSS: RUSAGE_CHILDREN of a fresh wrapper
# process covers exactly that one child.
RSS_WRAPPER = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[1:]).returncode\n"
    "print('PEAK_RSS_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
    "sys.exit(code)\n"
)

DOWNLOAD = (
    "import sys, time, warnings\n"
    "warnings.simplefilter('ignore')\n"
    "from divpipe.net.yahoo import prepare_yfinance\n"
    "prepare_yfinance()\n"
    "import yfinance as yf\n"
    "tickers = sys.argv[2].split(',')\n"
    "t = time.monotonic()\n"
    "df = yf.download(tickers, start=sys.argv[1], threads=True, actions=True, auto_adjust=False,\n"
    "                 progress=False, group_by='ticker')\n"
    "took = time.monotonic() - t\n"
    "got = sum(1 for s in tickers if s in df.columns.get_level_values(0) and df[s]['Close'].notna().any())\n"
    "print('DOWNLOAD', took, got, len(tickers), file=sys.stderr)\n"
)


class Scratch:
    """Scratch databases on one server; all dropped at the end."""

    def __init__(self):
        self.admin = os.environ.get("DATABASE_URL") or embedded.start_or_join(
            Path(tempfile.mkdtemp(prefix="bench_update_pg_")) / "pg")
        self.names: list[str] = []

    def _exec(self, sql: str) -> None:
        conn = psycopg2.connect(self.admin)
        conn.autocommit = True
        try:
            conn.cursor().execute(sql)
        finally:
            conn.close()

    def create(self, template: str | None = None) -> tuple[str, str]:
        name = f"divpipe_bench_update_{uuid.uuid4().hex[:8]}"
        self._exec(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        self.names.append(name)
        url = embedded.with_database(self.admin, name)
        if template is None:
            migrate(url)
        return name, url

    def drop(self, name: str) -> None:
        self._exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.names.remove(name)

    def drop_all(self) -> None:
        for name in self.names:
            self._exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.names.clear()


def track(url: str, symbols: list[str]) -> None:
    conn = psycopg2.connect(url)
    with conn, conn.cursor() as cur:
        cur.executemany("INSERT INTO raw_stocks (symbol) VALUES (%s)", [(s,) for s in symbols])
    conn.close()


def data_requests(sim: SimServer) -> int:
    return sum(n for paths in sim.stats()["requests"].values() for p, n in paths.items()
               if p.startswith(DATA_PATHS))


def run_update(url: str, sim: SimServer, data_dir: Path, env_extra: dict[str, str], *argv: str) -> dict:
    env = {**os.environ, "DATABASE_URL": url, "DIVPIPE_SIMULATOR_URL": sim.url,
           "DIVPIPE_DATA_DIR": str(data_dir), "LOG_DIR": str(data_dir / "logs"), "DIVPIPE_ENV_FILE": os.devnull,
           **env_extra}
    sim.reset_stats()
    began = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", RSS_WRAPPER, sys.executable, str(ROOT / "update_stock_v2.py"),
                           "--mode", "update", *argv], env=env, capture_output=True, text=True)
    wall = time.monotonic() - began
    match = SUMMARY.search(proc.stderr)
    rss = re.search(r"PEAK_RSS_KB (\d+)", proc.stderr)
    if proc.returncode != 0 or not match:
        tail = "\n".join(proc.stderr.splitlines()[-15:])
        raise SystemExit(f"update failed (exit {proc.returncode}):\n{tail}")
    ok, failed, _skipped, total, took, per_s = match.groups()
    fetch = re.search(r"fetch phase: ([\d.]+) s, ([\d.]+) symbols/s, ([\d.]+) requests/s", proc.stderr)
    return {"ok": int(ok), "failed": int(failed), "total": int(total), "job_s": float(took),
            "symbols_per_s": float(per_s), "fetch_s": float(fetch.group(1)),
            "fetch_symbols_per_s": float(fetch.group(2)), "fetch_requests_per_s": float(fetch.group(3)),
            "wall_s": wall, "data_requests": data_requests(sim),
            "requests": sim.stats()["total"], "429": sim.stats()["faults"].get("429", 0),
            "peak_rss_mb": int(rss.group(1)) / 1024 if rss else None}


def run_download(sim: SimServer, data_dir: Path, symbols: list[str], start: dt.date) -> dict:
    env = {**os.environ, "DIVPIPE_SIMULATOR_URL": sim.url, "DIVPIPE_DATA_DIR": str(data_dir),
           "DIVPIPE_ENV_FILE": os.devnull, "YAHOO_RATE_LIMIT": "100000", "RATE_LIMIT_BURST": "1000",
           "PYTHONPATH": str(ROOT)}
    yahoo = [s.replace(".", "-") for s in symbols]
    sim.reset_stats()
    began = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", DOWNLOAD, start.isoformat(), ",".join(yahoo)], env=env,
                          capture_output=True, text=True)
    wall = time.monotonic() - began
    match = re.search(r"DOWNLOAD ([\d.]+) (\d+) (\d+)", proc.stderr)
    if not match:
        raise SystemExit("yf.download failed:\n" + "\n".join(proc.stderr.splitlines()[-15:]))
    took, got, total = float(match.group(1)), int(match.group(2)), int(match.group(3))
    return {"download_s": took, "wall_s": wall, "tickers_with_data": got, "tickers": total,
            "data_requests": data_requests(sim), "requests": sim.stats()["total"],
            "429": sim.stats()["faults"].get("429", 0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--symbols", type=int, default=1000)
    parser.add_argument("--workers", default="1,2,4,8,16,32")
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--rate-limit", type=float, default=50.0)
    parser.add_argument("--rss", default="1000,5000", help="symbol counts for the peak-RSS runs ('' to skip)")
    parser.add_argument("--skip-download", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    today = exchange_today() - dt.timedelta(days=1)
    scratch = Scratch()
    work = Path(tempfile.mkdtemp(prefix="bench_update_"))
    results: dict = {"symbols": args.symbols, "latency_ms": args.latency_ms, "rate_limit": args.rate_limit,
                     "cpus": os.cpu_count(), "sweep": {}, "rss": {}}
    limits = {"YAHOO_RATE_LIMIT": str(args.rate_limit), "HTTP_BACKOFF": "0.25"}
    try:
        universe = Universe(args.symbols, seed=1, today=today)
        with SimServer(universe, latency_ms=args.latency_ms, rate_limit=args.rate_limit) as sim:
            base, base_url = scratch.create()
            track(base_url, universe.symbols)
            data_dir = work / "data"
            first = run_update(base_url, sim, data_dir, {**limits, "YAHOO_WORKERS": "8"})
            results["initial"] = first
            print(f"initial load, 8 workers: {first['symbols_per_s']:.1f} symbols/s, "
                  f"{first['data_requests']} data requests, {first['job_s']:.1f} s", flush=True)
            print(f"{'workers':>7} {'symbols/s':>9} {'fetch sym/s':>11} {'fetch req/s':>11} {'% limit':>7} "
                  f"{'data req':>8} {'429':>4} {'job s':>6} {'wall s':>6}", flush=True)
            for workers in [int(w) for w in args.workers.split(",") if w]:
                _, url = scratch.create(template=base)
                r = run_update(url, sim, data_dir, {**limits, "YAHOO_WORKERS": str(workers)})
                results["sweep"][workers] = r
                print(f"{workers:>7} {r['symbols_per_s']:>9.1f} {r['fetch_symbols_per_s']:>11.1f} "
                      f"{r['fetch_requests_per_s']:>11.1f} "
                      f"{100 * r['fetch_requests_per_s'] / args.rate_limit:>6.0f}% {r['data_requests']:>8} "
                      f"{r['429']:>4} {r['job_s']:>6.1f} {r['wall_s']:>6.1f}", flush=True)
            if not args.skip_download:
                start = today - dt.timedelta(days=7)
                d = run_download(sim, data_dir, universe.symbols, start)
                results["download"] = d
                print(f"yf.download(threads=True): {d['download_s']:.1f} s ({d['wall_s']:.1f} s wall), "
                      f"{d['data_requests']} data requests, {d['429']} x 429, "
                      f"{d['tickers_with_data']}/{d['tickers']} tickers with data", flush=True)
        for size in [int(n) for n in args.rss.split(",") if n]:
            universe = Universe(size, seed=2, today=today)
            with SimServer(universe) as sim:
                _, url = scratch.create()
                track(url, universe.symbols)
                r = run_update(url, sim, work / f"data_rss_{size}",
                               {"YAHOO_RATE_LIMIT": "100000", "RATE_LIMIT_BURST": "100", "YAHOO_WORKERS": "8"},
                               "--prices-only", "--history-years", "1")
                results["rss"][size] = r
                print(f"initial load of {size} symbols (--prices-only --history-years 1): peak RSS "
                      f"{r['peak_rss_mb']:.0f} MB, {r['symbols_per_s']:.1f} symbols/s, {r['job_s']:.1f} s",
                      flush=True)
    finally:
        scratch.drop_all()
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
