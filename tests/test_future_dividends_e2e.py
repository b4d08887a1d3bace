"""Phase 1's five scrapers, then future-dividends: the consolidated calendar equals the simulator's truth."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path

from divpipe.sources import registry
from tests.sim_truth import keyed

ROOT = Path(__file__).resolve().parent.parent
TODAY = dt.date(2026, 11, 18)
DAYS = 30
START, END = TODAY - dt.timedelta(days=7), TODAY + dt.timedelta(days=DAYS)
SCRAPERS = {
    # source: (script, arguments) - windows pinned to the universe's today
    "nasdaq": ("scrape_nasdaq_dividends.py", ["--start", str(START), "--end", str(END)]),
    "cboe": ("scrape_cboe_dividends.py", ["--years", str(TODAY.year)]),
    "yieldmax": ("scrape_yieldmax.py", []),
    "nyse": ("scrape_nyse_dividends.py", []),
    "snowball": ("scrape_snowball_dividends.py", ["--category", "us-popular-div"]),
}


# The precedence the job must follow: the registry's, over the sources this test scrapes.
RANK = tuple(spec.name for spec in registry.by_precedence() if spec.name in SCRAPERS)


def scraped_truth(universe, source):
    """{key: dividend} each scraper stores with the arguments above (as tests/test_scrape_e2e.py has it)."""
    divs = universe.covered(source)
    if source == "nasdaq":
        divs = [d for d in divs if START <= d.ex_date <= END]
    elif source == "cboe":
        divs = [d for d in divs if d.declaration_date.year == TODAY.year]
    elif source == "snowball":
        divs = [d for d in divs if "us-popular-div" in universe.company(d.symbol).snowball_categories]
    return keyed(source, [d for d in divs if TODAY <= d.ex_date <= TODAY + dt.timedelta(days=DAYS)])


def consolidated_truth(per_source):
    """{(symbol, ex_date, type, seq): (dividend, sources)} as future-dividends must build it."""
    by_day = {}
    for source in RANK:
        for k, d in per_source[source].items():
            by_day.setdefault(k[:2], {}).setdefault(source, []).append((k, d))
    out = {}
    for day, listed in by_day.items():
        leader = max(RANK, key=lambda s: (len(listed.get(s, [])), -RANK.index(s)))
        if len(listed[leader]) > 1:
            for k, d in listed[leader]:
                out[k] = (d, {leader})
            continue
        kinds = [k[2] for s in RANK for k, _ in listed.get(s, []) if k[2] != "unknown"]
        first = listed[next(s for s in RANK if s in listed)][0][1]
        out[(*day, kinds[0] if kinds else "unknown", 1)] = (first, set(listed))
    return out


def run(script, args, env):
    return subprocess.run([sys.executable, str(ROOT / script), *args], env=env, capture_output=True,
                          text=True, timeout=180)


def test_scrape_then_consolidate_matches_the_truth(make_sim, db_env, conn):
    # Seed 2: every source has upcoming dividends, one pair is on the NYSE list alone,
    # and some ex-dates carry two distributions.
    sim = make_sim(n_symbols=60, seed=2, today=TODAY)
    env = {**os.environ, "DIVPIPE_SIMULATOR_URL": sim.url}
    for script, args in SCRAPERS.values():
        proc = run(f"scripts/{script}", args, env)
        assert proc.returncode == 0, proc.stderr

    args = ["--mode", "future-dividends", "--days-ahead", str(DAYS), "--as-of", str(TODAY)]
    proc = run("update_stock_v2.py", args, env)
    assert proc.returncode == 0, proc.stderr

    per_source = {s: scraped_truth(sim.universe, s) for s in SCRAPERS}
    expected = consolidated_truth(per_source)
    assert all(per_source.values()), "a source has no upcoming dividends: pick another seed"
    assert any(sources == {"nyse"} for _, sources in expected.values())
    several = [k for k in expected if sum(1 for j in expected if j[:2] == k[:2]) > 1]
    assert several, "no ex-date with two distributions: pick another seed"
    with conn.cursor() as cur:
        cur.execute("SELECT symbol, ex_date, distribution_type, seq, amount, payment_date, source"
                    " FROM raw_future_dividends")
        rows = {r[:4]: r[4:] for r in cur.fetchall()}
    conn.rollback()
    assert set(rows) == set(expected)
    for key, (amount, payment_date, source) in rows.items():
        truth, sources = expected[key]
        if sources == {"nyse"}:
            assert amount is None and source == "nyse"  # the only source has no amount
        else:
            assert abs(float(amount) - truth.amount) < 1e-4
            ranked = [s for s in RANK[:-1] if s in sources]
            assert source == ranked[0]
        assert payment_date in (truth.pay_date, None)

    counts = dict(re.findall(r"(\w+)=(\d+)", proc.stderr.split("rows per source:")[1].split(";")[0]))
    # Every ranked source is counted; those not scraped here (Polygon without a key) have none.
    assert {s: int(n) for s, n in counts.items()} == {
        spec.name: len(per_source.get(spec.name, ())) for spec in registry.by_precedence()}
    assert "conflicts: 0" in proc.stderr and "⚠️" not in proc.stderr
    assert f"{len(expected)} distributions (" in proc.stderr and f"{len(several)} sharing an ex-date" in proc.stderr

    again = run("update_stock_v2.py", args, env)
    assert again.returncode == 0, again.stderr
    assert f"{len(expected)} distributions (0 new, 0 changed, 0 removed;" in again.stderr
