"""`--mode backfill` end to end on dask's threads scheduler: the simulated market, real yfinance, real PostgreSQL."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from divpipe.db.connect import mask_url
from divpipe.jobs.modes import main
from divpipe.net import yahoo as net_yahoo
from tests.test_update_e2e import SIM_TODAY, chart_requests, q, stored

pytestmark = pytest.mark.slow

PRICES = "SELECT symbol, date, open, high, low, close, adj_close, volume FROM raw_stock_prices"
DIVIDENDS = "SELECT symbol, ex_date, amount FROM raw_dividends"
SPLITS = "SELECT symbol, split_date, ratio FROM raw_stock_splits"


def backfill(capsys, *argv: str) -> tuple[int, str]:
    code = main(["--mode", "backfill", *argv])
    return code, capsys.readouterr().err


def truth(universe, symbols, start: dt.date, end: dt.date):
    """What the window must hold: the simulator's bars, dividends and splits from start to end."""
    prices, dividends, splits = set(), set(), set()
    for symbol in symbols:
        for day, row in universe.prices(symbol).iterrows():
            if start <= day.date() <= end:
                prices.add((symbol, day.date(), q(row.open, 6), q(row.high, 6), q(row.low, 6),
                            q(row.close, 6), q(row.adj_close, 6), int(row.volume)))
        dividends |= {(symbol, d.ex_date, q(d.amount, 8)) for d in universe.paid_dividends(symbol)
                      if start <= d.ex_date <= end}
        splits |= {(symbol, s.date, q(s.ratio, 8)) for s in universe.splits(symbol) if start <= s.date <= end}
    return prices, dividends, splits


def window_around_a_split(universe):
    """Four symbols, one with a split, and a window of about four months around that split."""
    split_symbol = next(c.symbol for c in universe.listed() if universe.splits(c.symbol))
    split = universe.splits(split_symbol)[0]
    others = [c.symbol for c in universe.listed() if c.symbol != split_symbol][:3]
    return [split_symbol, *others], split.date - dt.timedelta(days=60), split.date + dt.timedelta(days=60)


def test_backfill_fills_the_window_then_only_the_holes_then_nothing(make_sim, db_url, conn, capsys):
    sim = make_sim(n_symbols=60, seed=7, today=SIM_TODAY)
    symbols, start, end = window_around_a_split(sim.universe)
    window = ["--start", start.isoformat(), "--end", end.isoformat()]
    tickers = ["--tickers", ",".join(symbols)]

    code, err = backfill(capsys, *tickers, *window, "--workers", "3")
    assert code == 0, err
    prices, dividends, splits = truth(sim.universe, symbols, start, end)
    assert dividends and splits
    assert stored(conn, PRICES) == prices
    assert stored(conn, DIVIDENDS) == dividends
    assert stored(conn, SPLITS) == splits
    assert chart_requests(sim) == len(symbols)
    assert "✅ backfill: 4 ok, 0 failed, 0 waited, 0 without gaps of 4 symbols" in err
    # Yahoo's first trade date is kept: the planner needs it for symbols listed mid-window.
    first = {s: sim.universe.prices(s).index[0].date() for s in symbols}
    assert stored(conn, "SELECT symbol, first_trade_date FROM raw_stocks") == set(first.items())

    # Holes: two days of one symbol far apart, and the last week of another (with its dividend, if any).
    a, b = symbols[1], symbols[2]
    days = sorted({d for s, d, *_ in prices if s == a})
    with conn.cursor() as cur:
        cur.execute("DELETE FROM raw_stock_prices WHERE symbol = %s AND date = ANY(%s)", (a, [days[3], days[-4]]))
        cur.execute("DELETE FROM raw_stock_prices WHERE symbol = %s AND date > %s", (b, end - dt.timedelta(days=7)))
        cur.execute("DELETE FROM raw_dividends WHERE symbol = %s AND ex_date > %s", (b, end - dt.timedelta(days=7)))
    conn.commit()

    sim.reset_stats()
    code, err = backfill(capsys, *tickers, *window, "--dry-run")
    assert code == 0, err
    assert chart_requests(sim) == 0
    assert "2 with gaps, 2 request(s)" in err
    # a's two holes are within BACKFILL_MERGE_SESSIONS of each other: one request.
    assert f"   {a}: {days[3]}..{days[-4]} (2 sessions)" in err

    code, err = backfill(capsys, *tickers, *window)
    assert code == 0, err
    yahoo = {s: s.replace(".", "-") for s in symbols}
    assert chart_requests(sim) == 2 and chart_requests(sim, yahoo[a]) == chart_requests(sim, yahoo[b]) == 1
    assert stored(conn, PRICES) == prices
    assert stored(conn, DIVIDENDS) == dividends
    assert "✅ backfill: 2 ok, 0 failed, 0 waited, 2 without gaps of 4 symbols" in err

    # Complete: a second backfill makes no request at all.
    sim.reset_stats()
    code, err = backfill(capsys, *tickers, *window)
    assert code == 0, err
    assert chart_requests(sim) == 0
    assert "✅ backfill: no gaps in 4 symbol(s): nothing to fetch" in err

    # --no-gaps asks for everything again, and changes nothing. (A new process in real life: forget
    # yfinance's in-process cache of identical GETs.)
    net_yahoo.reset_yfinance_state()
    code, err = backfill(capsys, *tickers, *window, "--no-gaps")
    assert code == 0, err
    assert chart_requests(sim) == len(symbols), err
    assert f"raw_stock_prices: {len(prices)} row(s) stored" in err and "of which 0 new or changed" in err
    assert stored(conn, PRICES) == prices


