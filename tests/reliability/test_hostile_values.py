"""One absurd value costs its row (or its field), never the batch: the checks of the one write path."""

import datetime as dt
import logging
from decimal import Decimal

from divpipe.db.upsert import bulk_upsert, check_rows

DAY = dt.date(2026, 3, 2)


def _fetch(conn, query):
    with conn.cursor() as cur:
        cur.execute(query)
        return cur.fetchall()


def test_bad_amounts_reject_their_rows_and_the_rest_is_stored(conn, caplog):
    rows = [
        {"symbol": "GOOD", "ex_date": DAY, "amount": Decimal("0.25"), "company_name": "Good Co"},
        {"symbol": "HUGE", "ex_date": DAY, "amount": Decimal("1e12"), "company_name": "Huge"},
        {"symbol": "QUAD", "ex_date": DAY, "amount": Decimal("1000000000000000"), "company_name": "Quad"},
        {"symbol": "TINY", "ex_date": DAY, "amount": Decimal("1e-9"), "company_name": "Tiny"},
        {"symbol": "NEG", "ex_date": DAY, "amount": Decimal("-0.1"), "company_name": "Neg"},
        {"symbol": "NUL", "ex_date": DAY, "amount": Decimal("0.3"), "company_name": "Foo\u0000Bar"},
        {"symbol": "BAD\u0000", "ex_date": DAY, "amount": Decimal("0.3"), "company_name": "x"},
        {"symbol": "OLD", "ex_date": dt.date(1900, 1, 1), "amount": Decimal("0.3"), "company_name": "x"},
        {"symbol": "FAR", "ex_date": dt.date(9999, 12, 31), "amount": Decimal("0.3"), "company_name": "x"},
    ]
    with caplog.at_level(logging.WARNING):
        result = bulk_upsert(conn, "raw_dividends_nasdaq", rows, ["symbol", "ex_date"])
    # Key values reject the row; bad amounts and names are left NULL and the row kept.
    assert (result.inserted, result.rejected, result.nulled) == (6, 3, 5)
    stored = dict((s, (a, n)) for s, a, n in _fetch(
        conn, "SELECT symbol, amount, company_name FROM raw_dividends_nasdaq"))
    assert stored == {"GOOD": (Decimal("0.25000000"), "Good Co"), "HUGE": (None, "Huge"), "QUAD": (None, "Quad"),
                      "TINY": (None, "Tiny"), "NEG": (None, "Neg"), "NUL": (Decimal("0.30000000"), None)}
    warnings = [r.getMessage() for r in caplog.records if r.getMessage().startswith("⚠️")]
    assert len(warnings) == 8 and all("\n" not in w for w in warnings)
    assert any("1E-9 is below the resolution of NUMERIC(18,8)" in w for w in warnings)
    assert any("does not fit NUMERIC(18,8)" in w for w in warnings)


def test_a_yield_of_15000_nulls_one_field_and_keeps_the_stored_value(conn):
    bulk_upsert(conn, "raw_stocks", [{"symbol": "X", "dividend_yield": Decimal("0.05"), "company": "X Inc"}],
                ["symbol"])
    result = bulk_upsert(conn, "raw_stocks",
                         [{"symbol": "X", "dividend_yield": 15000.0, "company": "X Corp"},
                          {"symbol": "Y", "dividend_yield": 0.02, "company": "Y Inc"}], ["symbol"])
    assert (result.inserted, result.updated, result.nulled) == (1, 1, 1)
    assert _fetch(conn, "SELECT symbol, dividend_yield, company FROM raw_stocks ORDER BY 1") == [
        ("X", Decimal("0.05000000"), "X Corp"), ("Y", Decimal("0.02000000"), "Y Inc")]


