"""update-holdings against the simulator and a real database."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from divpipe.config import reset_settings
from divpipe.errors import SourceFormatError
from divpipe.jobs import holdings
from divpipe.market_time import exchange_today
from divpipe.sources import yahoo_funds


def args():
    parser = argparse.ArgumentParser()
    holdings.add_arguments(parser)
    return parser.parse_args([])


def track(conn, rows):
    with conn, conn.cursor() as cur:
        for symbol, quote_type in rows:
            cur.execute("INSERT INTO raw_stocks (symbol, quote_type) VALUES (%s, %s)", (symbol, quote_type))


def stored(conn):
    with conn, conn.cursor() as cur:
        cur.execute("SELECT symbol, holdings, holdings_updated_at, xmin::text FROM raw_stocks ORDER BY symbol")
        return {r[0]: r[1:] for r in cur.fetchall()}


def history(conn):
    with conn, conn.cursor() as cur:
        cur.execute("SELECT symbol, as_of_date, holdings, holdings_count, xmin::text"
                    " FROM raw_holdings_history ORDER BY symbol, as_of_date")
        return cur.fetchall()


def summary(caplog):
    lines = [r.getMessage() for r in caplog.records if "update-holdings:" in r.getMessage()]
    assert len(lines) == 1
    return lines[0]


def expected(company):
    return [{"symbol": s, "name": n, "weight": w} for s, n, w in company.holdings]


def test_parse_top_holdings_maps_yahoo_spelling_and_drops_blank_rows():
    frame = pd.DataFrame({"Symbol": ["BRK-B", "AAPL", ""], "Name": ["Berkshire  Hathaway", None, "x"],
                          "Holding Percent": [0.071234567, float("nan"), 0.1]}).set_index("Symbol")
    assert yahoo_funds.parse_top_holdings("SPY", frame) == [
        yahoo_funds.Holding("BRK.B", "Berkshire Hathaway", 0.071235),
        yahoo_funds.Holding("AAPL", None, None),
    ]
    empty = pd.DataFrame({"Symbol": [], "Name": [], "Holding Percent": []}).set_index("Symbol")
    assert yahoo_funds.parse_top_holdings("SPY", empty) == []
    with pytest.raises(SourceFormatError, match="Holding Percent"):
        yahoo_funds.parse_top_holdings("SPY", pd.DataFrame({"Name": ["a"]}, index=["A"]))


def test_every_etf_gets_holdings_and_one_history_row(sim, db_url, conn, caplog):
    caplog.set_level(logging.INFO)
    u = sim.universe
    etfs = [c for c in u.listed() if c.is_etf][:6]
    stock = next(c for c in u.listed() if not c.is_etf)
    track(conn, [(c.symbol, "ETF") for c in etfs] + [(stock.symbol, "EQUITY")])

    assert holdings.run(args()) == 0

    rows = stored(conn)
    for c in etfs:
        assert rows[c.symbol][0] == expected(c) and expected(c)
        assert rows[c.symbol][1] is not None
    assert rows[stock.symbol][0] is None  # not an ETF: not asked
    hist = history(conn)
    assert [(s, d, h, n) for s, d, h, n, _ in hist] == [
        (c.symbol, exchange_today(), expected(c), len(c.holdings)) for c in sorted(etfs, key=lambda c: c.symbol)
    ]
    assert summary(caplog).startswith(
        "✅ update-holdings: 6 ETFs; holdings changed 6, confirmed 0, unchanged today 0; history rows added 6;"
    )
    assert sim.requests_to("query2.finance.yahoo.com", "/v10/finance/quoteSummary/") == 6


def test_second_run_same_day_adds_no_row_and_changes_nothing(sim, db_url, conn, caplog):
    caplog.set_level(logging.INFO)
    etfs = [c for c in sim.universe.listed() if c.is_etf][:4]
    track(conn, [(c.symbol, "ETF") for c in etfs])
    assert holdings.run(args()) == 0
    before, hist_before = stored(conn), history(conn)
    caplog.clear()

    assert holdings.run(args()) == 0

    assert stored(conn) == before  # xmin included: not even rewritten
    assert history(conn) == hist_before
    assert "holdings changed 0, confirmed 0, unchanged today 4; history rows added 0" in summary(caplog)


def test_next_day_confirms_and_adds_a_history_row(sim, db_url, conn, caplog):
    caplog.set_level(logging.INFO)
    etf = next(c for c in sim.universe.listed() if c.is_etf)
    track(conn, [(etf.symbol, "ETF")])
    assert holdings.run(args()) == 0
    # Pretend that run was yesterday.
    yesterday = exchange_today() - dt.timedelta(days=1)
    with conn, conn.cursor() as cur:
        cur.execute("UPDATE raw_stocks SET holdings_updated_at = holdings_updated_at - interval '1 day'")
        cur.execute("UPDATE raw_holdings_history SET as_of_date = %s", (yesterday,))
    caplog.clear()

    assert holdings.run(args()) == 0

    assert [(d, n) for _, d, _, n, _ in history(conn)] == [(yesterday, len(etf.holdings)),
                                                           (exchange_today(), len(etf.holdings))]
    assert stored(conn)[etf.symbol][1].date() >= dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    assert "holdings changed 0, confirmed 1" in summary(caplog)


def test_etf_without_holdings_is_counted_and_keeps_what_it_had(sim, db_url, conn, caplog):
    caplog.set_level(logging.INFO)
    u = sim.universe
    etf = next(c for c in u.listed() if c.is_etf)
    # Yahoo serves no topHoldings for these: a stock we believe is a fund, and a delisted symbol.
    stock = next(c for c in u.listed() if not c.is_etf)
    delisted = next(c for c in u.companies if c.delisted)
    track(conn, [(etf.symbol, "ETF"), (stock.symbol, "ETF"), (delisted.symbol, "ETF")])
    old = [{"symbol": "OLD", "name": "Kept", "weight": 0.5}]
    with conn, conn.cursor() as cur:
        cur.execute("UPDATE raw_stocks SET holdings = %s::jsonb WHERE symbol = %s",
                    ('[{"symbol": "OLD", "name": "Kept", "weight": 0.5}]', stock.symbol))

    assert holdings.run(args()) == 0

    rows = stored(conn)
    assert rows[etf.symbol][0] == expected(etf)
    assert rows[stock.symbol][0] == old  # never replaced by nothing
    assert rows[delisted.symbol][0] is None
    assert [s for s, *_ in history(conn)] == [etf.symbol]
    line = summary(caplog)
    assert line.startswith("✅ update-holdings: 3 ETFs; holdings changed 1")
    assert "no holdings 1, unknown to Yahoo 1, failed 0" in line


def test_all_fetches_failing_is_a_failed_run(make_sim, db_url, conn, caplog, monkeypatch):
    sim = make_sim(fault_rate=1.0, fault_kinds=("500",))
    monkeypatch.setenv("HTTP_RETRIES", "0")
    reset_settings()
    caplog.set_level(logging.INFO)
    etfs = [c for c in sim.universe.listed() if c.is_etf][:2]
    track(conn, [(c.symbol, "ETF") for c in etfs])
    assert holdings.run(args()) == 1
    assert summary(caplog).startswith("❌ update-holdings: 2 ETFs")
    assert "failed 2" in summary(caplog)
    assert history(conn) == []


def test_no_etfs_is_fine(sim, db_url, conn, caplog):
    caplog.set_level(logging.INFO)
    track(conn, [("AAPL", "EQUITY")])
    assert holdings.run(args()) == 0
    assert summary(caplog).startswith("✅ update-holdings: 0 ETFs")


def test_command_line_end_to_end(sim, db_url, conn):
    etfs = [c for c in sim.universe.listed() if c.is_etf][:3]
    track(conn, [(c.symbol, "ETF") for c in etfs])
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run([sys.executable, str(root / "update_stock_v2.py"), "--mode", "update-holdings"],
                          env=dict(os.environ), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "✅ update-holdings: 3 ETFs; holdings changed 3" in proc.stderr
    assert len(history(conn)) == 3
