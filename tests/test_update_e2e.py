"""`--mode update` end to end: the simulated market, real yfinance, a real PostgreSQL database.

The simulator's `today` is the last exchange day before now, so every bar it
has is in the past and the chart request returns all of them.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import ROUND_HALF_EVEN, Decimal

import pytest

from divpipe.db.connect import mask_url
from divpipe.jobs.modes import main
from divpipe.jobs.update import years_before
from divpipe.market_time import exchange_today
from divpipe.sim import server as sim_server
from divpipe.sim.routes import route

pytestmark = pytest.mark.slow

SIM_TODAY = exchange_today() - dt.timedelta(days=1)
# Yahoo data requests (what the idempotence bound counts); cookie and crumb aside.
DATA_PATHS = ("/v8/finance/chart/", "/v10/finance/quoteSummary/", "/v7/finance/quote",
              "/ws/fundamentals-timeseries/")


def q(value: float, scale: int) -> Decimal:
    return Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_EVEN)


def run_update(capsys, *argv: str) -> tuple[int, str]:
    code = main(["--mode", "update", *argv])
    return code, capsys.readouterr().err


def track(conn, symbols) -> None:
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO raw_stocks (symbol) VALUES (%s) ON CONFLICT DO NOTHING",
                        [(s,) for s in symbols])
    conn.commit()


def data_requests(sim) -> int:
    return sum(n for paths in sim.stats()["requests"].values() for p, n in paths.items()
               if p.startswith(DATA_PATHS))


def chart_requests(sim, yahoo_symbol: str | None = None) -> int:
    prefix = "/v8/finance/chart/" + (yahoo_symbol or "")
    return sum(n for paths in sim.stats()["requests"].values() for p, n in paths.items()
               if p.startswith(prefix) and (yahoo_symbol is None or p == prefix))


def stored(conn, sql: str) -> set[tuple]:
    with conn.cursor() as cur:
        cur.execute(sql)
        return set(cur.fetchall())


def truth_rows(universe, start_of):
    """What the database must hold: every bar, dividend and split from each symbol's start."""
    prices, dividends, splits = set(), set(), set()
    for c in universe.listed():
        start = start_of(c.symbol)
        frame = universe.prices(c.symbol)
        for day, row in frame.iterrows():
            if day.date() >= start:
                prices.add((c.symbol, day.date(), q(row.open, 6), q(row.high, 6), q(row.low, 6),
                            q(row.close, 6), q(row.adj_close, 6), int(row.volume)))
        dividends |= {(c.symbol, d.ex_date, q(d.amount, 8)) for d in universe.paid_dividends(c.symbol)
                      if d.ex_date >= start}
        splits |= {(c.symbol, s.date, q(s.ratio, 8)) for s in universe.splits(c.symbol) if s.date >= start}
    return prices, dividends, splits


@pytest.fixture
def big(make_sim, db_url, conn, monkeypatch):
    monkeypatch.setenv("YAHOO_WORKERS", "8")
    sim = make_sim(n_symbols=200, seed=11, today=SIM_TODAY, client_rate=400.0)
    track(conn, sim.universe.symbols)
    return sim


def test_exact_then_idempotent_over_200_symbols(big, conn, capsys):
    sim, universe = big, big.universe
    # Splits lie 2.6 to 5.5 years back: fetch the symbols that have one with the
    # default five years, the rest with two (the same code path, fewer rows to write).
    with_splits = [c.symbol for c in universe.listed() if universe.splits(c.symbol)]
    assert with_splits
    code, err = run_update(capsys, "--tickers", ",".join(with_splits))
    assert code == 0, err
    code, err = run_update(capsys, "--history-years", "2")
    assert code == 0, err
    delisted = [c.symbol for c in universe.companies if c.delisted]
    assert delisted and all(f"⚠️ {s}: " in err for s in delisted)
    assert f"{len(universe.listed())} ok, {len(delisted)} failed, 0 skipped of 200 symbols" in err

    today = exchange_today()
    five, two = years_before(today, 5), years_before(today, 2)
    prices, dividends, splits = truth_rows(universe, lambda s: five if s in with_splits else two)
    assert len(prices) > 90_000 and dividends and splits
    assert stored(conn, "SELECT symbol, date, open, high, low, close, adj_close, volume"
                        " FROM raw_stock_prices") == prices
    assert stored(conn, "SELECT symbol, ex_date, amount FROM raw_dividends WHERE source = 'yahoo'") == dividends
    assert stored(conn, "SELECT symbol, split_date, ratio FROM raw_stock_splits") == splits
    # Company data with the yield as a fraction.
    some = universe.listed()[0].symbol
    info = universe.info(some)
    row = stored(conn, f"SELECT company, quote_type, exchange, dividend_yield, company_updated_at IS NOT NULL"
                       f" FROM raw_stocks WHERE symbol = '{some}'").pop()
    assert row[:3] == (info["name"], info["quote_type"], info["exchange"])
    assert row[3] == q(info["dividend_yield"], 8) and row[4]

    # Second night, nothing new at the source: nothing inserted, one chart request per symbol.
    sim.reset_stats()
    code, err = run_update(capsys)
    assert code == 0, err
    assert "raw_stock_prices: 0 inserted, 0 updated" in err
    assert "raw_dividends: 0 inserted, 0 updated" in err
    assert "raw_stock_splits: 0 inserted, 0 updated" in err
    assert "raw_stocks: 0 inserted, 0 updated" in err
    assert data_requests(sim) <= 1.1 * 200
    assert stored(conn, "SELECT count(*) FROM raw_stock_prices") == {(len(prices),)}


