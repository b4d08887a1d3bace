"""The simulated universe: deterministic, dated relative to today, consistent across sources."""

from __future__ import annotations

import datetime as dt

import numpy as np

from divpipe.sim.universe import SCRAPED_SOURCES, Universe

TODAY = dt.date(2026, 11, 20)


def test_same_seed_same_universe_other_seed_other_universe():
    a, b, c = Universe(80, 5, TODAY), Universe(80, 5, TODAY), Universe(80, 6, TODAY)
    assert a.symbols == b.symbols != c.symbols
    sym = a.listed()[0].symbol
    assert a.prices(sym).equals(b.prices(sym))
    assert a.all_dividends() == b.all_dividends()


def test_dated_relative_to_today_on_nyse_sessions():
    u = Universe(40, 1, TODAY)
    frame = u.prices(u.listed()[0].symbol)
    assert frame.index[-1].date() == dt.date(2026, 11, 19)  # the session before "today"
    assert frame.index[0].date() <= TODAY - dt.timedelta(days=365 * 5)
    days = set(frame.index.date)
    assert dt.date(2026, 11, 26) not in days and dt.date(2025, 12, 25) not in days  # holidays
    assert all(d.weekday() < 5 for d in days)
    later = Universe(40, 1, TODAY + dt.timedelta(days=7))
    assert later.prices(later.listed()[0].symbol).index[-1].date() == dt.date(2026, 11, 25)


def test_mix_of_kinds_frequencies_splits_delisted_and_share_classes():
    u = Universe(300, 2, TODAY)
    kinds = {c.quote_type for c in u.companies}
    freqs = {c.frequency for c in u.companies}
    assert kinds == {"EQUITY", "ETF"}
    assert {"monthly", "quarterly", "none"} <= freqs
    assert any(u.splits(s) for s in u.symbols)
    assert u.summary["delisted"] and u.summary["share_classes"]
    share_class = u.company(u.summary["share_classes"][0])
    assert share_class.yahoo_symbol == share_class.symbol.replace(".", "-")
    assert any(c.issuer == "YieldMax" for c in u.companies)
    delisted = u.company(u.summary["delisted"][0])
    assert u.prices(delisted.symbol).empty and not u.dividends(delisted.symbol)


def test_adjusted_close_carries_every_dividend():
    u = Universe(60, 3, TODAY)
    c = next(c for c in u.listed() if c.pays)
    p = u.prices(c.symbol)
    paid = u.paid_dividends(c.symbol)
    ratio = (p["adj_close"] / p["close"]).to_numpy()
    # The adjustment factor steps down exactly at the ex-dates, nowhere else.
    steps = {p.index[i + 1].date() for i in np.nonzero(np.abs(np.diff(ratio)) > 1e-6)[0]}
    assert steps == {d.ex_date for d in paid if d.ex_date > p.index[0].date()}
    assert ratio[-1] == 1.0


def test_each_source_covers_part_and_every_upcoming_dividend_is_covered():
    u = Universe(400, 4, TODAY)
    payers = {c.symbol for c in u.listed() if c.pays}
    covered_keys = set()
    for source in SCRAPED_SOURCES:
        covered = u.covered(source)
        lo, hi = u.window(source)
        assert all(lo <= (d.pay_date if source == "snowball" else d.ex_date) <= hi for d in covered)
        if source == "polygon":
            # A vendor's feed of every US payer; the free sites below must cover the rest between them.
            assert covered and {d.symbol for d in covered} <= payers
            continue
        assert covered and {d.symbol for d in covered} < payers
        covered_keys |= {(d.symbol, d.ex_date) for d in covered}
    upcoming = u.upcoming(60)
    assert upcoming and {(d.symbol, d.ex_date) for d in upcoming} <= covered_keys
    assert all(d.declared and d.declaration_date <= TODAY for d in upcoming)
    # Snowball also shows estimates, which are not (yet) declared dividends.
    estimates = [d for d in u.covered("snowball", include_estimates=True) if not d.declared]
    assert estimates and all(d.declaration_date > TODAY for d in estimates)


def test_truth_info_matches_dividends_and_prices():
    u = Universe(60, 3, TODAY)
    c = next(c for c in u.listed() if c.pays and not c.is_etf)
    info = u.info(c.symbol)
    year_ago = TODAY - dt.timedelta(days=365)
    trailing = sum(d.amount for d in u.paid_dividends(c.symbol) if d.ex_date > year_ago)
    assert info["trailing_annual_dividend_rate"] == round(trailing, 4)
    assert info["price"] == u.prices(c.symbol)["close"].iloc[-1]
    assert info["dividend_yield"] == round(info["trailing_annual_dividend_rate"] / info["price"], 6)
