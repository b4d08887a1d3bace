"""scripts/scrape_polygon_dividends.py end to end: a subprocess against the simulator and a real database.

The simulator counts Polygon's limit per second here (5 a second instead of 5
a minute) and the client is set to 4 a second, so that the tests take seconds;
the rule checked is the same: never more than the limit in any window.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest

from divpipe.sim.polygon import KEY, NO_PLAN_KEY
from tests.sim_truth import keyed

ROOT = Path(__file__).resolve().parent.parent
TODAY = dt.date(2026, 11, 18)
UNIVERSE = {"n_symbols": 60, "seed": 1, "today": TODAY}
TABLE = "raw_dividends_polygon"
HOST = "api.massive.com"
YEAR = ["--start", str(TODAY - dt.timedelta(days=365)), "--end", str(TODAY)]


def run(sim, *args, key: str | None = KEY, **env):
    full = {**os.environ, "DIVPIPE_SIMULATOR_URL": sim.url, "POLYGON_RATE_LIMIT": "4", **env}
    full.pop("MASSIVE_API_KEY", None)
    full.pop("POLYGON_API_KEY", None)
    if key is not None:
        full["MASSIVE_API_KEY"] = key
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "scrape_polygon_dividends.py"), *args],
                          env=full, capture_output=True, text=True, timeout=180)


@pytest.fixture
def sim(make_sim):
    server = make_sim(**UNIVERSE, polygon_limit=(5, 1.0))
    server.pages.polygon.page_cap = 100  # page often: a year is several pages
    return server


def stored(conn):
    with conn.cursor() as cur:
        cur.execute(f"SELECT symbol, ex_date, distribution_type, seq, amount, payment_date, record_date,"
                    f" declaration_date, polygon_id, source_type, frequency, currency, source_url"
                    f" FROM {TABLE} ORDER BY 1, 2, 3, 4")
        rows = cur.fetchall()
    conn.rollback()
    return rows


def truth(sim, start, end, source="polygon"):
    return keyed(source, [d for d in sim.universe.covered("polygon") if start <= d.ex_date <= end])


def assert_exact(rows, expected):
    assert {r[:4] for r in rows} == set(expected)  # every distribution, once
    for row in rows:
        d = expected[row[:4]]
        assert float(row[4]) == pytest.approx(round(d.amount, 6))
        assert row[5:8] == (d.pay_date, d.record_date, d.declaration_date)
        assert row[11] == "USD"
    assert len({r[8] for r in rows}) == len(rows)


def test_a_year_is_stored_exactly_a_rerun_writes_nothing_and_the_limit_holds(sim, db_env, conn):
    first = run(sim, *YEAR)
    assert first.returncode == 0, first.stderr
    expected = truth(sim, TODAY - dt.timedelta(days=365), TODAY)
    rows = stored(conn)
    assert_exact(rows, expected)
    pages = -(-len(expected) // 100)
    assert pages > 2 and sim.requests_to(HOST) == pages
    summary = first.stdout.strip().splitlines()[-1]
    assert summary.startswith(f"✅ polygon: {pages} requests, {len(expected)} records parsed, {len(expected)} inserted")

    again = run(sim, *YEAR)
    assert again.returncode == 0, again.stderr
    assert ", 0 inserted, 0 updated," in again.stdout
    assert stored(conn) == rows
    # Never above the limit: no 429, and at most 5 arrivals in any second of Unix time.
    assert sim.pages.polygon.too_many == 0
    assert max(sim.per_second(HOST).values()) <= 5


def test_supplemental_and_special_distributions_on_one_ex_date_are_each_kept(sim, db_env, conn):
    start = TODAY - dt.timedelta(days=365)
    assert run(sim, *YEAR).returncode == 0
    kinds = {r[2] for r in stored(conn)}
    assert {"regular", "supplemental", "special"} <= kinds
    several = [k for k in truth(sim, start, TODAY) if (k[0], k[1]) in
               {(o[0], o[1]) for o in truth(sim, start, TODAY) if o != k}]
    assert several, "no ex-date with two distributions: pick another seed"


def test_the_legacy_endpoint_stores_the_same_distributions_with_its_types(sim, db_env, conn):
    proc = run(sim, *YEAR, POLYGON_ENDPOINT="legacy")
    assert proc.returncode == 0, proc.stderr
    rows = stored(conn)
    assert_exact(rows, truth(sim, TODAY - dt.timedelta(days=365), TODAY, "polygon_legacy"))
    assert {r[9] for r in rows} <= {"CD", "SC", "LT"}
    assert sim.requests_to(HOST, "/v3/reference/dividends") > 0 and sim.requests_to(HOST, "/stocks/") == 0


def test_history_of_named_tickers_and_a_corrected_amount_updates_its_own_row(sim, db_env, conn):
    symbols = sorted({d.symbol for d in sim.universe.covered("polygon")})[:3]
    since = TODAY - dt.timedelta(days=3 * 365)
    proc = run(sim, "--tickers", ",".join(symbols), "--since", str(since))
    assert proc.returncode == 0, proc.stderr
    expected = {k: d for k, d in truth(sim, since, TODAY + dt.timedelta(days=30)).items() if k[0] in symbols}
    rows = stored(conn)
    assert_exact(rows, expected)
    key, d = next(iter(sorted(expected.items())))
    sim.correct(d.symbol, d.ex_date, d.kind, d.amount + 0.01)
    again = run(sim, "--tickers", ",".join(symbols), "--since", str(since))
    assert ", 0 inserted, 1 updated," in again.stdout, again.stdout
    after = {r[:4]: r for r in stored(conn)}
    assert len(after) == len(rows) and float(after[key][4]) == pytest.approx(round(d.amount + 0.01, 6))


def test_without_a_key_one_line_and_exit_0(sim, db_env, conn):
    proc = run(sim, key=None)
    assert proc.returncode == 0
    assert proc.stdout.strip() == "polygon: skipped, MASSIVE_API_KEY (or POLYGON_API_KEY) is not set"
    assert "⚠️" not in proc.stdout + proc.stderr and sim.requests_to(HOST) == 0


def test_the_old_variable_name_works_and_the_key_never_reaches_the_output(sim, db_env, conn):
    proc = run(sim, *YEAR, "-v", key=None, POLYGON_API_KEY=KEY)
    assert proc.returncode == 0, proc.stderr
    assert KEY not in proc.stdout + proc.stderr
    assert all(KEY not in (r[12] or "") for r in stored(conn))


@pytest.mark.parametrize(("key", "says"), [
    ("wrong-key", "❌ polygon: the API key was refused (HTTP 401: Unknown API Key); check MASSIVE_API_KEY"),
    (NO_PLAN_KEY, "❌ polygon: this key's plan has no access to https://api.massive.com/stocks/v1/dividends"
                  " (HTTP 403: You are not entitled to this data."),
])
def test_a_refused_key_or_plan_is_one_line_exit_1_nothing_written(sim, db_env, conn, key, says):
    proc = run(sim, *YEAR, key=key)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len([ln for ln in lines if ln.startswith("❌")]) == 1
    assert lines[-1].startswith(says) and "nothing written" in lines[-1]
    assert key not in proc.stdout + proc.stderr
    assert stored(conn) == []


def test_an_expired_next_url_is_one_line_exit_1_nothing_written(sim, db_env, conn):
    # Every cursor handed out is one the API no longer knows: the first page passes,
    # the second (its next_url) is refused.
    sim.pages.polygon._encode = lambda state: "expired"
    proc = run(sim, *YEAR)
    assert proc.returncode == 1
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith("❌ polygon: the next page was refused (HTTP 400: invalid cursor); its cursor may have")
    assert stored(conn) == []


def test_malformed_json_is_one_line_exit_1_nothing_written(sim, db_env, conn):
    sim.inject("malformed", "malformed", "malformed", host=HOST)
    proc = run(sim, *YEAR, POLYGON_RATE_LIMIT="200")
    assert proc.returncode == 1
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith("❌ polygon: unexpected response from https://api.massive.com/stocks/v1/dividends")
    assert "nothing written" in line and stored(conn) == []


def test_a_429_honours_retry_after_and_the_run_completes(make_sim, db_env, conn):
    sim = make_sim(**UNIVERSE, polygon_limit=(1, 1.0))
    sim.pages.polygon.page_cap = 60
    # Faster than the server allows: it answers 429 with Retry-After, the client pauses.
    proc = run(sim, *YEAR, POLYGON_RATE_LIMIT="50")
    assert proc.returncode == 0, proc.stderr
    assert sim.pages.polygon.too_many > 0
    assert_exact(stored(conn), truth(sim, TODAY - dt.timedelta(days=365), TODAY))


def test_a_distribution_polygon_moved_to_another_ex_date_moves_its_row(sim, db_env, conn):
    assert run(sim, *YEAR).returncode == 0
    before = stored(conn)
    # As if Polygon had listed this id under another ex-date and type on an earlier night.
    moved = before[len(before) // 2]
    with conn, conn.cursor() as cur:
        cur.execute(f"UPDATE {TABLE} SET ex_date = ex_date - 3, distribution_type = 'unknown'"
                    f" WHERE polygon_id = %s", (moved[8],))
    again = run(sim, *YEAR)
    assert again.returncode == 0, again.stderr
    assert stored(conn) == before  # moved back by its id: no second row beside the stale one


@pytest.mark.parametrize(("args", "says"), [
    (["--since", "2020-01-01"], "❌ --since needs --tickers; for every ticker use --start and --end"),
    (["--tickers", "AAPL", "--since", "2030-01-01", "--end", "2029-01-01"], "❌ --since 2030-01-01 is after --end"),
    (["--tickers", "A,B@D"], "not a valid symbol"),
])
def test_bad_usage_is_one_line_exit_2(sim, db_env, args, says):
    proc = run(sim, *args)
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("❌") and says in lines[0], proc.stderr
    assert sim.requests_to(HOST) == 0
