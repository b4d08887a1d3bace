"""`--mode discover [--validate]` end to end: simulated NASDAQ Trader files and Yahoo, a real database."""

from __future__ import annotations

import datetime as dt

import pytest

from divpipe.config import reset_settings
from divpipe.jobs.modes import main
from divpipe.market_time import exchange_today

pytestmark = pytest.mark.slow

SIM_TODAY = exchange_today() - dt.timedelta(days=1)


def run_discover(capsys, *argv: str) -> tuple[int, str]:
    code = main(["--mode", "discover", *argv])
    return code, capsys.readouterr().err


def rows(conn, sql: str, *params) -> set[tuple]:
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return set(cur.fetchall())


@pytest.fixture
def market(make_sim, db_url, conn):
    """A universe; some symbols tracked, one excluded, and odd symbols in the scraped tables."""
    sim = make_sim(n_symbols=40, seed=13, today=SIM_TODAY)
    listed = sorted(c.symbol for c in sim.universe.listed())
    dead = next(c.symbol for c in sim.universe.companies if c.delisted)
    tracked, excluded = listed[:5], listed[5]
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO raw_stocks (symbol, company) VALUES (%s, 'kept as it was')",
                        [(s,) for s in tracked])
        cur.execute("INSERT INTO raw_excluded_symbols (symbol, consecutive_failures, excluded)"
                    " VALUES (%s, 5, true)", (excluded,))
        # Seen only by scrapers: a symbol Yahoo does not know, and a delisted one.
        cur.execute("INSERT INTO raw_dividends_cboe (symbol, ex_date, amount) VALUES ('ZZZQ', %s, 0.1),"
                    " (%s, %s, 0.2)", (SIM_TODAY, excluded, SIM_TODAY))
        cur.execute("INSERT INTO raw_yieldmax_dividends (symbol, ex_date, amount) VALUES (%s, %s, 0.3)",
                    (dead, SIM_TODAY))
    conn.commit()
    return sim, listed, tracked, excluded, dead


def test_discovers_directory_and_scraped_symbols_never_the_excluded(market, conn, capsys):
    sim, listed, tracked, excluded, dead = market
    code, err = run_discover(capsys)
    assert code == 0, err

    stocks = {s: rest for s, *rest in rows(conn, "SELECT symbol, quote_type, exchange, discovered_from, company"
                                                 " FROM raw_stocks")}
    expected = (set(listed) - {excluded}) | {"ZZZQ", dead}
    assert set(stocks) == expected
    assert excluded not in stocks
    assert "ZXZZT" not in stocks and "ZTEST" not in stocks  # test issues
    for symbol in set(listed) - set(tracked) - {excluded}:
        c = sim.universe.company(symbol)
        assert stocks[symbol][:3] == [c.quote_type, c.exchange, "nasdaqtrader"], symbol
    assert stocks["ZZZQ"][2] == "raw_dividends_cboe"
    assert stocks[dead][2] == "raw_yieldmax_dividends"
    assert all(stocks[s][3] == "kept as it was" for s in tracked)
    new = len(expected) - len(tracked)
    assert f"✅ discover: {new} new symbol(s) added to raw_stocks" in err

    # Weekly re-run: nothing new.
    code, err = run_discover(capsys)
    assert code == 0
    assert "✅ discover: 0 new symbol(s) added" in err


def chart_requests(sim) -> int:
    return sum(n for paths in sim.stats()["requests"].values() for p, n in paths.items()
               if p.startswith("/v8/finance/chart/"))


def test_validate_keeps_only_symbols_with_recent_data(market, conn, capsys, monkeypatch):
    sim, listed, tracked, excluded, dead = market
    monkeypatch.setenv("EXCLUDE_AFTER_FAILURES", "2")
    reset_settings()
    sim.reset_stats()
    code, err = run_discover(capsys, "--validate")
    assert code == 0, err
    added = {s for (s,) in rows(conn, "SELECT symbol FROM raw_stocks")} - set(tracked)
    assert added == set(listed) - set(tracked) - {excluded}
    assert "2 without recent data (0 now excluded) and 0 unvalidated left out" in err
    # One chart request per new symbol (plus yfinance's one retry of each 404).
    assert len(added) + 2 <= chart_requests(sim) <= len(added) + 4
    # The dead ones count a failed week each ...
    assert rows(conn, "SELECT symbol, consecutive_failures, excluded FROM raw_excluded_symbols"
                      " WHERE NOT excluded") == {("ZZZQ", 1, False), (dead, 1, False)}

    # ... and after EXCLUDE_AFTER_FAILURES weeks they are excluded and never asked for again.
    code, err = run_discover(capsys, "--validate")
    assert "2 without recent data (2 now excluded)" in err
    sim.reset_stats()
    code, err = run_discover(capsys, "--validate")
    assert code == 0
    assert "0 new symbol(s) added" in err and chart_requests(sim) == 0


def test_changed_directory_file_fails_with_nothing_written(market, conn, capsys, monkeypatch):
    from divpipe.sim import pages

    original = pages.Pages.symbol_directory

    def broken(self, which):
        status, ctype, body = original(self, which)
        return status, ctype, body.replace(b"ACT Symbol|", b"Ticker|")

    monkeypatch.setattr(pages.Pages, "symbol_directory", broken)
    before = rows(conn, "SELECT symbol FROM raw_stocks")
    code, err = run_discover(capsys)
    assert code == 1
    assert "❌ nasdaqtrader: unexpected response from" in err and "'ACT Symbol'" in err
    assert rows(conn, "SELECT symbol FROM raw_stocks") == before


def test_a_watchlist_replaces_the_directory(market, conn, capsys, monkeypatch, tmp_path):
    sim, listed, tracked, excluded, _ = market
    wanted = [s for s in listed if s not in tracked and s != excluded][:3]
    watchlist = tmp_path / "watchlist.txt"
    watchlist.write_text(f"# my income picks\n{wanted[0].lower()}\n{wanted[1]}, {wanted[2]}  # two on a line\n"
                         f"{excluded}\nnot a symbol!\n\n{wanted[0]}\n")
    monkeypatch.setenv("SYMBOLS_FILE", str(watchlist))
    reset_settings()
    sim.reset_stats()
    code, err = run_discover(capsys, "--validate")
    assert code == 0, err
    added = {s: origin for s, origin in rows(conn, "SELECT symbol, discovered_from FROM raw_stocks")
             if s not in tracked}
    assert added == dict.fromkeys(wanted, "watchlist")  # never the excluded one, nothing else listed
    assert "line 5:" in err and "skipped" in err
    paths = {p for per_host in sim.stats()["requests"].values() for p in per_host}
    assert not any(p.endswith(("nasdaqlisted.txt", "otherlisted.txt")) for p in paths)


def test_an_unreadable_watchlist_is_one_line_and_exit_2(db_url, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("SYMBOLS_FILE", str(tmp_path / "missing.txt"))
    reset_settings()
    code, err = run_discover(capsys)
    assert code == 2
    missing = tmp_path / "missing.txt"
    assert err.strip().splitlines()[-1] == f"❌ SYMBOLS_FILE: cannot read {missing}: No such file or directory"
