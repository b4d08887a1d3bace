"""Dividend scrapers: parse speed per page, and whole runs against the simulator.

    .venv/bin/python bench/bench_scrapers.py [--symbols 2000]

1. Parse speed: every page type of a simulated universe parsed in-process
   (no HTTP), pages/s and records/s.
2. Whole runs: each scrape script as a subprocess against an in-process
   simulator and a scratch database (on the embedded server, or on
   DATABASE_URL's server; dropped afterwards), with client rate limits raised
   to 200/s so the time is the scraper's own work. The first run inserts
   everything, the re-run must write nothing. The last column is the time the
   default politeness (`*_RATE_LIMIT` defaults) alone imposes on that many
   requests: the real nightly cost.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.scratch import scratch_database
from divpipe.config import field
from divpipe.sim.pages import Pages
from divpipe.sim.server import SimServer
from divpipe.sim.universe import Universe
from divpipe.sources import cboe, nasdaq, nyse, snowball, yieldmax

ROOT = Path(__file__).resolve().parent.parent
TODAY = dt.date(2026, 11, 18)
START, END = TODAY - dt.timedelta(days=7), TODAY + dt.timedelta(days=30)
RUNS = [
    ("nasdaq", "scrape_nasdaq_dividends.py", ["--start", str(START), "--end", str(END)]),
    ("cboe", "scrape_cboe_dividends.py", ["--years", str(TODAY.year)]),
    ("yieldmax", "scrape_yieldmax.py", []),
    ("nyse", "scrape_nyse_dividends.py", []),
    ("snowball", "scrape_snowball_dividends.py", ["--category", "us-popular-div"]),
]


def page_bodies(pages: Pages) -> dict[str, list[tuple[bytes, object]]]:
    """Every page a full scrape would read, with the call that parses it."""
    out: dict[str, list] = {"nasdaq": [], "cboe detail": [], "yieldmax fund": [], "nyse": [], "snowball": []}
    for n in range((END - START).days + 1):
        day = START + dt.timedelta(days=n)
        url = nasdaq.request_for(day)
        out["nasdaq"].append((pages.nasdaq_calendar({"date": day.isoformat()})[2],
                              lambda b, url=url: nasdaq.parse(b, url).records))
    notices = cboe.parse_notices(pages.cboe_year({"year": str(TODAY.year)})[2], "u").records
    for notice in notices:
        body = pages.cboe_detail({"symbols": notice.symbols, "declaration_dt": notice.declaration_dt,
                                  "firm_name": notice.firm_name})[2]
        out["cboe detail"].append((body, lambda b, n=notice: cboe.parse_detail(b, "u", n).records))
    for ticker in yieldmax.parse_fund_list(pages.yieldmax_list()[2], "u").records:
        out["yieldmax fund"].append((pages.yieldmax_fund(ticker.lower())[2],
                                     lambda b, t=ticker: yieldmax.parse_fund_page(b, "u", t).records))
    out["nyse"].append((pages.nyse()[2], lambda b: nyse.parse(b, "u").records))
    first = snowball.parse_page(pages.snowball({"type": "us-popular-div", "page": "1"})[2], "u", "x")
    for n in range(1, first.pages + 1):
        out["snowball"].append((pages.snowball({"type": "us-popular-div", "page": str(n)})[2],
                                lambda b: snowball.parse_page(b, "u", "x").result.records))
    return out


def parse_speed(pages: Pages) -> dict[str, tuple[int, int, float]]:
    """Prints a table; returns {page type: (pages, records, seconds)}."""
    out = {}
    print(f"{'page type':<15} {'pages':>6} {'records':>8} {'seconds':>8} {'pages/s':>9} {'records/s':>10}")
    for kind, items in page_bodies(pages).items():
        began = time.perf_counter()
        records = sum(len(parse(body)) for body, parse in items)
        took = time.perf_counter() - began
        out[kind] = (len(items), records, took)
        print(f"{kind:<15} {len(items):>6} {records:>8} {took:>8.3f} {len(items) / took:>9.0f} "
              f"{records / took:>10.0f}")
    return out


def scrape(script: str, args: list[str], env: dict[str, str]) -> tuple[float, str]:
    began = time.perf_counter()
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / script), *args], env=env,
                          capture_output=True, text=True, check=False)
    took = time.perf_counter() - began
    if proc.returncode != 0:
        raise SystemExit(f"{script} failed: {proc.stderr.strip().splitlines()[-1]}")
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("✅"))
    return took, line


def whole_runs(universe: Universe, url: str) -> dict[str, dict]:
    """Prints a table; returns {source: {first, again (s), requests, polite (s), line}}."""
    out = {}
    with SimServer(universe) as sim:
        env = {**os.environ, "DATABASE_URL": url, "DIVPIPE_SIMULATOR_URL": sim.url,
               **{f"{s.upper()}_RATE_LIMIT": "200" for s, _, _ in RUNS}}
        print(f"{'source':<9} {'first run':>9} {'re-run':>8} {'requests':>8}  {'default politeness':>18}"
              "  first-run summary")
        for source, script, args in RUNS:
            sim.reset_stats()
            first, line = scrape(script, args, env)
            requests = sim.stats()["total"]
            again, rerun = scrape(script, args, env)
            assert "0 inserted, 0 updated" in rerun, rerun
            polite = requests / field(f"{source.upper()}_RATE_LIMIT").default
            print(f"{source:<9} {first:>8.2f}s {again:>7.2f}s {requests:>8}  {polite:>17.0f}s  {line}")
            out[source] = {"first": first, "again": again, "requests": requests, "polite": polite, "line": line}
    return out


def run(symbols: int) -> tuple[dict[str, tuple[int, int, float]], dict[str, dict]]:
    """Prints both tables; returns (parse_speed's figures, whole_runs' figures)."""
    began = time.perf_counter()
    universe = Universe(symbols, seed=1, today=TODAY)
    print(f"universe of {symbols} symbols built in {time.perf_counter() - began:.1f}s\n")
    parsed = parse_speed(Pages(universe))
    print()
    with scratch_database() as url:
        runs = whole_runs(universe, url)
    return parsed, runs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--symbols", type=int, default=2000)
    args = parser.parse_args()
    run(args.symbols)


if __name__ == "__main__":
    main()
