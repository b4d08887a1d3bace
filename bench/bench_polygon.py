"""Polygon/Massive at the free tier's 5 requests/minute: the bulk window against a per-ticker loop.

    .venv/bin/python bench/bench_polygon.py [--symbols 5000]

Against an in-process simulator of `--symbols` tickers:

1. Bulk (this project): scripts/scrape_polygon_dividends.py --dry-run for the
   nightly window (today-7..today+30) and for one year, as a subprocess. Real
   requests and real pages; the server's and the client's limits are raised
   so the run takes seconds, and the wall time at 5/min is then COMPUTED:
   the first request at once, each next one 12 s later (burst 1), plus the
   measured work.
2. Per-ticker loop with one shared limit: the same script on the legacy
   endpoint with --tickers (one request per ticker, through the one shared
   limiter), raised limits again; wall time at 5/min = requests / 5 minutes.
3. The seed's design, 4 workers each with its own 5/min limiter (20/min
   offered), against the simulator's 5/min limit, on a SIMULATED clock (it
   would take hours): the simulator's own admission code (`PolygonApi._admit`,
   a sliding minute per key) decides each request; a refused ticker is sent
   again at its worker's next slot, as a limiter that knows nothing of the
   429 does. Reported: requests, 429s, simulated wall time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import subprocess
import sys
import time
from pathlib import Path

from divpipe.market_time import exchange_today
from divpipe.sim import polygon as simpolygon
from divpipe.sim.server import SimServer
from divpipe.sim.universe import Universe
from divpipe.sources import normalize

ROOT = Path(__file__).resolve().parent.parent
HOST = "api.massive.com"
FREE_PER_MINUTE = 5


def scrape(sim: SimServer, *args: str, **env: str) -> tuple[int, float]:
    sim.reset_stats()
    full = {**os.environ, "DIVPIPE_SIMULATOR_URL": sim.url, "MASSIVE_API_KEY": simpolygon.KEY,
            "POLYGON_RATE_LIMIT": "500", **env}
    started = time.monotonic()
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "scrape_polygon_dividends.py"), "--dry-run",
                           *args], env=full, capture_output=True, text=True, timeout=3600)
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    return sim.requests_to(HOST), elapsed


def at_free_tier(requests: int, work: float) -> float:
    """Seconds for `requests` at 5/min with a burst of 1, plus the measured work."""
    return max(0, requests - 1) * 60 / FREE_PER_MINUTE + work


class Clock:
    def __init__(self):
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now


def per_worker_limiters(tickers: int, workers: int = 4) -> tuple[int, int, float]:
    """(requests, 429s, simulated seconds) of `workers` each limited alone to 5/min."""
    clock = Clock()
    api = simpolygon.PolygonApi(Universe(1, 0, dt.date(2026, 11, 18)), per_window=FREE_PER_MINUTE,
                                window_seconds=60.0)
    real_time, simpolygon.time = simpolygon.time, clock  # the simulator's limit on our clock
    try:
        interval = 60 / FREE_PER_MINUTE
        # Each worker's next slot; the workers start together, as the seed's threads did.
        slots = [0.0] * workers
        left, requests = tickers, 0
        while left:
            w = min(range(workers), key=lambda i: slots[i])
            clock.now = slots[w]
            requests += 1
            if api._admit(simpolygon.KEY) == 0:
                left -= 1
            slots[w] += interval
        return requests, api.too_many, clock.now
    finally:
        simpolygon.time = real_time


def _valid(symbol: str) -> str | None:
    """The symbol as the scraper takes it, or None for one it refuses (the ticker "NA" reads
    as "not available", as in the real sites' cells)."""
    try:
        return normalize.symbol(symbol)
    except normalize.InvalidValue:
        return None


def hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min" if seconds >= 60 \
        else f"{seconds:.1f} s"


def run(symbols: int, seed: int = 1) -> list[tuple[str, int, int, float, float]]:
    """The four designs: [(label, requests, 429s, measured seconds (nan: simulated), wall seconds at 5/min)]."""
    today = exchange_today()
    t0 = time.monotonic()
    universe = Universe(symbols, seed, today)
    print(f"universe: {symbols:,} tickers ({len({d.symbol for d in universe.covered('polygon')}):,} payers),"
          f" built in {time.monotonic() - t0:.1f}s")
    with SimServer(universe, polygon_limit=(100_000, 1.0)) as sim:
        year = ["--start", str(today - dt.timedelta(days=365)), "--end", str(today)]
        rows = []
        for label, extra in (("bulk, nightly window (today-7..+30)", []), ("bulk, one year", year)):
            requests, work = scrape(sim, *extra)
            rows.append((label, requests, 0, work, at_free_tier(requests, work)))
        tickers = sorted(t for t in (_valid(c.symbol) for c in universe.companies) if t)
        requests, work = scrape(sim, "--tickers", ",".join(tickers), "--since", str(today - dt.timedelta(days=7)),
                                "--end", str(today + dt.timedelta(days=30)), POLYGON_ENDPOINT="legacy")
        rows.append((f"per-ticker loop, one shared limit ({len(tickers):,} tickers)", requests, 0, work,
                     requests * 60 / FREE_PER_MINUTE))
    requests, refused, simulated = per_worker_limiters(symbols)
    rows.append((f"seed: 4 workers x own 5/min limiter ({symbols:,} tickers, simulated clock)",
                 requests, refused, math.nan, simulated))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--symbols", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    rows = run(args.symbols, args.seed)
    print(f"\n| design | requests | 429s | measured (raised limits) | wall time at {FREE_PER_MINUTE}/min |")
    print("|---|---|---|---|---|")
    for label, requests, refused, work, wall in rows:
        measured = "-" if math.isnan(work) else f"{work:.1f} s"
        print(f"| {label} | {requests:,} | {refused:,} | {measured} | {hours(wall)} |")


if __name__ == "__main__":
    main()