def test_prices_integers_and_json_are_checked(conn):
    rows = [
        {"symbol": "A", "date": DAY, "close": Decimal("10"), "volume": 5},
        {"symbol": "B", "date": DAY, "close": Decimal("0"), "volume": 5},
        {"symbol": "C", "date": DAY, "close": float("inf"), "volume": 5},
        {"symbol": "D", "date": DAY, "close": Decimal("3"), "volume": 2**70},
        {"symbol": "E", "date": DAY, "close": Decimal("3"), "volume": -1},
        {"symbol": "F", "date": DAY, "close": float("nan"), "volume": 1.5},
    ]
    result = bulk_upsert(conn, "raw_stock_prices", rows, ["symbol", "date"])
    assert (result.inserted, result.nulled) == (6, 5)
    assert _fetch(conn, "SELECT symbol, close, volume FROM raw_stock_prices ORDER BY 1") == [
        ("A", Decimal("10.000000"), 5), ("B", None, 5), ("C", None, 5), ("D", Decimal("3.000000"), None),
        ("E", Decimal("3.000000"), None), ("F", None, None)]
    # NOT NULL columns cannot be left NULL: the row goes.
    result = bulk_upsert(conn, "raw_holdings_history",
                         [{"symbol": "Q", "as_of_date": DAY, "holdings": [{"name": "a\u0000b"}], "holdings_count": 1},
                          {"symbol": "R", "as_of_date": DAY, "holdings": [{"name": "ab"}], "holdings_count": 1}],
                         ["symbol", "as_of_date"])
    assert (result.inserted, result.rejected) == (1, 1)


def test_check_rows_applies_the_same_rule_without_writing(conn):
    cleaned, result = check_rows(conn, "raw_stocks", [{"symbol": "A", "price": Decimal("1e20")},
                                                      {"symbol": "B\u0007", "price": Decimal("2")}], ["symbol"])
    assert cleaned == [{"symbol": "A", "price": None}]
    assert (result.rejected, result.nulled) == (1, 1)
    assert _fetch(conn, "SELECT count(*) FROM raw_stocks") == [(0,)]


def test_parse_history_drops_non_positive_prices_and_absurd_dates():
    import pandas as pd

    from divpipe.sources import yahoo

    columns = ["Open", "High", "Low", "Close", "Adj Close", "Volume", "Dividends", "Stock Splits"]
    rows = [
        (dt.datetime(2026, 11, 16), 10.0, 10.5, 9.9, 10.2, 10.1, 100, 0.0, 0.0),
        (dt.datetime(2026, 11, 17), 10.0, 10.5, 9.9, -3.0, 10.1, 100, 0.0, 0.0),
        (dt.datetime(2026, 11, 18), 10.0, 10.5, 9.9, 0.0, 10.1, 100, 0.0, 0.0),
        (dt.datetime(2026, 11, 19), -1.0, 10.5, 9.9, 10.3, 10.1, 100, 0.0, 0.0),
        (dt.datetime(1900, 1, 1), 1.0, 1.0, 1.0, 1.0, 1.0, 1, 0.5, 0.0),  # a Monday
        (dt.datetime(9999, 12, 31), 1.0, 1.0, 1.0, 1.0, 1.0, 1, 0.5, 2.0),  # a Friday
    ]
    frame = pd.DataFrame([r[1:] for r in rows], index=pd.Index([r[0] for r in rows], dtype=object),
                         columns=columns)
    chart = yahoo.parse_history("X", frame)
    assert [(p.date, p.open, p.close) for p in chart.prices] == [
        (dt.date(2026, 11, 16), Decimal("10.000000"), Decimal("10.200000")),
        (dt.date(2026, 11, 19), None, Decimal("10.300000"))]
    assert chart.dividends == [] and chart.splits == []
    assert chart.dropped_rows == 4


