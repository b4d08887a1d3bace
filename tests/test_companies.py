"""refresh-companies against the simulator and a real database."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from divpipe.config import reset_settings
from divpipe.jobs import companies
from divpipe.sources.yahoo import Company

ROOT = Path(__file__).resolve().parent.parent


def args(**kw):
    parser = argparse.ArgumentParser()
    companies.add_arguments(parser)
    namespace = parser.parse_args([])
    for key, value in kw.items():
        setattr(namespace, key, value)
    return namespace


def track(conn, symbols, **columns):
    with conn, conn.cursor() as cur:
        for symbol in symbols:
            names = ["symbol", *columns]
            cur.execute(
                f"INSERT INTO raw_stocks ({', '.join(names)}) VALUES ({', '.join(['%s'] * len(names))})",
                [symbol, *columns.values()],
            )


def stocks(conn):
    with conn, conn.cursor() as cur:
        cur.execute(
            "SELECT symbol, company, exchange, quote_type, sector, industry, currency, market_cap,"
            " company_updated_at, company_attempted_at FROM raw_stocks ORDER BY symbol"
        )
        names = [d[0] for d in cur.description]
        return {row[0]: dict(zip(names, row, strict=True)) for row in cur.fetchall()}


def summary(caplog):
    lines = [r.getMessage() for r in caplog.records if "refresh-companies:" in r.getMessage()]
    assert len(lines) == 1
    return lines[0]


def test_columns_follow_the_company_record():
    assert set(companies.COLUMNS) == {f.name for f in dataclasses.fields(Company)} - {"symbol"}


def test_fills_missing_companies_from_yahoo(sim, db_url, conn, caplog):
    caplog.set_level(logging.INFO)
    u = sim.universe
    listed = [c for c in u.listed()][:12]
    track(conn, [c.symbol for c in listed])

    assert companies.run(args(limit=100)) == 0

    rows = stocks(conn)
    for c in listed:
        row = rows[c.symbol]
        truth = u.info(c.symbol)
        assert row["company"] == truth["name"]
        assert row["quote_type"] == c.quote_type
        assert row["exchange"] == c.exchange
        assert (row["sector"], row["industry"]) == (c.sector, c.industry)
        assert row["currency"] == "USD"
        assert row["market_cap"] == truth["market_cap"]
        assert row["company_updated_at"] is not None and row["company_attempted_at"] is not None
    line = summary(caplog)
    assert line.startswith(
        "✅ refresh-companies: 12 symbols attempted, 12 symbols filled, 0 symbols still missing"
    )


def test_known_values_are_kept_and_never_replaced_with_null(sim, db_url, conn):
    u = sim.universe
    stock = next(c for c in u.listed() if not c.is_etf)
    etf = next(c for c in u.listed() if c.is_etf)
    track(conn, [stock.symbol], company="Our Own Name", currency="EUR")
    # Yahoo has no sector for a fund: the one we know stays, it is not overwritten with NULL.
    track(conn, [etf.symbol], sector="Derivative Income")

    assert companies.run(args()) == 0

    rows = stocks(conn)
    assert rows[stock.symbol]["company"] == "Our Own Name"
    assert rows[stock.symbol]["currency"] == "EUR"
    assert rows[stock.symbol]["sector"] == stock.sector  # the gap was filled
    assert rows[etf.symbol]["sector"] == "Derivative Income"
    assert rows[etf.symbol]["company"] == etf.name


def test_unresolvable_symbols_do_not_take_every_nights_slots(sim, db_url, conn, caplog):
    caplog.set_level(logging.INFO)
    u = sim.universe
    delisted = [c.symbol for c in u.companies if c.delisted]
    assert delisted
    # "AAAA*" sort first: on symbol order alone they would be picked every night.
    unknown = ["AAAA1", "AAAA2", "AAAA3"]
    # Good symbols that sort after every unresolvable one.
    good = sorted(c.symbol for c in u.listed() if c.symbol > delisted[0])[:6]
    assert len(good) == 6
    track(conn, [*unknown, *delisted[:1], *good])

    assert companies.run(args(limit=4)) == 0
    first = stocks(conn)
    attempted_first = {s for s, r in first.items() if r["company_attempted_at"]}
    assert attempted_first == {*unknown, delisted[0]}
    assert "0 symbols filled" in summary(caplog) and "unknown to Yahoo 4" in summary(caplog)

    caplog.clear()
    assert companies.run(args(limit=4)) == 0
    second = stocks(conn)
    attempted_second = {s for s, r in second.items()
                        if r["company_attempted_at"] != first[s]["company_attempted_at"]}
    assert attempted_second == set(good[:4])
    assert all(second[s]["company"] for s in good[:4])
    assert "4 symbols filled, 6 symbols still missing" in summary(caplog)

    caplog.clear()
    assert companies.run(args(limit=4)) == 0
    third = stocks(conn)
    attempted_third = {s for s, r in third.items()
                       if r["company_attempted_at"] != second[s]["company_attempted_at"]}
    # The two good symbols never tried go first; the free slots go to the longest-waiting retries.
    assert attempted_third == {*good[4:], "AAAA1", "AAAA2"}
    assert all(third[s]["company"] for s in good)


def test_second_run_changes_nothing(sim, db_url, conn):
    symbols = [c.symbol for c in sim.universe.listed()[:5]]
    track(conn, symbols)
    assert companies.run(args()) == 0
    before = stocks(conn)
    requests_before = sim.stats()
    assert companies.run(args()) == 0
    assert stocks(conn) == before
    assert sim.stats() == requests_before  # nothing was missing, so nothing was fetched


def test_yahoo_down_fails_and_still_records_the_attempts(make_sim, db_url, conn, caplog, monkeypatch):
    sim = make_sim(fault_rate=1.0, fault_kinds=("500",))
    monkeypatch.setenv("HTTP_RETRIES", "0")
    reset_settings()
    caplog.set_level(logging.INFO)
    symbols = [c.symbol for c in sim.universe.listed()[:3]]
    track(conn, symbols)
    assert companies.run(args()) == 1
    assert summary(caplog).startswith("❌ refresh-companies: 3 symbols attempted, 0 symbols filled")
    rows = stocks(conn)
    assert all(rows[s]["company_attempted_at"] for s in symbols)
    assert not any(rows[s]["company"] for s in symbols)


@pytest.mark.parametrize("bad", ["0", "-5", "x", "100001"])
def test_bad_limit_is_usage_error(db_env, bad):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "update_stock_v2.py"), "--mode", "refresh-companies", "--limit", bad],
        env=db_env, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2
    assert "--limit" in proc.stderr


def test_command_line_end_to_end(sim, db_url, conn):
    symbols = [c.symbol for c in sim.universe.listed()[:3]]
    track(conn, symbols)
    proc = subprocess.run(
        [sys.executable, str(ROOT / "update_stock_v2.py"), "--mode", "refresh-companies", "--limit", "2"],
        env=dict(os.environ), capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "✅ refresh-companies: 2 symbols attempted, 2 symbols filled, 1 symbols still missing" in proc.stderr
