"""Real yfinance 1.x, redirected to the simulator, returns the universe's truth."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
import yfinance as yf


def _pick(universe, *, etf=False, split=False):
    for c in universe.listed():
        if c.is_etf != etf or not c.pays or "." in c.symbol:
            continue
        if split and not universe.splits(c.symbol):
            continue
        return c
    pytest.fail("the universe has no such symbol")


def test_history_has_prices_dividends_and_splits_equal_to_truth(make_sim):
    sim = make_sim(n_symbols=120, seed=11)
    u = sim.universe
    company = _pick(u, split=True)
    start = u.today - dt.timedelta(days=365 * 5)
    frame = yf.Ticker(company.yahoo_symbol).history(start=start.isoformat(), auto_adjust=False, actions=True)

    truth = u.prices(company.symbol)
    truth = truth[truth.index >= pd.Timestamp(start)]
    assert list(frame.index.date) == list(truth.index.date)
    assert frame.index.tz.key == "America/New_York"
    assert (frame["Close"].to_numpy() == truth["close"].to_numpy()).all()
    assert abs(frame["Adj Close"].to_numpy() - truth["adj_close"].to_numpy()).max() < 1e-6
    assert (frame["Volume"].to_numpy() == truth["volume"].to_numpy()).all()

    paid = {d.ex_date: d.amount for d in u.paid_dividends(company.symbol) if d.ex_date >= start}
    got = frame.loc[frame["Dividends"] > 0, "Dividends"]
    assert dict(zip(got.index.date, got.to_numpy(), strict=True)) == paid and paid

    splits = {s.date: s.ratio for s in u.splits(company.symbol) if s.date >= start}
    got = frame.loc[frame["Stock Splits"] > 0, "Stock Splits"]
    assert dict(zip(got.index.date, got.to_numpy(), strict=True)) == splits and splits


def test_info_calendar_and_top_holdings(sim):
    u = sim.universe
    stock = _pick(u)
    info = yf.Ticker(stock.yahoo_symbol).info
    truth = u.info(stock.symbol)
    assert info["longName"] == truth["name"]
    assert (info["sector"], info["industry"]) == (truth["sector"], truth["industry"])
    assert info["quoteType"] == "EQUITY"
    assert info["marketCap"] == truth["market_cap"]
    # Yahoo's quirk, reproduced: dividendYield in percent points, the trailing one a fraction.
    assert info["trailingAnnualDividendYield"] == pytest.approx(truth["dividend_yield"])
    assert info["dividendYield"] == pytest.approx(truth["dividend_yield"] * 100, abs=0.01)

    upcoming = [d for d in u.dividends(stock.symbol) if d.ex_date >= u.today]
    expected = upcoming[0] if upcoming else u.dividends(stock.symbol)[-1]
    calendar = yf.Ticker(stock.yahoo_symbol).calendar
    assert calendar["Ex-Dividend Date"] == expected.ex_date
    assert calendar["Dividend Date"] == expected.pay_date

    etf = _pick(u, etf=True)
    holdings = yf.Ticker(etf.yahoo_symbol).funds_data.top_holdings
    assert list(holdings.index) == [s.replace(".", "-") for s, _, _ in etf.holdings]
    assert list(holdings["Holding Percent"]) == [w for _, _, w in etf.holdings]


def test_share_class_is_dashed_at_yahoo_and_delisted_is_404(sim):
    u = sim.universe
    share_class = next(c for c in u.listed() if "." in c.symbol)
    assert not yf.Ticker(share_class.yahoo_symbol).history(period="5d").empty
    delisted = next(c for c in u.companies if c.delisted)
    assert yf.Ticker(delisted.yahoo_symbol).history(period="5d").empty
    assert sim.requests_to("query2.finance.yahoo.com", f"/v8/finance/chart/{delisted.yahoo_symbol}") >= 1
    # The dotted spelling is not a Yahoo symbol: the simulator answers 404 like Yahoo.
    assert yf.Ticker(share_class.symbol).history(period="5d").empty


def test_cookie_is_fetched_once_and_the_cache_lives_in_the_data_dir(sim, tmp_path):
    u = sim.universe
    for c in u.listed()[:3]:
        yf.Ticker(c.yahoo_symbol).history(period="1mo")
    assert sim.requests_to("fc.yahoo.com") == 1
    assert (tmp_path / "data" / "yfinance" / "tkr-tz.db").exists()


def test_timezone_cache_persists_between_runs(sim):
    from divpipe.net.yahoo import reset_yfinance_state

    symbol = sim.universe.listed()[0].yahoo_symbol
    chart = f"/v8/finance/chart/{symbol}"
    yf.Ticker(symbol).history(period="1mo")
    assert sim.requests_to("query2.finance.yahoo.com", chart) == 2  # timezone probe + data
    reset_yfinance_state()  # as if a new process started: only the on-disk caches remain
    yf.Ticker(symbol).history(period="1mo")
    assert sim.requests_to("query2.finance.yahoo.com", chart) == 3
    assert sim.requests_to("fc.yahoo.com") == 1  # the cookie came from the cache too


def test_429_raises_yfratelimiterror_and_pauses_every_yahoo_request(sim):
    from yfinance.exceptions import YFRateLimitError

    from divpipe.net import yahoo as net_yahoo

    symbol = sim.universe.listed()[0].yahoo_symbol
    sim.inject("429", "429", host="query2.finance.yahoo.com", path_prefix="/v8/finance/chart/")
    with pytest.raises(YFRateLimitError):
        yf.Ticker(symbol).history(period="1mo")
    assert sim.stats()["faults"] == {"429": 2}
    assert net_yahoo.cooldown_remaining() > 0.5  # Retry-After: 1 from the second 429
    frame = yf.Ticker(symbol).history(period="1mo")
    assert not frame.empty
    assert net_yahoo.cooldown_remaining() == 0


def test_requests_backend_is_redirected_too(sim, tmp_path):
    import os
    import subprocess
    import sys

    company = _pick(sim.universe)
    year_ago = sim.universe.today - dt.timedelta(days=365)
    script = (
        "import yfinance as yf\n"
        "from divpipe.net.yahoo import prepare_yfinance\n"
        "prepare_yfinance()\n"
        "from yfinance import _http\n"
        "assert not _http.HAS_CURL_CFFI\n"
        f"f = yf.Ticker({company.yahoo_symbol!r}).history(start={year_ago.isoformat()!r}, auto_adjust=False)\n"
        "print(len(f), int((f['Dividends'] > 0).sum()))\n"
    )
    env = {**os.environ, "YF_DISABLE_CURL_CFFI": "1", "DIVPIPE_SIMULATOR_URL": sim.url,
           "DIVPIPE_DATA_DIR": str(tmp_path / "sub"), "DIVPIPE_ENV_FILE": os.devnull}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    rows, dividends = map(int, out.stdout.split())
    assert rows > 200 and dividends == sum(d.ex_date >= year_ago for d in sim.universe.paid_dividends(company.symbol))
    assert sim.requests_to("query2.finance.yahoo.com", f"/v8/finance/chart/{company.yahoo_symbol}") >= 1