def test_main_update_writer_keeps_the_batch_when_yahoo_sends_a_yield_of_15000(conn):
    from divpipe.jobs import update
    from divpipe.sources.yahoo import Chart, Company, PriceBar

    bulk_upsert(conn, "raw_stocks", [{"symbol": "ODD"}, {"symbol": "FINE"}], ["symbol"])
    options = update.Options(tickers=None, limit=None, workers=1, from_date=None, history_years=5,
                             prices=True, actions=True, companies=True)
    writer = update.Writer(conn, batch_rows=10_000)
    for symbol, yield_, close in (("ODD", Decimal("15000"), Decimal("1e15")), ("FINE", Decimal("0.03"), Decimal("7"))):
        chart = Chart(symbol, prices=[PriceBar(symbol, DAY, None, None, None, close, None, 10)])
        writer.add(update.Plan(symbol, DAY, True), update.Fetched(chart, Company(symbol, company=f"{symbol} Inc",
                                                                                  dividend_yield=yield_)), options)
    writer.close()
    assert _fetch(conn, "SELECT symbol, company, dividend_yield, price FROM raw_stocks ORDER BY 1") == [
        ("FINE", "FINE Inc", Decimal("0.03000000"), Decimal("7.000000")), ("ODD", "ODD Inc", None, None)]
    assert _fetch(conn, "SELECT symbol, close FROM raw_stock_prices ORDER BY 1") == [
        ("FINE", Decimal("7.000000")), ("ODD", None)]
    assert writer.totals["raw_stocks"].nulled == 1 and writer.totals["raw_stock_prices"].nulled == 1


def test_a_scraper_fed_absurd_values_writes_the_rest_and_exits_0(db_url, conn, capsys):
    """The issue's night: `$1,000,000,000,000,000` and a NUL in a name failed the whole source."""
    import argparse
    import json

    from divpipe.jobs import scrape
    from divpipe.sources import nasdaq

    rows = [
        {"companyName": "Alico", "symbol": "ALCO", "dividend_Ex_Date": "10/02/2026", "payment_Date": "10/16/2026",
         "record_Date": "10/02/2026", "dividend_Rate": 0.05, "indicated_Annual_Dividend": 0.2,
         "announcement_Date": "9/08/2026"},
        {"companyName": "Trillions", "symbol": "TRIL", "dividend_Ex_Date": "10/02/2026", "payment_Date": "N/A",
         "record_Date": "N/A", "dividend_Rate": "$1,000,000,000,000,000", "indicated_Annual_Dividend": 1e12,
         "announcement_Date": "N/A"},
        {"companyName": "Foo\u0000Bar", "symbol": "FOO", "dividend_Ex_Date": "10/02/2026", "payment_Date": "N/A",
         "record_Date": "N/A", "dividend_Rate": 1e-9, "indicated_Annual_Dividend": "N/A",
         "announcement_Date": "N/A"},
    ]
    body = json.dumps({"data": {"calendar": {"rows": rows}}, "status": {"rCode": 200}}).encode()

    def collect(fetcher, conn):
        harvest = scrape.Harvest()
        harvest.add(nasdaq.parse(body, nasdaq.request_for(dt.date(2026, 10, 2))))
        return harvest

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        code = scrape.run("nasdaq", "raw_dividends_nasdaq", argparse.Namespace(dry_run=False, verbose=False),
                          collect)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    out = capsys.readouterr().out
    assert code == 0
    assert "3 records parsed, 3 inserted, 0 updated, 4 bad values left NULL, 0 rejected" in out, out
    assert _fetch(conn, "SELECT symbol, amount, company_name FROM raw_dividends_nasdaq ORDER BY 1") == [
        ("ALCO", Decimal("0.05000000"), "Alico"), ("FOO", None, None), ("TRIL", None, "Trillions")]


def test_company_refresh_goes_through_the_same_checks_and_fills_only_gaps(conn):
    from divpipe.jobs import companies
    from divpipe.sources.yahoo import Company

    bulk_upsert(conn, "raw_stocks", [{"symbol": "X", "company": "Known Name"}, {"symbol": "Y", "company": None}],
                ["symbol"])
    found = {"X": Company("X", company="Yahoo Name", sector="Tech", dividend_yield=Decimal("15000")),
             "Y": Company("Y", company="Y\u0000Corp", currency="USD")}
    assert companies.write(conn, ["X", "Y"], found) == 2
    assert _fetch(conn, "SELECT symbol, company, sector, currency, dividend_yield,"
                        " company_updated_at IS NOT NULL, company_attempted_at IS NOT NULL"
                        " FROM raw_stocks ORDER BY 1") == [
        ("X", "Known Name", "Tech", None, None, True, True), ("Y", None, None, "USD", None, True, True)]
    # Nothing left to fill: a second write changes no row's data stamp.
    assert companies.write(conn, ["X", "Y"], found) == 0