def test_rate_limited_source_still_yields_all_data(make_sim, db_url, conn, capsys, monkeypatch):
    monkeypatch.setenv("YAHOO_WORKERS", "6")
    # The client may go 4x faster than the server allows: 429s are certain.
    sim = make_sim(n_symbols=30, seed=3, today=SIM_TODAY, rate_limit=15, client_rate=60.0)
    track(conn, sim.universe.symbols)
    # And a wave that outlasts yfinance's own single retry, so our cool-down has to act.
    sim.inject(*["429"] * 6, path_prefix="/v8/finance/chart/")
    code, err = run_update(capsys, "--history-years", "1")
    assert code == 0, err

    assert sim.stats()["faults"].get("429", 0) >= 6
    pauses = int(err.split(" rate-limit pause(s)")[0].rsplit("; ", 1)[1])
    assert pauses >= 1
    # Log lines name the worker that wrote them.
    assert re.search(r"\[yahoo_\d+\] divpipe\.fanout: ⚠️ \S+: rate limited .* all workers pause", err)
    listed = len(sim.universe.listed())
    assert f"{listed} ok, {30 - listed} failed" in err
    start = years_before(exchange_today(), 1)
    prices, dividends, _ = truth_rows(sim.universe, lambda s: start)
    assert stored(conn, "SELECT symbol, date, open, high, low, close, adj_close, volume"
                        " FROM raw_stock_prices") == prices
    assert stored(conn, "SELECT symbol, ex_date, amount FROM raw_dividends") == dividends
    assert stored(conn, "SELECT count(*) FROM raw_stocks WHERE company_updated_at IS NOT NULL") == {(listed,)}


def excluded_rows(conn) -> dict[str, tuple[int, bool]]:
    return {s: (n, x) for s, n, x in stored(conn, "SELECT symbol, consecutive_failures, excluded"
                                                   " FROM raw_excluded_symbols")}


def test_delisted_symbol_is_excluded_only_after_the_configured_runs(make_sim, db_url, conn, capsys,
                                                                     monkeypatch):
    monkeypatch.setenv("EXCLUDE_AFTER_FAILURES", "2")
    sim = make_sim(n_symbols=20, seed=5, today=SIM_TODAY)
    track(conn, sim.universe.symbols)
    (dead,) = [c for c in sim.universe.companies if c.delisted]
    flaky = sim.universe.listed()[0]

    code, err = run_update(capsys, "--history-years", "1")
    assert code == 0, err
    assert excluded_rows(conn) == {dead.symbol: (1, False)}
    assert f"{dead.symbol}: 1 of 2 consecutive failures before exclusion" in err

    # Second run: server errors on another symbol are retried by the HTTP layer, and the symbol is
    # updated (without our retries, yfinance's own second try would have met a 500 too).
    sim.inject("500", "500", "500", "500", path_prefix=f"/v8/finance/chart/{flaky.yahoo_symbol}")
    code, err = run_update(capsys)
    assert code == 0, err
    assert sim.stats()["faults"].get("500") == 4
    assert f"⚠️ {flaky.symbol}: " not in err
    assert excluded_rows(conn) == {dead.symbol: (2, True)}
    assert f"⚠️ {dead.symbol} excluded after 2 consecutive failed runs" in err

    # Third run: the excluded symbol is not asked for any more; the flaky one is fine again.
    sim.reset_stats()
    code, err = run_update(capsys)
    assert code == 0, err
    assert chart_requests(sim, dead.yahoo_symbol) == 0
    assert "19 ok, 0 failed, 0 skipped of 19 symbols" in err
    assert excluded_rows(conn) == {dead.symbol: (2, True)}


