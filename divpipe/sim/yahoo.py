"""Yahoo Finance as yfinance 1.x sees it: cookie, crumb, chart, quoteSummary, quote, timeseries.

Payload shapes follow what yfinance's own parsers read (yfinance/scrapers/
history.py, quote.py, funds.py, utils.parse_quotes/parse_actions); values come
from the universe. Unknown and delisted symbols get Yahoo's 404 bodies.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from zoneinfo import ZoneInfo

import numpy as np

from divpipe.sim.calendar import EXCHANGE_TZ
from divpipe.sim.universe import EXCHANGES, FREQ_PER_YEAR, Company, Universe

CRUMB = "SimCrumb0x1"
COOKIE = "A3=d=AQABBsimulatorcookie&S=AQAAAsim; Max-Age=31557600; Path=/; SameSite=None"
_NY = ZoneInfo(EXCHANGE_TZ)
_RANGES = ["1d", "5d", "1mo", "3mo", "6mo", "1y", "2y", "5y", "10y", "ytd", "max"]

Reply = tuple[int, str, bytes]  # status, content type, body


def _json(status: int, payload) -> Reply:
    return status, "application/json;charset=utf-8", json.dumps(payload, separators=(",", ":")).encode()


def _midnight_utc(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp())


def _offset_now() -> tuple[int, str]:
    now = dt.datetime.now(_NY)
    return int(now.utcoffset().total_seconds()), now.tzname() or "EST"


def _company(u: Universe, yahoo_symbol: str) -> Company | None:
    c = u.by_yahoo_symbol(yahoo_symbol)
    return None if c is None or c.delisted else c


# -- chart ----------------------------------------------------------------

def chart(u: Universe, yahoo_symbol: str, q: dict[str, str]) -> Reply:
    c = _company(u, yahoo_symbol)
    if c is None:
        return _json(404, {"chart": {"result": None, "error": {
            "code": "Not Found", "description": "No data found, symbol may be delisted"}}})
    prices = u.prices(c.symbol)
    ts = prices["ts"].to_numpy()
    if "period1" in q or "period2" in q:
        try:
            p1 = int(float(q.get("period1", "0")))
            p2 = int(float(q.get("period2", str(int(time.time())))))
        except ValueError:
            return _json(400, {"chart": {"result": None, "error": {
                "code": "Bad Request", "description": "Invalid input - period1/period2"}}})
        lo, hi = np.searchsorted(ts, p1, "left"), np.searchsorted(ts, p2, "left")
    else:
        rng = q.get("range", "1mo")
        if rng not in _RANGES:
            return _json(422, {"chart": {"result": None, "error": {
                "code": "Unprocessable Entity", "description": f"Invalid range: {rng}"}}})
        hi = len(ts)
        short = {"1d": 1, "5d": 5}
        lo = max(0, hi - short[rng]) if rng in short else _range_start(u, prices, rng)
    window = prices.iloc[lo:hi]
    events = q.get("events", "")
    meta = _chart_meta(u, c, prices, q)
    result: dict = {"meta": meta}
    if len(window):
        result["timestamp"] = window["ts"].astype(int).tolist()
        t_lo, t_hi = int(window["ts"].iloc[0]), int(window["ts"].iloc[-1])
        ev: dict = {}
        if "div" in events:
            divs = {}
            for d in u.paid_dividends(c.symbol):
                i = u.calendar.index_on_or_after(d.ex_date)
                when = int(u.calendar.opens[i])
                if t_lo <= when <= t_hi:
                    divs[str(when)] = {"amount": d.amount, "date": when}
            if divs:
                ev["dividends"] = divs
        if "split" in events:
            splits = {}
            for s in u.splits(c.symbol):
                when = int(u.calendar.opens[u.calendar.index_on_or_after(s.date)])
                if t_lo <= when <= t_hi:
                    splits[str(when)] = {"date": when, "numerator": s.numerator, "denominator": s.denominator,
                                         "splitRatio": f"{s.numerator}:{s.denominator}"}
            if splits:
                ev["splits"] = splits
        if ev:
            result["events"] = ev
        result["indicators"] = {
            "quote": [{
                "open": window["open"].tolist(), "high": window["high"].tolist(),
                "low": window["low"].tolist(), "close": window["close"].tolist(),
                "volume": window["volume"].astype(int).tolist(),
            }],
            "adjclose": [{"adjclose": window["adj_close"].tolist()}],
        }
    else:
        result["indicators"] = {"quote": [{}], "adjclose": [{}]}
    return _json(200, {"chart": {"result": [result], "error": None}})


def _range_start(u: Universe, prices, rng: str) -> int:
    if rng == "max":
        return 0
    today = u.today
    if rng == "ytd":
        start = dt.date(today.year, 1, 1)
    else:
        months = {"1mo": 1, "3mo": 3, "6mo": 6, "1y": 12, "2y": 24, "5y": 60, "10y": 120}[rng]
        start = (np.datetime64(today, "M") - months).astype("datetime64[D]").astype(dt.date)
        start = start.replace(day=min(today.day, 28))
    return int(np.searchsorted(prices.index.values.astype("datetime64[D]"), np.datetime64(start, "D")))


def _chart_meta(u: Universe, c: Company, prices, q) -> dict:
    gmtoffset, tzname = _offset_now()
    code, full, _ = EXCHANGES[c.exchange]
    last = prices.iloc[-1]
    year = prices.iloc[-252:]
    i = u.n_past - 1
    period = {"timezone": tzname, "gmtoffset": gmtoffset}
    o, cl = int(u.calendar.opens[i]), int(u.calendar.closes[i])
    return {
        "currency": "USD", "symbol": c.yahoo_symbol, "exchangeName": code, "fullExchangeName": full,
        "instrumentType": c.quote_type, "firstTradeDate": int(prices["ts"].iloc[0]),
        "regularMarketTime": cl, "hasPrePostMarketData": True, "gmtoffset": gmtoffset,
        "timezone": tzname, "exchangeTimezoneName": EXCHANGE_TZ,
        "regularMarketPrice": float(last["close"]), "fiftyTwoWeekHigh": float(year["high"].max()),
        "fiftyTwoWeekLow": float(year["low"].min()), "regularMarketDayHigh": float(last["high"]),
        "regularMarketDayLow": float(last["low"]), "regularMarketVolume": int(last["volume"]),
        "longName": c.name, "shortName": c.name[:30],
        "chartPreviousClose": float(prices["close"].iloc[-2]) if len(prices) > 1 else float(last["close"]),
        "priceHint": 2,
        "currentTradingPeriod": {
            "pre": {**period, "start": o - 19800, "end": o},
            "regular": {**period, "start": o, "end": cl},
            "post": {**period, "start": cl, "end": cl + 14400},
        },
        "dataGranularity": q.get("interval", "1d"), "range": q.get("range", ""),
        "validRanges": _RANGES,
    }


# -- quoteSummary ---------------------------------------------------------

def _modules(u: Universe, c: Company) -> dict[str, dict]:
    info = u.info(c.symbol)
    gmtoffset, tzname = _offset_now()
    code = EXCHANGES[c.exchange][0]
    close = info["price"]
    prices = u.prices(c.symbol)
    prev = float(prices["close"].iloc[-2]) if len(prices) > 1 else close
    paid = u.paid_dividends(c.symbol)
    declared = u.dividends(c.symbol)
    upcoming = [d for d in declared if d.ex_date >= u.today]
    nxt = upcoming[0] if upcoming else (declared[-1] if declared else None)
    yld = info["dividend_yield"]
    splits = u.splits(c.symbol)
    quote_type = {
        "exchange": code, "quoteType": c.quote_type, "symbol": c.yahoo_symbol,
        "underlyingSymbol": c.yahoo_symbol, "shortName": c.name[:30], "longName": c.name,
        "firstTradeDateEpochUtc": int(prices["ts"].iloc[0]), "timeZoneFullName": EXCHANGE_TZ,
        "timeZoneShortName": tzname, "gmtOffSetMilliseconds": gmtoffset * 1000,
        "messageBoardId": f"finmb_{c.index}",
        "maxAge": 1,
    }
    summary_detail = {
        "maxAge": 1, "priceHint": 2, "previousClose": prev, "open": float(prices["open"].iloc[-1]),
        "dayLow": float(prices["low"].iloc[-1]), "dayHigh": float(prices["high"].iloc[-1]),
        "regularMarketPreviousClose": prev,
        "dividendRate": info["dividend_rate"], "dividendYield": yld,
        "exDividendDate": _midnight_utc(nxt.ex_date) if nxt else None,
        "trailingAnnualDividendRate": info["trailing_annual_dividend_rate"],
        "trailingAnnualDividendYield": yld,
        "fiveYearAvgDividendYield": round(yld * 100, 2) if yld else None,
        "payoutRatio": round(min(yld * 12, 1.5), 4) if yld and not c.is_etf else None,
        "beta": round(0.5 + c.volatility * 40, 3) if not c.is_etf else None,
        "volume": int(prices["volume"].iloc[-1]), "averageVolume": int(prices["volume"].iloc[-63:].mean()),
        "marketCap": info["market_cap"], "fiftyTwoWeekLow": info["fifty_two_week_low"],
        "fiftyTwoWeekHigh": info["fifty_two_week_high"], "currency": "USD", "fromCurrency": None,
        "tradeable": False,
    }
    if c.is_etf:
        summary_detail.update({"yield": yld, "totalAssets": info["market_cap"], "navPrice": close})
    profile = {
        "address1": f"{c.index} Simulation Way", "city": "New York", "state": "NY", "zip": "10005",
        "country": "United States", "website": c.website, "longBusinessSummary": c.summary, "maxAge": 86400,
    }
    if not c.is_etf:
        profile.update({"industry": c.industry, "industryKey": c.industry.lower().replace(" ", "-"),
                        "sector": c.sector, "sectorKey": c.sector.lower().replace(" ", "-"),
                        "fullTimeEmployees": c.employees})
    modules = {
        "quoteType": quote_type,
        "summaryDetail": summary_detail,
        "assetProfile": profile,
        "summaryProfile": profile,
        "financialData": {
            "maxAge": 86400, "currentPrice": close, "financialCurrency": "USD",
            "recommendationKey": "none", "targetMeanPrice": round(close * 1.1, 2) if close else None,
        },
        "defaultKeyStatistics": {
            "maxAge": 1, "sharesOutstanding": c.shares_outstanding,
            "floatShares": int(c.shares_outstanding * 0.9),
            "beta": summary_detail["beta"],
            "lastSplitFactor": f"{splits[-1].numerator}:{splits[-1].denominator}" if splits else None,
            "lastSplitDate": _midnight_utc(splits[-1].date) if splits else None,
            "lastDividendValue": paid[-1].amount if paid else None,
            "lastDividendDate": _midnight_utc(paid[-1].ex_date) if paid else None,
            "fundFamily": c.issuer if c.is_etf else None,
            "legalType": "Exchange Traded Fund" if c.is_etf else None,
        },
        "calendarEvents": {
            "maxAge": 1,
            "earnings": {"earningsDate": [], "earningsCallDate": [], "isEarningsDateEstimate": True},
            **({"exDividendDate": _midnight_utc(nxt.ex_date), "dividendDate": _midnight_utc(nxt.pay_date)}
               if nxt else {}),
        },
    }
    if c.is_etf:
        modules["topHoldings"] = {
            "maxAge": 1, "cashPosition": 0.02, "stockPosition": 0.97, "bondPosition": 0.0,
            "preferredPosition": 0.0, "convertiblePosition": 0.0, "otherPosition": 0.01,
            "holdings": [{"symbol": s.replace(".", "-"), "holdingName": n, "holdingPercent": w}
                         for s, n, w in c.holdings],
            "equityHoldings": {"priceToEarnings": 18.5, "priceToBook": 2.9},
            "bondHoldings": {}, "bondRatings": [{"bbb": 0.0}],
            "sectorWeightings": [{"realestate": 0.1}, {"technology": 0.3}],
        }
        modules["fundProfile"] = {
            "maxAge": 1, "styleBoxUrl": None, "family": c.issuer, "categoryName": "Derivative Income",
            "legalType": "Exchange Traded Fund",
            "feesExpensesInvestment": {"annualReportExpenseRatio": 0.0099, "annualHoldingsTurnover": 0.5,
                                       "totalNetAssets": info["market_cap"]},
            "feesExpensesInvestmentCat": {"annualReportExpenseRatio": 0.0085},
        }
    return modules


def quote_summary(u: Universe, yahoo_symbol: str, q: dict[str, str]) -> Reply:
    c = _company(u, yahoo_symbol)
    if c is None:
        return _json(404, {"quoteSummary": {"result": None, "error": {
            "code": "Not Found", "description": f"Quote not found for symbol: {yahoo_symbol}"}}})
    wanted = [m for m in q.get("modules", "").split(",") if m]
    available = _modules(u, c)
    if not wanted:
        return _json(400, {"quoteSummary": {"result": None, "error": {
            "code": "Bad Request", "description": "Missing value for the \"modules\" argument"}}})
    result = {m: available[m] for m in wanted if m in available}
    return _json(200, {"quoteSummary": {"result": [result], "error": None}})


def quote(u: Universe, q: dict[str, str]) -> Reply:
    out = []
    for sym in filter(None, q.get("symbols", "").split(",")):
        c = _company(u, sym)
        if c is None:
            continue
        info = u.info(c.symbol)
        code, full, _ = EXCHANGES[c.exchange]
        yld = info["dividend_yield"]
        out.append({
            "language": "en-US", "region": "US", "quoteType": c.quote_type, "typeDisp": c.quote_type.title(),
            "currency": "USD", "exchange": code, "fullExchangeName": full, "shortName": c.name[:30],
            "longName": c.name, "symbol": c.yahoo_symbol, "marketState": "CLOSED",
            "regularMarketPrice": info["price"], "marketCap": info["market_cap"],
            "sharesOutstanding": c.shares_outstanding,
            "trailingAnnualDividendRate": info["trailing_annual_dividend_rate"],
            "trailingAnnualDividendYield": yld,
            # Yahoo's v7 quote reports these in percent points (0.35 means 0.35 %),
            # and yfinance lets them override quoteSummary's fractions in .info.
            "dividendYield": round(yld * 100, 2) if yld is not None else None,
            "dividendRate": info["dividend_rate"],
            "fiftyTwoWeekHigh": info["fifty_two_week_high"], "fiftyTwoWeekLow": info["fifty_two_week_low"],
            "exchangeTimezoneName": EXCHANGE_TZ, "exchangeTimezoneShortName": _offset_now()[1],
            "tradeable": False, "triggerable": False,
        })
        if not c.pays:
            for k in ("dividendYield", "dividendRate"):
                out[-1].pop(k)
    return _json(200, {"quoteResponse": {"result": out, "error": None}})


def timeseries(u: Universe, yahoo_symbol: str, q: dict[str, str]) -> Reply:
    c = _company(u, yahoo_symbol)
    types = [t for t in q.get("type", "").split(",") if t]
    if c is None:
        return _json(200, {"timeseries": {"result": [], "error": None}})
    result = []
    for t in types:
        item: dict = {"meta": {"symbol": [c.yahoo_symbol], "type": [t]}}
        if not c.is_etf:
            asof = u.today - dt.timedelta(days=30)
            item["timestamp"] = [_midnight_utc(asof)]
            item[t] = [{"dataId": 14000, "asOfDate": asof.isoformat(), "periodType": "TTM",
                        "currencyCode": "USD",
                        "reportedValue": {"raw": round(1 + c.volatility * 50, 2), "fmt": "1.5"}}]
        result.append(item)
    return _json(200, {"timeseries": {"result": result, "error": None}})


def frequency_label(c: Company) -> str:
    return {"weekly": "Weekly", "monthly": "Monthly", "quarterly": "Quarterly"}.get(c.frequency, "")


__all__ = ["CRUMB", "FREQ_PER_YEAR", "chart", "quote", "quote_summary", "timeseries"]
