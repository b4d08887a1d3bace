"""The five scrape scripts end to end: subprocesses against the simulator and a real database.

The universe's `today` is pinned, and the NASDAQ/NYSE windows and the CBOE
year are passed explicitly from it, so what each source must store is fixed
by the universe's truth, whatever day the suite runs.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TODAY = dt.date(2026, 11, 18)
START, END = TODAY - dt.timedelta(days=7), TODAY + dt.timedelta(days=30)
UNIVERSE = {"n_symbols": 60, "seed": 1, "today": TODAY}

SOURCES = {
    # source: (script, arguments, table, host)
    "nasdaq": ("scrape_nasdaq_dividends.py", ["--start", str(START), "--end", str(END)],
               "raw_dividends_nasdaq", "api.nasdaq.com"),
    "cboe": ("scrape_cboe_dividends.py", ["--years", str(TODAY.year)], "raw_dividends_cboe", "www.cboe.com"),
    "yieldmax": ("scrape_yieldmax.py", [], "raw_yieldmax_dividends", "yieldmaxetfs.com"),
    "nyse": ("scrape_nyse_dividends.py", ["--start", str(START), "--end", str(END)],
             "raw_dividends_nyse", "www.nyse.com"),
    "snowball": ("scrape_snowball_dividends.py", ["--category", "us-popular-div"],
                 "raw_dividends_snowball", "snowball-analytics.com"),
}


def truth(universe, source):
    """{(symbol, ex_date): dividend} that `source`'s script must store."""
    if source in ("nasdaq", "nyse"):
        divs = [d for d in universe.covered(source) if START <= d.ex_date <= END]
    elif source == "cboe":
        divs = [d for d in universe.covered("cboe") if d.declaration_date.year == TODAY.year]
    elif source == "snowball":
        divs = [d for d in universe.covered("snowball")
                if "us-popular-div" in universe.company(d.symbol).snowball_categories]
    else:
        divs = universe.covered(source)
    return {(d.symbol, d.ex_date): d for d in divs}


def run(source, sim, **extra_env):
    script, args, _, _ = SOURCES[source]
    env = {**os.environ, "DIVPIPE_SIMULATOR_URL": sim.url, **extra_env}
    return subprocess.run([sys.executable, str(ROOT / "scripts" / script), *args], env=env,
                          capture_output=True, text=True, timeout=180)


def stored(conn, table):
    with conn.cursor() as cur:
        cur.execute(f"SELECT * FROM {table} ORDER BY symbol, ex_date")
        names = [c.name for c in cur.description]
        out = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    conn.rollback()
    return out


def summary(proc):
    [line] = [ln for ln in proc.stdout.splitlines() if ln.startswith("✅")]
    return line


def assert_matches_truth(rows, expected, source):
    assert expected, f"the universe gives {source} nothing to scrape: pick another seed"
    assert {(r["symbol"], r["ex_date"]) for r in rows} == set(expected)
    for r in rows:
        d = expected[(r["symbol"], r["ex_date"])]
        if source == "nyse":
            assert r["amount"] is None  # the NYSE list has no amounts
        else:
            assert abs(float(r["amount"]) - d.amount) < 1e-4, r
        assert r["payment_date"] in (d.pay_date, None)
        assert r["record_date"] in (d.record_date, None)


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_scrape_stores_the_truth_and_a_rerun_writes_nothing(source, make_sim, db_env, conn):
    sim = make_sim(**UNIVERSE)
    table = SOURCES[source][2]
    first = run(source, sim)
    assert first.returncode == 0, first.stderr
    rows = stored(conn, table)
    expected = truth(sim.universe, source)
    assert_matches_truth(rows, expected, source)
    assert f"{len(expected)} inserted, 0 updated, 0 rejected" in summary(first)

    again = run(source, sim)
    assert again.returncode == 0, again.stderr
    assert "0 inserted, 0 updated" in summary(again)
    assert stored(conn, table) == rows


def test_cboe_rerun_fetches_only_the_notices_list(make_sim, db_env, conn):
    sim = make_sim(**UNIVERSE)
    assert run("cboe", sim).returncode == 0
    sim.reset_stats()
    again = run("cboe", sim)
    assert again.returncode == 0, again.stderr
    assert sim.requests_to("www.cboe.com", "/us/equities/notices/dividends/details/") == 0
    assert sim.requests_to("www.cboe.com", "/us/equities/notices/data/dividends/") == 1


@pytest.mark.parametrize("source", ["nasdaq", "snowball", "cboe"])
def test_a_run_through_429s_500s_resets_and_garbled_bodies_still_completes(source, make_sim, db_env, conn):
    sim = make_sim(**UNIVERSE, fault_rate=0.25, fault_kinds=("429", "500", "reset", "truncated", "malformed"))
    proc = run(source, sim)
    assert proc.returncode == 0, proc.stderr
    assert "retried" in summary(proc)
    assert sum(sim.stats()["faults"].values()) > 0
    assert_matches_truth(stored(conn, SOURCES[source][2]), truth(sim.universe, source), source)


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_a_malformed_payload_leaves_the_table_untouched_and_exits_1(source, make_sim, db_env, conn):
    sim = make_sim(**UNIVERSE)
    table, host = SOURCES[source][2], SOURCES[source][3]
    assert run(source, sim).returncode == 0
    before = stored(conn, table)
    # The first page each script fetches, garbled three times in a row: more
    # than the job's re-fetches, so it counts as a changed shape. One worker,
    # so that first page is fetched three times before anything else.
    sim.inject("malformed", "malformed", "malformed", host=host)
    proc = run(source, sim, **{f"{source.upper()}_WORKERS": "1"})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("❌")]
    assert len(errors) == 1 and errors[0].startswith(f"❌ {source}: unexpected response from https://")
    assert "nothing written" in errors[0]
    assert stored(conn, table) == before