@pytest.mark.parametrize(("error", "reported"), [
    # Yahoo's reason is not about the symbol.
    ({"code": "Internal Server Error", "description": "Internal Server Error"},
     "YFPricesMissingError: $SYM: Internal Server Error"),
    # No reason at all, which yfinance words "possibly delisted": net knows it gave up on a 500.
    (None, "YahooUnavailable: Yahoo failed (query2.finance.yahoo.com/v8/finance/chart/SYM: 500)"),
])
def test_a_server_error_that_outlasts_the_retries_never_counts_toward_exclusion(make_sim, db_url, conn, capsys,
                                                                                 monkeypatch, error, reported):
    monkeypatch.setenv("EXCLUDE_AFTER_FAILURES", "1")
    monkeypatch.setenv("HTTP_RETRIES", "1")
    sim = make_sim(n_symbols=8, seed=3, today=SIM_TODAY)
    down = sim.universe.listed()[0]
    track(conn, [down.symbol])
    chart_path = f"/v8/finance/chart/{down.yahoo_symbol}"

    def yahoo_is_down(universe, pages, host, path, q, *request_headers):
        # Yahoo's own JSON error body on a 500, the shape yfinance reads as "no price data".
        if path == chart_path:
            body = json.dumps({"chart": {"result": None, "error": error}}).encode()
            return 500, "application/json", body, {}
        return route(universe, pages, host, path, q, *request_headers)

    monkeypatch.setattr(sim_server, "route", yahoo_is_down)
    code, err = run_update(capsys, "--history-years", "1")
    # Every chart attempt failed: ours (1 + 1 retry) on yfinance's first and second try.
    assert chart_requests(sim, down.yahoo_symbol) == 4
    assert code == 1, err  # the only symbol failed
    assert f"⚠️ {down.symbol}: {reported.replace('SYM', down.yahoo_symbol)}" in err
    assert excluded_rows(conn) == {}


def test_tickers_limit_and_from_date(make_sim, db_url, conn, capsys):
    sim = make_sim(n_symbols=12, seed=9, today=SIM_TODAY)
    listed = sorted(c.symbol for c in sim.universe.listed())
    tracked, untracked = listed[:6], listed[6]
    track(conn, tracked)

    # --tickers: only the named symbol is fetched, and an untracked one is added.
    code, err = run_update(capsys, "--tickers", untracked.lower(), "--history-years", "1")
    assert code == 0, err
    assert stored(conn, f"SELECT discovered_from FROM raw_stocks WHERE symbol = '{untracked}'") == {("cli",)}
    assert stored(conn, "SELECT DISTINCT symbol FROM raw_stock_prices") == {(untracked,)}
    # One chart request and no timezone probe: the tz cache was seeded with New York.
    assert chart_requests(sim) == chart_requests(sim, untracked.replace(".", "-")) == 1

    # --limit: the first N in symbol order.
    code, err = run_update(capsys, "--limit", "2", "--history-years", "1")
    assert code == 0, err
    assert stored(conn, "SELECT DISTINCT symbol FROM raw_stock_prices") == {(untracked,), (tracked[0],),
                                                                           (tracked[1],)}

    # --from-date: fetch from that date whatever is stored already.
    first = stored(conn, f"SELECT min(date) FROM raw_stock_prices WHERE symbol = '{tracked[0]}'").pop()[0]
    from_date = first - dt.timedelta(days=200)
    code, err = run_update(capsys, "--tickers", tracked[0], "--from-date", from_date.isoformat())
    assert code == 0, err
    frame = sim.universe.prices(tracked[0])
    expected_first = min(d.date() for d in frame.index if d.date() >= from_date)
    assert stored(conn, f"SELECT min(date) FROM raw_stock_prices WHERE symbol = '{tracked[0]}'") == {
        (expected_first,)}
    assert "raw_stock_prices: " in err and "raw_stock_prices: 0 inserted" not in err


