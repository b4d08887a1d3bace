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

from divpipe.sources import registry
from tests.sim_truth import keyed

ROOT = Path(__file__).resolve().parent.parent
TODAY = dt.date(2026, 11, 18)
START, END = TODAY - dt.timedelta(days=7), TODAY + dt.timedelta(days=30)
UNIVERSE = {"n_symbols": 60, "seed": 1, "today": TODAY}

# What the test passes each scraper (its window, pinned to the universe) and the host of its first page.
# The script and the table come from the registry.
# Sources tested end to end in their own test file.
SKIP_HERE = {"polygon"}  # tests/test_polygon_e2e.py: it needs a key and has its own limit
RUN_AS = {
    "nasdaq": (["--start", str(START), "--end", str(END)], "api.nasdaq.com"),
    "cboe": (["--years", str(TODAY.year)], "www.cboe.com"),
    "yieldmax": ([], "yieldmaxetfs.com"),
    "nyse": ([], "www.nyse.com"),
    "snowball": (["--category", "us-popular-div"], "snowball-analytics.com"),
}
SOURCES = {
    # source: (script, arguments, table, host)
    spec.name: (Path(spec.script or "").name, *RUN_AS[spec.name][:1], spec.table, RUN_AS[spec.name][1])
    for spec in registry.scraped() if spec.name in RUN_AS
}


def test_every_scraped_source_of_the_registry_is_tested_end_to_end_here():
    # A new source with a nightly scraper needs its arguments above, or it escapes these tests.
    assert {spec.name for spec in registry.scraped() if spec.task and spec.name not in SKIP_HERE} == set(SOURCES)


def truth(universe, source):
    """{(symbol, ex_date, distribution_type, seq): dividend} that `source`'s script must store."""
    if source == "nasdaq":
        divs = [d for d in universe.covered(source) if START <= d.ex_date <= END]
    elif source == "cboe":
        divs = [d for d in universe.covered("cboe") if d.declaration_date.year == TODAY.year]
    elif source == "snowball":
        divs = [d for d in universe.covered("snowball")
                if "us-popular-div" in universe.company(d.symbol).snowball_categories]
    else:
        divs = universe.covered(source)
    return keyed(source, divs)


def run(source, sim, **extra_env):
    script, args, _, _ = SOURCES[source]
    env = {**os.environ, "DIVPIPE_SIMULATOR_URL": sim.url, **extra_env}
    return subprocess.run([sys.executable, str(ROOT / "scripts" / script), *args], env=env,
                          capture_output=True, text=True, timeout=180)


def stored(conn, table):
    with conn.cursor() as cur:
        cur.execute(f"SELECT * FROM {table} ORDER BY symbol, ex_date, distribution_type, seq")
        names = [c.name for c in cur.description]
        out = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    conn.rollback()
    return out


def summary(proc, mark="✅"):
    [line] = [ln for ln in proc.stdout.splitlines() if ln.startswith(mark)]
    return line


def key(row):
    return (row["symbol"], row["ex_date"], row["distribution_type"], row["seq"])


def assert_matches_truth(rows, expected, source):
    assert expected, f"the universe gives {source} nothing to scrape: pick another seed"
    assert {key(r) for r in rows} == set(expected)
    for r in rows:
        d = expected[key(r)]
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
    assert len(rows) == len(expected)  # every distribution stored once
    if source in ("nasdaq", "cboe", "snowball"):
        assert several_on_one_ex_date(expected), "no ex-date with two distributions: pick another seed"
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


def several_on_one_ex_date(expected):
    """The keys of distributions that share their symbol and ex-date with another."""
    per_day = {}
    for k in expected:
        per_day.setdefault(k[:2], []).append(k)
    return [k for keys in per_day.values() if len(keys) > 1 for k in keys]


