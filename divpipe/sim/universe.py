"""The simulated market: a deterministic universe of US stocks and ETFs.

Everything follows from `(n_symbols, seed, today)`: symbols, company data,
dividend schedules, splits, and (lazily, per symbol) daily prices. Dates are
relative to `today`, on real NYSE sessions. The universe is also the truth
the tests compare the pipeline's database with.

Conventions, chosen to match what Yahoo reports:
- prices are split-adjusted (Yahoo's `close`); `adj_close` is also adjusted
  for dividends;
- dividend amounts are split-adjusted. Splits all lie more than 2.5 years
  back, before any scraped source's window, so scraped amounts (which are
  never adjusted) agree with Yahoo's wherever both cover a dividend.

Some payers add a second distribution on the ex-date of a regular one, as
BDCs and funds do: stocks a quarterly supplemental dividend, ETFs a December
capital gain (`Dividend.kind`). The scraped sources list each distribution;
Yahoo's chart sums them (`paid_dividends`).

Which scraped source covers which symbol is part of the truth
(`Company.sources`); each source serves the symbol's dividends inside its own
window (see `covered()`).
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
import pandas as pd

from divpipe.sim.calendar import Sessions, sessions
from divpipe.sources import registry

HISTORY_YEARS = 6  # the pipeline asks for 5 years for a new symbol; keep a margin
FUTURE_DAYS = 120  # schedules run this far ahead (declared or estimated)
# The scraped sources, each serving its share of the universe (the registry says which).
SCRAPED_SOURCES = tuple(spec.name for spec in registry.scraped())
SNOWBALL_CATEGORIES = ("us-popular-div", "us-popular-div-funds", "sp500", "nyse", "nasdaq")

# Exchange spelled as we store it -> (Yahoo exchange code, Yahoo full name, NASDAQ Trader code)
EXCHANGES = {
    "NASDAQ": ("NMS", "NasdaqGS", "Q"),
    "NYSE": ("NYQ", "NYSE", "N"),
    "NYSE Arca": ("PCX", "NYSEArca", "P"),
    "NYSE American": ("ASE", "NYSE American", "A"),
    "Cboe BZX": ("BTS", "Cboe US", "Z"),
}

_SECTORS = {
    "Technology": ["Software - Application", "Semiconductors", "Information Technology Services"],
    "Financial Services": ["Banks - Regional", "Asset Management", "Insurance - Diversified"],
    "Healthcare": ["Drug Manufacturers - General", "Medical Devices"],
    "Real Estate": ["REIT - Retail", "REIT - Industrial", "REIT - Residential"],
    "Utilities": ["Utilities - Regulated Electric", "Utilities - Regulated Gas"],
    "Energy": ["Oil & Gas Integrated", "Oil & Gas Midstream"],
    "Consumer Defensive": ["Beverages - Non-Alcoholic", "Household & Personal Products"],
    "Industrials": ["Specialty Industrial Machinery", "Railroads"],
    "Communication Services": ["Telecom Services", "Entertainment"],
}
_WORDS_A = ["Northern", "Pacific", "Summit", "Granite", "Harbor", "Liberty", "Silver", "Evergreen",
            "Atlas", "Crescent", "Pioneer", "Beacon", "Cedar", "Falcon", "Meridian", "Orion"]
_WORDS_B = ["Holdings", "Industries", "Systems", "Energy", "Realty", "Bancorp", "Networks",
            "Therapeutics", "Utilities", "Logistics", "Brands", "Capital", "Materials", "Foods"]
_SUFFIX = ["Inc.", "Corp.", "Co.", "plc", "Group, Inc."]
_ETF_ISSUERS = ["Vantage", "Keystone", "Tidewater", "Bluepeak", "Ironbridge"]
_ETF_THEMES = ["High Dividend", "Dividend Growth", "Covered Call", "Preferred Income", "Equity Income",
               "Real Estate Income", "Short Treasury", "Value"]
_YIELDMAX_UNDERLYINGS = ["TSLA", "NVDA", "AAPL", "AMZN", "MSFT", "COIN", "META", "NFLX", "AMD", "PYPL",
                         "MSTR", "GOOGL", "DIS", "XOM", "JPM", "SNOW", "PLTR", "SQ", "ABNB", "ARKK"]

FREQ_PER_YEAR = {"weekly": 52, "monthly": 12, "quarterly": 4, "none": 0}


@dataclass(frozen=True)
class Dividend:
    symbol: str
    ex_date: dt.date
    amount: float
    record_date: dt.date
    pay_date: dt.date
    declaration_date: dt.date
    frequency: str
    declared: bool  # False: only an estimate (Snowball shows those as "estimated")
    kind: str = "regular"  # or "supplemental", "capital_gain": an extra on a regular one's ex-date


@dataclass(frozen=True)
class Split:
    symbol: str
    date: dt.date
    numerator: int
    denominator: int

    @property
    def ratio(self) -> float:
        return self.numerator / self.denominator


@dataclass
class Company:
    index: int
    symbol: str  # as the exchanges spell it (BRK.B)
    name: str
    quote_type: str  # EQUITY or ETF
    exchange: str  # a key of EXCHANGES
    sector: str | None
    industry: str | None
    frequency: str  # monthly, quarterly, weekly or none
    delisted: bool
    issuer: str | None
    start_price: float
    volatility: float
    base_volume: int
    shares_outstanding: int
    annual_yield: float
    employees: int | None
    sources: frozenset[str] = frozenset()
    snowball_categories: tuple[str, ...] = ()
    holdings: tuple[tuple[str, str, float], ...] = ()  # (symbol, name, weight) for ETFs

    @property
    def yahoo_symbol(self) -> str:
        # Yahoo spells share classes with a dash.
        return self.symbol.replace(".", "-")

    @property
    def is_etf(self) -> bool:
        return self.quote_type == "ETF"

    @property
    def pays(self) -> bool:
        return self.frequency != "none"

    @property
    def website(self) -> str:
        slug = "".join(ch for ch in self.name.lower() if ch.isalnum())[:20]
        return f"https://www.{slug}.example"

    @property
    def summary(self) -> str:
        if self.is_etf:
            return f"{self.name} seeks current income; it is a simulated fund for tests."
        return f"{self.name} operates in {self.industry}. It is a simulated company for tests."


def _extras(c: Company, regular: list[Dividend]) -> list[Dividend]:
    """The extra distributions of a company, on the ex-dates of some regular ones.

    About one payer in five (by index, so the random draws of everything else
    stay as they were): a stock adds a supplemental dividend to every third
    regular one (as BDCs do); an ETF a capital gain to its last one of each
    half-year (funds do it in December, and some in June as well). YieldMax
    funds are left alone (their own pages list one per ex-date).
    """
    if c.issuer == "YieldMax":
        return []
    if not c.is_etf and c.index % 5 == 2:
        return [replace(d, amount=max(round(d.amount * 0.4, 4), 0.0001), kind="supplemental")
                for k, d in enumerate(regular) if k % 3 == 0]
    if c.is_etf and c.index % 5 == 3:
        last_of_half: dict[tuple[int, bool], Dividend] = {}
        for d in regular:
            last_of_half[(d.ex_date.year, d.ex_date.month > 6)] = d
        return [replace(d, amount=round(d.amount * 1.5 + 0.01, 4), kind="capital_gain")
                for d in last_of_half.values()]
    return []


def _d(x: np.datetime64) -> dt.date:
    return x.astype("datetime64[D]").astype(dt.date)


class Universe:
    """N deterministic symbols and everything the simulated sources say about them."""

    def __init__(self, n_symbols: int, seed: int = 0, today: dt.date | None = None):
        if n_symbols < 1:
            raise ValueError("n_symbols must be >= 1")
        self.n_symbols = int(n_symbols)
        self.seed = int(seed)
        self.today = today or dt.date.today()
        self.history_start = self.today - dt.timedelta(days=int(365.25 * HISTORY_YEARS))
        horizon = self.today + dt.timedelta(days=FUTURE_DAYS + 30)
        self.calendar: Sessions = sessions(self.history_start, horizon)
        # Price history ends with the last session BEFORE today: a client asking
        # "up to now" at any hour of `today` then sees the same bars (yfinance
        # drops a bar that starts after the end of the range it asked for).
        self.n_past = self.calendar.index_on_or_after(self.today)
        self.last_session: dt.date = _d(self.calendar.days[self.n_past - 1])
        self._price_cache: dict[str, pd.DataFrame] = {}
        self._price_lock = threading.Lock()
        rng = np.random.default_rng([self.seed, 0xD1F])
        self.companies: list[Company] = self._make_companies(rng)
        self._by_symbol = {c.symbol: c for c in self.companies}
        self._by_yahoo = {c.yahoo_symbol: c for c in self.companies}
        self._dividends: dict[str, list[Dividend]] = {}
        self._div_raw: dict[str, tuple] = {}
        self._splits: dict[str, list[Split]] = {}
        self._make_events(rng)

    # -- lookups ---------------------------------------------------------

    @property
    def symbols(self) -> list[str]:
        """Every symbol, delisted ones included, as the exchanges spell them."""
        return [c.symbol for c in self.companies]

    def listed(self) -> list[Company]:
        return [c for c in self.companies if not c.delisted]

    def company(self, symbol: str) -> Company:
        return self._by_symbol[symbol]

    def by_yahoo_symbol(self, yahoo_symbol: str) -> Company | None:
        return self._by_yahoo.get(yahoo_symbol)

    def dividends(self, symbol: str, *, include_estimates: bool = False) -> list[Dividend]:
        """Declared dividends (past and upcoming) of `symbol`, by ex-date."""
        rows = self._dividends.get(symbol)
        if rows is None:
            raw = self._div_raw.get(symbol)
            if raw is None:
                return []
            company = self._by_symbol[symbol]
            rows = [Dividend(symbol, e, a, rec, p, dcl, company.frequency, ok)
                    for e, a, rec, p, dcl, ok in zip(*raw, strict=True)]
            rows = sorted(rows + _extras(company, rows), key=lambda d: (d.ex_date, d.kind != "regular"))
            self._dividends[symbol] = rows
        return rows if include_estimates else [d for d in rows if d.declared]

    def paid_dividends(self, symbol: str) -> list[Dividend]:
        """Dividends with an ex-date up to the last session, as Yahoo's chart reports them:
        the distributions of one ex-date summed into one event."""
        by_day: dict[dt.date, Dividend] = {}
        for d in self.dividends(symbol):
            if d.ex_date > self.last_session:
                continue
            first = by_day.get(d.ex_date)
            by_day[d.ex_date] = d if first is None else replace(first, amount=round(first.amount + d.amount, 4))
        return list(by_day.values())

    def splits(self, symbol: str) -> list[Split]:
        return self._splits.get(symbol, [])

    def holdings(self, symbol: str) -> list[tuple[str, str, float]]:
        """An ETF's top holdings: (symbol as the exchanges spell it, name, weight as a fraction)."""
        return list(self.company(symbol).holdings)

    def all_dividends(self, *, include_estimates: bool = False) -> list[Dividend]:
        out = []
        for c in self.companies:
            out.extend(self.dividends(c.symbol, include_estimates=include_estimates))
        return out

    # -- what each scraped source covers ---------------------------------

    def window(self, source: str) -> tuple[dt.date, dt.date]:
        """The ex-date (Snowball: payment-date) window a scraped source serves."""
        t = self.today
        if source == "nasdaq":
            return self.history_start, t + dt.timedelta(days=FUTURE_DAYS)
        if source == "polygon":
            return self.history_start, t + dt.timedelta(days=FUTURE_DAYS)
        if source == "cboe":
            return dt.date(t.year - 1, 1, 1), t + dt.timedelta(days=FUTURE_DAYS)
        if source == "yieldmax":
            return t - dt.timedelta(days=730), t + dt.timedelta(days=FUTURE_DAYS)
        if source == "nyse":
            return t - dt.timedelta(days=30), t + dt.timedelta(days=60)
        if source == "snowball":
            return t - dt.timedelta(days=30), t + dt.timedelta(days=90)
        raise KeyError(source)

    def covered(self, source: str, *, include_estimates: bool = False) -> list[Dividend]:
        """The dividends `source` serves (Snowball's window is on payment dates)."""
        lo, hi = self.window(source)
        out = []
        for c in self.companies:
            if source not in c.sources:
                continue
            for d in self.dividends(c.symbol, include_estimates=include_estimates and source == "snowball"):
                key = d.pay_date if source == "snowball" else d.ex_date
                if lo <= key <= hi:
                    out.append(d)
        return out

    def upcoming(self, days: int = 60) -> list[Dividend]:
        """Declared dividends with an ex-date from today to `days` ahead."""
        hi = self.today + dt.timedelta(days=days)
        return [d for d in self.all_dividends() if self.today <= d.ex_date <= hi]

    # -- prices ----------------------------------------------------------

    def prices(self, symbol: str) -> pd.DataFrame:
        """Daily bars up to today: open, high, low, close (split-adjusted),
        adj_close (also dividend-adjusted), volume; `ts` is the session open
        in epoch seconds. Indexed by session date. Empty for delisted symbols."""
        with self._price_lock:
            cached = self._price_cache.get(symbol)
        if cached is not None:
            return cached
        frame = self._make_prices(self.company(symbol))
        with self._price_lock:
            if len(self._price_cache) > 4096:
                self._price_cache.clear()
            self._price_cache[symbol] = frame
        return frame

    def last_close(self, symbol: str) -> float | None:
        p = self.prices(symbol)
        return float(p["close"].iloc[-1]) if len(p) else None

    def info(self, symbol: str) -> dict:
        """Company data as the pipeline should store it (yield as a fraction)."""
        c = self.company(symbol)
        close = self.last_close(symbol)
        year_ago = self.today - dt.timedelta(days=365)
        trailing = round(sum(d.amount for d in self.paid_dividends(symbol) if d.ex_date > year_ago), 4)
        declared = [d for d in self.dividends(symbol) if d.kind == "regular"]
        forward = round(declared[-1].amount * FREQ_PER_YEAR[c.frequency], 4) if declared else None
        prices = self.prices(symbol)
        return {
            "symbol": c.symbol,
            "name": c.name,
            "quote_type": c.quote_type,
            "exchange": c.exchange,
            "sector": c.sector,
            "industry": c.industry,
            "country": "United States",
            "currency": "USD",
            "website": c.website,
            "employees": c.employees,
            "market_cap": int(c.shares_outstanding * close) if close else None,
            "shares_outstanding": c.shares_outstanding,
            "price": close,
            "trailing_annual_dividend_rate": trailing,
            "dividend_yield": round(trailing / close, 6) if close else None,
            "dividend_rate": forward,
            "frequency": c.frequency,
            "fifty_two_week_high": float(prices["high"].iloc[-252:].max()) if len(prices) else None,
            "fifty_two_week_low": float(prices["low"].iloc[-252:].min()) if len(prices) else None,
            "fund_family": c.issuer if c.is_etf else None,
            "delisted": c.delisted,
        }

    # -- generation ------------------------------------------------------

    def _make_companies(self, rng: np.random.Generator) -> list[Company]:
        n = self.n_symbols
        n_yieldmax = min(len(_YIELDMAX_UNDERLYINGS), max(1, n // 40)) if n >= 10 else 0
        n_etf = max(n * 3 // 10, n_yieldmax + (1 if n >= 3 else 0))
        n_delisted = max(1, n // 60) if n >= 10 else 0
        n_classes = max(1, n // 100) if n >= 10 else 0

        etf_idx = rng.choice(n, size=n_etf, replace=False)
        kinds = np.full(n, "EQUITY", dtype=object)
        kinds[etf_idx] = "ETF"
        yieldmax = {int(i): k for k, i in enumerate(etf_idx[:n_yieldmax])}
        tickers = self._make_tickers(rng, n, set(yieldmax))
        companies: list[Company] = []
        u = rng.random((n, 8))
        prices = np.round(np.exp(rng.uniform(np.log(8), np.log(400), n)), 2).tolist()
        sizes = np.exp(rng.uniform(np.log(2e8), np.log(5e11), n)).tolist()
        vols = rng.uniform(0.006, 0.018, n).tolist()
        volumes = rng.uniform(5e4, 5e6, n).astype(int).tolist()
        staff = rng.uniform(50, 200_000, n).astype(int).tolist()
        sector_names = list(_SECTORS)
        for i in range(n):
            is_etf = kinds[i] == "ETF"
            is_ym = i in yieldmax
            ticker = tickers[i]
            r = u[i]
            if is_ym:
                freq = "monthly" if r[0] < 0.7 else "weekly"
            elif is_etf:
                freq = "monthly" if r[0] < 0.4 else "quarterly" if r[0] < 0.8 else "none"
            else:
                freq = "quarterly" if r[0] < 0.55 else "monthly" if r[0] < 0.65 else "none"
            if is_etf:
                exchange = "NYSE Arca" if (is_ym or r[1] < 0.6) else ("Cboe BZX" if r[1] < 0.85 else "NASDAQ")
                sector = industry = None
                if is_ym:
                    issuer = "YieldMax"
                    under = _YIELDMAX_UNDERLYINGS[yieldmax[i]]
                    name = f"YieldMax {under} Option Income Strategy ETF"
                else:
                    issuer = _ETF_ISSUERS[int(r[2] * len(_ETF_ISSUERS))]
                    name = f"{issuer} {_ETF_THEMES[int(r[3] * len(_ETF_THEMES))]} ETF"
            else:
                exchange = "NASDAQ" if r[1] < 0.45 else "NYSE" if r[1] < 0.95 else "NYSE American"
                sector = sector_names[int(r[2] * len(sector_names))]
                inds = _SECTORS[sector]
                industry = inds[int(r[3] * len(inds))]
                issuer = None
                name = (f"{_WORDS_A[int(r[4] * len(_WORDS_A))]} {_WORDS_B[int(r[5] * len(_WORDS_B))]} "
                        f"{_SUFFIX[int(r[6] * len(_SUFFIX))]}")
            if is_ym:
                annual_yield = 0.3 + 0.5 * r[7]
            elif freq == "none":
                annual_yield = 0.0
            else:
                annual_yield = 0.01 + 0.07 * r[7]
            start_price = prices[i]
            companies.append(Company(
                index=i, symbol=ticker, name=name, quote_type=str(kinds[i]), exchange=exchange,
                sector=sector, industry=industry, frequency=freq, delisted=False, issuer=issuer,
                start_price=start_price, volatility=vols[i], base_volume=volumes[i],
                shares_outstanding=int(sizes[i] / start_price),
                annual_yield=float(annual_yield),
                employees=None if is_etf else staff[i],
            ))
        stocks = [c for c in companies if not c.is_etf]
        # A few delisted symbols (Yahoo answers 404) and share classes (BRK.B style).
        for c in stocks[:n_delisted]:
            c.delisted = True
            c.frequency = "none"
        taken = {c.symbol for c in companies}
        for c in stocks[n_delisted:n_delisted + n_classes]:
            candidate = c.symbol[:3] + ".B"
            if candidate not in taken:
                taken.discard(c.symbol)
                c.symbol = candidate
                taken.add(candidate)
                c.name = c.name.rsplit(" ", 1)[0] + " Class B"
        self._assign_sources(rng, companies)
        self._assign_holdings(rng, companies)
        return companies

    @staticmethod
    def _make_tickers(rng: np.random.Generator, n: int, yieldmax: set[int]) -> list[str]:
        letters = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
        seen: set[str] = set()
        out: list[str] = []
        while len(out) < n:
            lengths = rng.choice([2, 3, 4], size=n, p=[0.15, 0.45, 0.40])
            chars = rng.integers(0, 26, size=(n, 4))
            for k in range(n):
                if len(out) >= n:
                    break
                # YieldMax-style tickers: four letters ending in Y (TSLY, NVDY).
                want_ym = len(out) in yieldmax
                t = "".join(letters[chars[k, :4 if want_ym else int(lengths[k])]])
                if want_ym:
                    t = t[:3] + "Y"
                if t not in seen:
                    seen.add(t)
                    out.append(t)
        return out

    @staticmethod
    def _assign_sources(rng: np.random.Generator, companies: list[Company]) -> None:
        u = rng.random((len(companies), 6))
        for c in companies:
            if c.delisted or not c.pays:
                continue
            r = u[c.index]
            src = set()
            if r[0] < 0.8:
                src.add("nasdaq")
            if c.issuer == "YieldMax":
                src.add("yieldmax")
            if c.is_etf and (c.exchange == "Cboe BZX" or r[1] < 0.3):
                src.add("cboe")
            if c.exchange == "NYSE" and not c.is_etf and r[2] < 0.25:
                src.add("nyse")
            cats = []
            if c.is_etf:
                if r[3] < 0.5:
                    cats.append("us-popular-div-funds")
            else:
                if c.annual_yield > 0.05 or r[3] < 0.2:
                    cats.append("us-popular-div")
                if c.shares_outstanding * c.start_price > 5e10:
                    cats.append("sp500")
                if c.exchange == "NYSE" and r[4] < 0.5:
                    cats.append("nyse")
                if c.exchange == "NASDAQ" and r[4] < 0.5:
                    cats.append("nasdaq")
            # Every payer is in at least one calendar, as in real life: the
            # future-dividends job must have something to consolidate.
            if not src & {"nasdaq", "cboe", "yieldmax"} and not cats:
                cats.append("us-popular-div-funds" if c.is_etf else "us-popular-div")
            if cats:
                src.add("snowball")
            # Polygon/Massive lists every US payer's declared distributions.
            src.add("polygon")
            c.sources = frozenset(src)
            c.snowball_categories = tuple(cats)
        # Even a small universe gives NYSE's exception list something to show:
        # a monthly payer always has an ex-date in the page's window.
        if not any("nyse" in c.sources for c in companies):
            nyse = [c for c in companies if c.exchange == "NYSE" and not c.is_etf and c.pays and not c.delisted]
            nyse.sort(key=lambda c: c.frequency != "monthly")
            if nyse:
                nyse[0].sources = nyse[0].sources | {"nyse"}

    @staticmethod
    def _assign_holdings(rng: np.random.Generator, companies: list[Company]) -> None:
        pool = [c for c in companies if not c.is_etf and not c.delisted]
        if not pool:
            return
        for c in companies:
            if not c.is_etf:
                continue
            k = min(10, len(pool))
            picks = rng.choice(len(pool), size=k, replace=False)
            weights = np.sort(rng.dirichlet(np.ones(k)))[::-1] * rng.uniform(0.3, 0.7)
            c.holdings = tuple((pool[p].symbol, pool[p].name, round(float(w), 4))
                               for p, w in zip(picks, weights, strict=True))

    def _make_events(self, rng: np.random.Generator) -> None:
        days = self.calendar.days
        today = np.datetime64(self.today, "D")
        first = np.datetime64(self.history_start, "D")
        last = days[-1] - np.timedelta64(30, "D")
        hol = days  # busday ops must skip NYSE holidays as well as weekends
        weekmask = "1111100"
        all_bdays = np.arange(first - np.timedelta64(60, "D"), days[-1] + np.timedelta64(1, "D"))
        holidays = np.setdiff1d(all_bdays[np.is_busday(all_bdays)], hol)
        for c in self.companies:
            r = np.random.default_rng([self.seed, c.index, 7])
            if c.pays:
                self._div_raw[c.symbol] = self._schedule(c, r, first, last, today, holidays, weekmask)
            if not c.is_etf and not c.delisted and r.random() < 0.04:
                back = int(r.integers(int(365 * 2.6), int(365 * 5.5)))
                when = days[self.calendar.index_on_or_after(self.today - dt.timedelta(days=back))]
                num, den = [(2, 1), (3, 1), (4, 1), (3, 2), (1, 10)][int(r.integers(0, 5))]
                self._splits[c.symbol] = [Split(c.symbol, _d(when), num, den)]

    def _schedule(self, c: Company, r: np.random.Generator, first, last, today, holidays, weekmask):
        per_year = FREQ_PER_YEAR[c.frequency]
        step = 7.0 if per_year == 52 else 365.25 / per_year
        offset = r.uniform(0, step)
        n = int(((last - first).astype(int) - offset) // step) + 1
        cand = first + np.round(offset + step * np.arange(n)).astype("timedelta64[D]")
        idx = np.searchsorted(self.calendar.days, cand, side="left")
        idx = np.unique(idx[idx < len(self.calendar.days)])
        ex = self.calendar.days[idx]
        ex = ex[ex <= last]
        lead = int(r.integers(7, 41)) if per_year < 52 else int(r.integers(1, 4))
        pay_lag = int(r.integers(3, 20)) if per_year < 52 else 1
        declared = np.busday_offset(ex, -lead, roll="backward", weekmask=weekmask, holidays=holidays)
        if "nyse" in c.sources:
            # NYSE lists the exceptions: ex-dates not on the record date.
            record = np.busday_offset(ex, -1, roll="backward", weekmask=weekmask, holidays=holidays)
        else:
            record = ex
        pay = np.busday_offset(ex, pay_lag, roll="forward", weekmask=weekmask, holidays=holidays)
        base = c.start_price * c.annual_yield / per_year
        k = np.arange(len(ex))
        if c.is_etf:
            amounts = base * np.exp(r.normal(0, 0.15 if c.issuer != "YieldMax" else 0.35, len(ex)))
        else:
            growth = 1 + r.uniform(0, 0.08)
            amounts = base * growth ** (k // per_year)
        amounts = np.maximum(np.round(amounts, 4), 0.0001)
        # Plain lists now, Dividend objects on first use: building 300,000
        # objects up front would dominate the time to create a big universe.
        return (ex.tolist(), amounts.tolist(), record.tolist(), pay.tolist(), declared.tolist(),
                (declared <= today).tolist())

    def _make_prices(self, c: Company) -> pd.DataFrame:
        cal = self.calendar
        n = self.n_past
        if c.delisted:
            return pd.DataFrame(columns=["ts", "open", "high", "low", "close", "adj_close", "volume"])
        r = np.random.default_rng([self.seed, c.index, 1])
        sigma = c.volatility
        rets = r.normal(0.0002, sigma, n)
        rets[0] = 0.0
        close = c.start_price * np.exp(np.cumsum(rets))
        prev = np.concatenate([[close[0]], close[:-1]])
        open_ = prev * np.exp(r.normal(0, sigma / 3, n))
        high = np.maximum(open_, close) * (1 + np.abs(r.normal(0, sigma / 2, n)))
        low = np.minimum(open_, close) * (1 - np.abs(r.normal(0, sigma / 2, n)))
        close, open_, high, low = (np.round(x, 2) for x in (close, open_, high, low))
        volume = (c.base_volume * np.exp(r.normal(0, 0.4, n))).astype(np.int64)
        factors = np.ones(n)
        for d in self.paid_dividends(c.symbol):
            i = cal.index_on_or_after(d.ex_date)
            if 0 < i < n:
                factors[i - 1] *= 1.0 - d.amount / close[i - 1]
        adj = np.round(close * np.cumprod(factors[::-1])[::-1], 6)
        index = pd.DatetimeIndex(cal.days[:n].astype("datetime64[ns]"), name="date")
        return pd.DataFrame({"ts": cal.opens[:n], "open": open_, "high": high, "low": low, "close": close,
                             "adj_close": adj, "volume": volume}, index=index)

    # -- truth for tests and /__sim/truth ---------------------------------

    @cached_property
    def summary(self) -> dict:
        return {
            "n_symbols": self.n_symbols,
            "seed": self.seed,
            "today": self.today.isoformat(),
            "last_session": self.last_session.isoformat(),
            "history_start": self.history_start.isoformat(),
            "symbols": len(self.companies),
            "etfs": sum(c.is_etf for c in self.companies),
            "payers": sum(c.pays for c in self.companies),
            "delisted": [c.symbol for c in self.companies if c.delisted],
            "share_classes": [c.symbol for c in self.companies if "." in c.symbol],
            "splits": sum(len(v) for v in self._splits.values()),
            "dividends": sum(sum(v[5]) for v in self._div_raw.values()),
        }