def test_bad_date_through_the_real_entry_point(db_env):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run([sys.executable, str(root / "update_stock_v2.py"), "--mode", "update",
                           "--from-date", "2026-02-30"], env=db_env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "❌ --from-date: expected a date as YYYY-MM-DD, got '2026-02-30'"


def test_database_error_is_fatal(make_sim, db_url, conn, capsys):
    sim = make_sim(n_symbols=12, seed=9, today=SIM_TODAY)
    track(conn, sim.universe.symbols)
    with conn.cursor() as cur:
        cur.execute("CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS"
                    " $$ BEGIN RAISE EXCEPTION 'disk full (simulated)'; END $$;"
                    " CREATE TRIGGER refuse BEFORE INSERT ON raw_stock_prices"
                    " FOR EACH ROW EXECUTE FUNCTION refuse()")
    conn.commit()
    code, err = run_update(capsys, "--history-years", "1")
    assert code == 1
    assert err.strip().splitlines()[-1] == ("❌ writing raw_stock_prices: disk full (simulated)"
                                            f" (database {mask_url(db_url)})")
    # The failed batch left nothing behind, and no symbol was blamed for it.
    assert stored(conn, "SELECT count(*) FROM raw_dividends") == {(0,)}
    assert stored(conn, "SELECT count(*) FROM raw_excluded_symbols") == {(0,)}


def requests_by_kind(sim) -> dict[str, int]:
    kinds = {"chart": "/v8/finance/chart/", "quoteSummary": "/v10/finance/quoteSummary/"}
    return {k: sum(n for paths in sim.stats()["requests"].values() for p, n in paths.items()
                   if p.startswith(prefix)) for k, prefix in kinds.items()}


def test_only_flags_store_only_their_part(make_sim, db_url, conn, capsys):
    sim = make_sim(n_symbols=12, seed=9, today=SIM_TODAY)
    track(conn, sim.universe.symbols)
    listed = len(sim.universe.listed())
    count = "SELECT (SELECT count(*) FROM raw_stock_prices), (SELECT count(*) FROM raw_dividends)," \
            " (SELECT count(*) FROM raw_stocks WHERE company_updated_at IS NOT NULL)"

    code, err = run_update(capsys, "--prices-only", "--history-years", "1")
    assert code == 0, err
    (prices, dividends, companies), = stored(conn, count)
    assert prices > 0 and dividends == 0 and companies == 0
    assert requests_by_kind(sim)["quoteSummary"] == 0
    # raw_stocks.price follows the latest close every night, not only with the monthly company data.
    assert stored(conn, "SELECT symbol, price FROM raw_stocks WHERE price IS NOT NULL") == {
        (c.symbol, q(sim.universe.last_close(c.symbol), 6)) for c in sim.universe.listed()}

    # The bookmarks are the price dates: a dividends backfill names its start.
    start = years_before(exchange_today(), 1)
    code, err = run_update(capsys, "--dividends-only", "--from-date", start.isoformat())
    assert code == 0, err
    truth_dividends = truth_rows(sim.universe, lambda s: start)[1]
    assert truth_dividends
    assert stored(conn, count) == {(prices, len(truth_dividends), 0)}

    sim.reset_stats()
    code, err = run_update(capsys, "--companies-only")
    assert code == 0, err
    assert requests_by_kind(sim)["chart"] == 0
    assert stored(conn, count).pop()[2] == listed
    # Fresh now: a second run skips them all (the delisted one is due again, and fails again).
    code, err = run_update(capsys, "--companies-only")
    assert f"0 ok, 1 failed, {listed} skipped of 12 symbols" in err
    # Company data alone never counts towards exclusion: only the two chart runs did.
    dead = next(c.symbol for c in sim.universe.companies if c.delisted)
    assert excluded_rows(conn) == {dead: (2, False)}


def test_too_many_failures_fail_the_run_without_blaming_the_symbols(make_sim, db_url, conn, capsys):
    sim = make_sim(n_symbols=12, seed=9, today=SIM_TODAY)
    good = sorted(c.symbol for c in sim.universe.listed())[:6]
    unknown = ["ZZQA", "ZZQB", "ZZQC"]  # Yahoo answers 404: 3 of 9 = 33 % > MAX_FAILURE_RATIO 20 %
    track(conn, good + unknown)
    code, err = run_update(capsys, "--history-years", "1")
    assert code == 1
    assert "❌ update failed: 3 of 9 symbols failed (33% > MAX_FAILURE_RATIO 20%)" in err
    assert all(f"⚠️ {s}: " in err for s in unknown)
    assert stored(conn, "SELECT count(*) FROM raw_excluded_symbols") == {(0,)}
    # The symbols that worked are stored all the same.
    assert stored(conn, "SELECT count(DISTINCT symbol) FROM raw_stock_prices") == {(6,)}

    # Below the ratio the run succeeds, with a warning per failure, and the failure counts.
    with conn.cursor() as cur:
        cur.execute("DELETE FROM raw_stocks WHERE symbol IN ('ZZQB', 'ZZQC')")
    conn.commit()
    code, err = run_update(capsys)
    assert code == 0, err
    assert "⚠️ update: 6 ok, 1 failed, 0 skipped of 7 symbols" in err
    assert excluded_rows(conn) == {"ZZQA": (1, False)}