@pytest.mark.parametrize("source", ["nasdaq", "snowball"])
def test_a_corrected_amount_updates_its_own_row(source, make_sim, db_env, conn):
    sim = make_sim(**UNIVERSE)
    assert run(source, sim).returncode == 0
    table = SOURCES[source][2]
    before = {key(r): r for r in stored(conn, table)}
    # The smaller of two distributions on one ex-date, corrected by a hundredth of a cent.
    target = min(several_on_one_ex_date(truth(sim.universe, source)), key=lambda k: (k[0], k[1], k[3]))
    d = truth(sim.universe, source)[target]
    sim.correct(d.symbol, d.ex_date, d.kind, round(d.amount + 0.0001, 4))

    proc = run(source, sim)
    assert proc.returncode == 0, proc.stderr
    assert "0 inserted, 1 updated" in summary(proc)
    after = {key(r): r for r in stored(conn, table)}
    assert after.keys() == before.keys()
    assert float(after[target]["amount"]) == pytest.approx(d.amount + 0.0001)
    assert {k: r["amount"] for k, r in after.items() if k != target} == \
        {k: r["amount"] for k, r in before.items() if k != target}


def broken_page(sim, source):
    """Where to break one page of `source` for good, and which stored keys come from it."""
    if source == "nasdaq":
        return dict(host="api.nasdaq.com", query="date=2026-11-20"), lambda k: k[1] == dt.date(2026, 11, 20)
    # CBOE: a notice of this year for one symbol (a notice for several would match more).
    symbol, declared = next((s, d) for s, d, _ in sorted(sim.pages._cboe_alerts)
                            if "," not in s and d.startswith(str(TODAY.year)))
    return (dict(host="www.cboe.com", query=f"symbols={symbol}&declaration_dt={declared}"),
            lambda k: (k[0], str(truth(sim.universe, "cboe")[k].declaration_date)) == (symbol, declared))


@pytest.mark.parametrize("source", ["nasdaq", "cboe"])
def test_a_night_with_one_broken_page_stores_everything_else_and_exits_0(source, make_sim, db_env, conn):
    sim = make_sim(**UNIVERSE)
    where, on_page = broken_page(sim, source)
    sim.break_pages("500", **where)
    proc = run(source, sim)
    assert proc.returncode == 0, proc.stderr
    line = summary(proc, "⚠️")
    assert "1 page skipped" in line
    warnings = [ln for ln in proc.stderr.splitlines() if f"⚠️ {source}: skipped https://" in ln]
    assert len(warnings) == 1 and "last status 500" in warnings[0]
    expected = truth(sim.universe, source)
    kept = {k: d for k, d in expected.items() if not on_page(k)}
    assert kept != expected, "the broken page holds no dividend: pick another page"
    assert_matches_truth(stored(conn, SOURCES[source][2]), kept, source)
    with conn.cursor() as cur:
        cur.execute("SELECT source, failures FROM scrape_skipped_pages")
        assert cur.fetchall() == [(source, 1)]
    conn.rollback()


def test_a_systemic_failure_exits_1_and_writes_nothing(make_sim, db_env, conn):
    sim = make_sim(**UNIVERSE)
    # Every NASDAQ date answers garbage: more than SCRAPE_MAX_FAILED_PAGE_RATIO of the pages.
    sim.break_pages("malformed", host="api.nasdaq.com")
    proc = run("nasdaq", sim)
    assert proc.returncode == 1
    [error] = [ln for ln in proc.stderr.splitlines() if ln.startswith("❌")]
    assert "nasdaq: 38 of 38 pages failed" in error and "nothing written" in error
    assert stored(conn, "raw_dividends_nasdaq") == []
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM scrape_skipped_pages")
        assert cur.fetchone() == (0,)
    conn.rollback()


@pytest.mark.parametrize("source", sorted(set(SOURCES) - {"nasdaq"}))
def test_a_malformed_index_page_leaves_the_table_untouched_and_exits_1(source, make_sim, db_env, conn):
    sim = make_sim(**UNIVERSE)
    table, host = SOURCES[source][2], SOURCES[source][3]
    assert run(source, sim).returncode == 0
    before = stored(conn, table)
    # The first page each script fetches (the list, the index, the one page),
    # garbled three times in a row: more than the HTTP layer's re-fetches, so
    # it counts as a changed shape, and without it nothing else can be trusted.
    # One worker, so that first page is fetched three times before anything else.
    sim.inject("malformed", "malformed", "malformed", host=host)
    proc = run(source, sim, **{f"{source.upper()}_WORKERS": "1"})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("❌")]
    assert len(errors) == 1 and errors[0].startswith(f"❌ {source}: unexpected response from https://")
    assert "nothing written" in errors[0]
    assert stored(conn, table) == before
