"""Every parser on responses captured from the real sites (tests/fixtures/real/, see its README).

The simulator and the parsers are written by the same hands; these bodies were
not. Yahoo's captures go through the real fetch path: yfinance, wrapped by
divpipe.net, asks a tiny local server that answers with the captured bodies.
Expected values are read from the captures themselves, never typed in.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

import pytest

from divpipe.jobs import yahoo_fetch
from divpipe.net import yahoo as net_yahoo
from divpipe.sim.yahoo import COOKIE
from divpipe.sources import distributions, nasdaq, yahoo, yahoo_funds
from tests.plugins.sim import _reset_process_state

REAL = Path(__file__).resolve().parent / "fixtures" / "real"
NEW_YORK = ZoneInfo("America/New_York")


def capture(source: str, name: str):
    return json.loads((REAL / source / name).read_text())


# -- NASDAQ -------------------------------------------------------------------

def test_nasdaq_real_calendar_day():
    name = "dividends-2023-11-06.json"
    body = (REAL / "nasdaq" / name).read_bytes()
    rows = json.loads(body)["data"]["calendar"]["rows"]
    url = nasdaq.request_for(dt.date(2023, 11, 6))
    day = nasdaq.parse(body, url)
    assert not day.not_available
    assert len(day.records) + len(day.rejected) == len(rows)
    by_symbol = {r["symbol"]: r for r in rows}
    for record in day.records:
        row = by_symbol[record.symbol]
        assert record.ex_date == dt.date(2023, 11, 6)
        assert record.amount == Decimal(str(row["dividend_Rate"]))
        assert record.distribution_type == "unknown"
    # The capture lists some dividends twice, under two spellings of the company's name:
    # they are one distribution each.
    pairs = {(r["symbol"], r["dividend_Rate"], r["payment_Date"]) for r in rows}
    kept = distributions.numbered(day.records, lambda r: r.source_url)
    assert len(rows) > len(pairs) == len(kept)
    assert all(r.seq == 1 for r in kept)


# -- Yahoo, through yfinance and divpipe.net ----------------------------------

class Replay:
    """Answers yfinance's requests with captured bodies: {path prefix: (status, file name or body)}."""

    def __init__(self):
        self.routes: dict[str, tuple[int, str | bytes]] = {}
        self.hits: list[str] = []
        replay = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                host = self.headers.get("X-Original-Host", "")
                path = unquote(urlsplit(self.path).path)
                replay.hits.append(path)
                headers = {}
                if host == "fc.yahoo.com":
                    status, body, headers = 404, b"<html></html>", {"Set-Cookie": COOKIE}
                elif path == "/v1/test/getcrumb":
                    status, body = 200, b"RealCaptureCrumb"
                elif path.startswith("/ws/fundamentals-timeseries/"):
                    status, body = 200, b'{"timeseries":{"result":[],"error":null}}'
                else:
                    match = next((v for k, v in replay.routes.items() if path.startswith(k)), None)
                    if match is None:
                        status, body = 404, b'{"finance":{"result":null,"error":{"code":"Not Found"}}}'
                    elif isinstance(match[1], bytes):
                        status, body = match
                    else:
                        status, body = match[0], (REAL / "yahoo" / match[1]).read_bytes()
                self.send_response(status)
                self.send_header("Content-Type", "application/json;charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def replay(monkeypatch, tmp_path):
    server = Replay()
    monkeypatch.setenv("DIVPIPE_SIMULATOR_URL", server.url)
    monkeypatch.setenv("DIVPIPE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HTTP_BACKOFF", "0.01")
    monkeypatch.setenv("YAHOO_RATE_LIMIT", "200")
    _reset_process_state()
    net_yahoo.prepare_yfinance()
    yahoo_fetch.prepare()
    yield server
    server.server.shutdown()
    server.server.server_close()
    _reset_process_state()


def ny_date(epoch: int) -> dt.date:
    return dt.datetime.fromtimestamp(epoch, NEW_YORK).date()


@pytest.mark.parametrize("symbol, name, start", [
    ("AAPL", "chart-AAPL-2020-08-31-to-2020-11-07.json", dt.date(2020, 8, 31)),   # a dividend and a 4:1 split
    ("MSFT", "chart-MSFT-2021-02-01-to-2022-01-31.json", dt.date(2021, 2, 1)),    # four dividends
    ("AAPL", "chart-AAPL-2020-01-01-to-2020-01-03.json", dt.date(2020, 1, 1)),    # no events key at all
])
def test_yahoo_real_chart_through_the_fetch_path(replay, symbol, name, start):
    replay.routes[f"/v8/finance/chart/{symbol}"] = (200, name)
    result = capture("yahoo", name)["chart"]["result"][0]
    events = result.get("events", {})
    chart = yahoo_fetch.fetch_chart(symbol, start)

    assert {(d.ex_date, d.amount) for d in chart.dividends} == {
        (ny_date(e["date"]), Decimal(str(e["amount"]))) for e in events.get("dividends", {}).values()}
    assert {(s.split_date, s.ratio) for s in chart.splits} == {
        (ny_date(e["date"]), Decimal(e["numerator"]) / Decimal(e["denominator"]))
        for e in events.get("splits", {}).values()}
    closes = result["indicators"]["quote"][0]["close"]
    assert len(chart.prices) == sum(c is not None for c in closes) > 0
    assert chart.prices[-1].close == yahoo.to_decimal(closes[-1], yahoo.PRICE_SCALE)
    if "events" not in result:
        assert chart.dividends == [] and chart.splits == []
    assert f"/v8/finance/chart/{symbol}" in replay.hits  # the captured body, not a cache, was read


def test_yahoo_real_etf_info_through_the_fetch_path(replay):
    replay.routes["/v10/finance/quoteSummary/QQQ"] = (200, "quoteSummary-funds-QQQ.json")
    replay.routes["/v7/finance/quote"] = (200, "quote-QQQ.json")
    company = yahoo_fetch.fetch_company("QQQ")
    assert {"/v10/finance/quoteSummary/QQQ", "/v7/finance/quote"} <= set(replay.hits)
    quote = capture("yahoo", "quote-QQQ.json")["quoteResponse"]["result"][0]
    detail = capture("yahoo", "quoteSummary-funds-QQQ.json")["quoteSummary"]["result"][0]["summaryDetail"]
    assert "dividendYield" not in detail and detail["yield"] < 0.05  # an ETF: no dividendYield, a yield
    assert company.quote_type == "ETF"
    # A fraction whatever field it came from: never the v7 quote's percent points.
    candidates = {yahoo.to_decimal(v, yahoo.AMOUNT_SCALE) for v in (
        quote["trailingAnnualDividendYield"], detail["trailingAnnualDividendYield"], detail["yield"],
        quote["dividendYield"] / 100)}
    assert company.dividend_yield in candidates


@pytest.mark.parametrize("fund, name", [("QQQ", "quoteSummary-funds-QQQ.json"),
                                        ("HISU-U.TO", "quoteSummary-funds-HISU-U.TO.json")])
def test_yahoo_real_top_holdings_through_yfinance(replay, fund, name):
    import yfinance as yf

    replay.routes[f"/v10/finance/quoteSummary/{fund}"] = (200, name)
    listed = capture("yahoo", name)["quoteSummary"]["result"][0]["topHoldings"]["holdings"]
    holdings = yahoo_funds.parse_top_holdings(fund, yf.Ticker(fund).funds_data.top_holdings)
    assert [(h.symbol, h.weight) for h in holdings] == [
        (yahoo.from_yahoo_symbol(h["symbol"]), round(h["holdingPercent"], yahoo_funds.WEIGHT_DIGITS))
        for h in listed]
    if not listed:  # HISU-U.TO: a bond fund whose topHoldings.holdings is []
        assert holdings == []


# -- Yahoo payloads straight into the parsers ------------------------------------

def test_v7_quote_dividend_yield_is_percent_points_summary_detail_a_fraction():
    quote = capture("yahoo", "quote-AAPL.json")["quoteResponse"]["result"][0]
    detail = capture("yahoo", "quoteSummary-summaryDetail-AAPL.json")["quoteSummary"]["result"][0]["summaryDetail"]
    # The same yield, two scales: v7's dividendYield is percent points, summaryDetail's a
    # fraction, and summaryDetail's fiveYearAvgDividendYield percent points again.
    assert abs(quote["dividendYield"] / 100 - detail["dividendYield"]) < 0.0005
    assert detail["fiveYearAvgDividendYield"] > 10 * detail["dividendYield"]
    without_trailing = {k: v for k, v in quote.items() if k != "trailingAnnualDividendYield"}
    assert yahoo.parse_info("AAPL", without_trailing).dividend_yield == \
        yahoo.to_decimal(quote["dividendYield"] / 100, yahoo.AMOUNT_SCALE)
    assert yahoo.parse_info("AAPL", quote).dividend_yield == \
        yahoo.to_decimal(quote["trailingAnnualDividendYield"], yahoo.AMOUNT_SCALE)


def test_gbp_pence_prices_become_pounds():
    quote = capture("yahoo", "quote-OCDO.L.json")["quoteResponse"]["result"][0]
    assert quote["currency"] == "GBp"
    company = yahoo.parse_info("OCDO", quote)
    assert company.currency == "GBP"
    assert company.price == yahoo.to_decimal(quote["regularMarketPrice"] / 100, yahoo.PRICE_SCALE)


# -- Quirks no recorded response was found for (see the README) -----------------
# The bodies are the ones public code quotes from Yahoo's answers.

@pytest.mark.parametrize("status, description", [
    (404, "No data found, symbol may be delisted"),
    (400, "Data doesn't exist for startDate = 1565740800, endDate = 1596067200"),
])
def test_yahoo_chart_errors_say_the_symbol_has_no_data(replay, status, description):
    code = "Not Found" if status == 404 else "Bad Request"
    body = json.dumps({"chart": {"result": None, "error": {"code": code, "description": description}}}).encode()
    replay.routes["/v8/finance/chart/GONE"] = (status, body)
    with pytest.raises(Exception) as err:
        yahoo_fetch.fetch_chart("GONE", dt.date(2020, 1, 1))
    assert yahoo_fetch.is_missing_symbol(err.value), err.value


def test_yahoo_split_ratio_is_the_same_from_ints_or_floats(replay):
    doc = capture("yahoo", "chart-AAPL-2020-08-31-to-2020-11-07.json")
    [split] = doc["chart"]["result"][0]["events"]["splits"].values()
    assert isinstance(split["numerator"], int)  # as captured
    split["numerator"], split["denominator"] = float(split["numerator"]), float(split["denominator"])
    replay.routes["/v8/finance/chart/AAPL"] = (200, json.dumps(doc).encode())
    [parsed] = yahoo_fetch.fetch_chart("AAPL", dt.date(2020, 8, 31)).splits
    assert parsed.ratio == Decimal(int(split["numerator"])) / Decimal(int(split["denominator"]))


def test_double_encoded_names_are_repaired():
    quote = capture("yahoo", "quote-QQQ.json")["quoteResponse"]["result"][0]
    twice = quote["longName"] + " Index®"
    mangled = twice.encode("utf-8").decode("latin-1")  # "IndexÂ®"
    assert "Â" in mangled
    assert yahoo.parse_info("QQQ", {**quote, "longName": mangled}).company == twice
    assert yahoo.undouble("Â plain") == "Â plain"  # only text that decodes cleanly changes