def test_unknown_and_delisted_symbols_fail_without_storing(make_sim, db_url, conn, capsys):
    sim = make_sim(n_symbols=12, seed=9, today=SIM_TODAY)
    good = sorted(c.symbol for c in sim.universe.listed())[:2]
    dead = next(c.symbol for c in sim.universe.companies if c.delisted)
    code, err = backfill(capsys, "--tickers", ",".join([*good, dead]), "--days", "10")
    # 1 of 3 failed: above MAX_FAILURE_RATIO (20 %), the update's exit rule.
    assert code == 1, err
    assert f"⚠️ {dead}: failed: " in err
    assert "❌ backfill failed: 1 of 3 symbols failed" in err
    assert stored(conn, "SELECT DISTINCT symbol FROM raw_stock_prices") == {(s,) for s in good}


def test_a_429_wave_pauses_and_every_symbol_is_still_stored(make_sim, db_url, conn, capsys):
    sim = make_sim(n_symbols=12, seed=9, today=SIM_TODAY)
    symbols = sorted(c.symbol for c in sim.universe.listed())[:5]
    end = SIM_TODAY - dt.timedelta(days=7)
    start = end - dt.timedelta(days=30)
    # More refusals than yfinance's own retry absorbs: the executor must ask again after the pause.
    sim.inject(*["429"] * 4, path_prefix="/v8/finance/chart/")
    code, err = backfill(capsys, "--tickers", ",".join(symbols), "--start", start.isoformat(),
                         "--end", end.isoformat(), "--workers", "3")
    assert code == 0, err
    assert sim.stats()["faults"].get("429") == 4
    assert "Yahoo rate limit: pausing all Yahoo requests" in err
    assert "5 ok, 0 failed, 0 waited" in err
    assert stored(conn, PRICES) == truth(sim.universe, symbols, start, end)[0]
    assert re.search(r"chart requests: \d+ for 5 symbol\(s\) \(.*with [2-9]", err)


def test_a_database_error_stops_the_run_with_one_line(make_sim, db_url, conn, capsys):
    sim = make_sim(n_symbols=12, seed=9, today=SIM_TODAY)
    symbols = sorted(c.symbol for c in sim.universe.listed())[:3]
    with conn.cursor() as cur:
        cur.execute("CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS"
                    " $$ BEGIN RAISE EXCEPTION 'disk full (simulated)'; END $$;"
                    " CREATE TRIGGER refuse BEFORE INSERT ON raw_stock_prices"
                    " FOR EACH ROW EXECUTE FUNCTION refuse()")
    conn.commit()
    code, err = backfill(capsys, "--tickers", ",".join(symbols), "--days", "10", "--workers", "1")
    assert code == 1
    assert err.strip().splitlines()[-1] == ("❌ writing raw_stock_prices: disk full (simulated)"
                                            f" (database {mask_url(db_url)})")
    # Nothing half-written: the symbol's transaction rolled back, dividends and splits with it.
    assert stored(conn, "SELECT count(*) FROM raw_dividends") == {(0,)}
    assert stored(conn, "SELECT count(*) FROM raw_stock_prices") == {(0,)}


@pytest.mark.parametrize(("argv", "message"), [
    (["--days", "5"], "❌ backfill: name the symbols with --tickers A,B, or --all for every tracked symbol"),
    (["--all", "--start", "2025-02-30"], "❌ --start: expected a date as YYYY-MM-DD, got '2025-02-30'"),
    (["--all", "--start", "2025-03-10", "--end", "2025-03-01"], "❌ --start: 2025-03-10 is after --end 2025-03-01"),
    (["--all", "--end", "2025-03-01"], "❌ --end: needs --start"),
    (["--all", "--scheduler", "mpi"], "❌ --scheduler: expected threads, processes or tcp://HOST:PORT, got 'mpi'"),
    (["--all", "--scheduler", "tcp://127.0.0.1:1"],
     "❌ --scheduler tcp://127.0.0.1:1: DATABASE_URL must name a PostgreSQL server the workers can reach; "
     "the embedded database (under DIVPIPE_DATA_DIR) is this machine's only"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, argv, message):
    code, err = backfill(capsys, *argv)
    assert code == 2
    assert err.strip() == message
