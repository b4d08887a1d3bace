"""`--mode update` end to end: the simulated market, real yfinance, a real PostgreSQL database.

The simulator's `today` is the last exchange day before now, so every bar it
has is in the past and the chart request returns all of them.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_EVEN, Decimal

import pytest

from divpipe.jobs.modes import main
from divpipe.jobs.update import exchange_today, years_before

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
