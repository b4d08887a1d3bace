"""divpipe.sources.yahoo: pure mapping of yfinance history frames and info dicts."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import pandas as pd
import pytest

from divpipe.errors import SourceFormatError
from divpipe.sources import yahoo

NAN = math.nan


def history_frame(rows: list[tuple], *, adj: bool = True, tz: str = "America/New_York") -> pd.DataFrame:
    """A frame shaped like Ticker.history(actions=True, auto_adjust=False)."""
    columns = ["Open", "High", "Low", "Close", *(["Adj Close"] if adj else []), "Volume",
               "Dividends", "Stock Splits"]
    index = pd.DatetimeIndex([pd.Timestamp(r[0]).tz_localize(tz) for r in rows], name="Date")
    return pd.DataFrame([r[1:] for r in rows], index=index, columns=columns)


def test_prices_dividends_and_splits_from_one_frame():
    frame = history_frame([
        ("2026-11-16", 10.1, 10.5, 9.9, 10.25, 10.0, 1200, 0.0, 0.0),
        ("2026-11-17", 10.3, 10.6, 10.2, 10.4, 10.2, 900, 0.05, 0.0),
        ("2026-11-18", 5.2, 5.3, 5.1, 5.15, 5.1, 3000, 0.0, 2.0),
    ])
    chart = yahoo.parse_history("BRK.B", frame)

    assert [p.date for p in chart.prices] == [dt.date(2026, 11, 16), dt.date(2026, 11, 17),
                                              dt.date(2026, 11, 18)]
    first = chart.prices[0]
    assert first.symbol == "BRK.B"
    assert (first.open, first.high, first.low, first.close, first.adj_close, first.volume) == (
        Decimal("10.100000"), Decimal("10.500000"), Decimal("9.900000"), Decimal("10.250000"),
        Decimal("10.000000"), 1200)
    assert chart.dividends == [yahoo.YahooDividend("BRK.B", dt.date(2026, 11, 17), Decimal("0.05000000"))]
    assert chart.dividends[0].row()["source"] == "yahoo"
    assert chart.splits == [yahoo.Split("BRK.B", dt.date(2026, 11, 18), Decimal("2.00000000"))]
    assert chart.last_price_date == dt.date(2026, 11, 18)
    assert chart.dropped_rows == 0


def test_decimal_conversion_keeps_the_short_repr_and_rounds_to_the_column_scale():
    frame = history_frame([("2026-11-16", 0.1 + 0.2, 1.0000004, 1.0000005, 123.4567891, NAN, 7,
                            0.123456789, 0)])
    bar = yahoo.parse_history("X", frame).prices[0]
    assert bar.open == Decimal("0.300000")  # not 0.30000000000000004 carried into the comparison
    assert bar.high == Decimal("1.000000")
    assert bar.low == Decimal("1.000000")  # half-even
    assert bar.close == Decimal("123.456789")
    assert bar.adj_close is None
    assert yahoo.parse_history("X", frame).dividends[0].amount == Decimal("0.12345679")


def test_event_only_rows_and_weekend_rows_never_become_prices():
    frame = history_frame([
        ("2026-11-13", 10.0, 10.0, 10.0, 10.0, 10.0, 100, 0.0, 0.0),
        # yfinance adds a NaN-price row for a dividend outside the price range.
        ("2026-11-14", NAN, NAN, NAN, NAN, NAN, 0, 0.25, 0.0),
        ("2026-11-15", 11.0, 11.0, 11.0, 11.0, 11.0, 100, 0.0, 0.0),  # a Sunday
    ])
    chart = yahoo.parse_history("X", frame)
    assert [p.date for p in chart.prices] == [dt.date(2026, 11, 13)]
    assert [d.ex_date for d in chart.dividends] == [dt.date(2026, 11, 14)]
    assert chart.dropped_rows == 2


def test_reverse_split_ratio_is_a_fraction():
    frame = history_frame([("2026-11-16", 1.0, 1.0, 1.0, 1.0, 1.0, 1, 0.0, 0.1)])
    assert yahoo.parse_history("X", frame).splits[0].ratio == Decimal("0.10000000")


def test_empty_frame_is_an_empty_chart():
    chart = yahoo.parse_history("X", pd.DataFrame())
    assert chart.empty and chart.last_price_date is None


def test_frame_without_price_columns_is_a_format_error():
    frame = pd.DataFrame({"Close": [1.0]}, index=pd.DatetimeIndex([pd.Timestamp("2026-11-16")]))
    with pytest.raises(SourceFormatError, match=r"chart/BRK-B.*Open, High, Low, Volume"):
        yahoo.parse_history("BRK.B", frame)


def test_frame_without_adj_close_keeps_prices():
    frame = history_frame([("2026-11-16", 1.0, 2.0, 0.5, 1.5, 10, 0.0, 0.0)], adj=False)
    bar = yahoo.parse_history("X", frame).prices[0]
    assert bar.close == Decimal("1.500000") and bar.adj_close is None


@pytest.mark.parametrize(("ours", "theirs"), [("BRK.B", "BRK-B"), ("BF.B", "BF-B"), ("AAPL", "AAPL")])
def test_symbol_translation_both_ways(ours, theirs):
    assert yahoo.to_yahoo_symbol(ours) == theirs
    assert yahoo.from_yahoo_symbol(theirs) == ours
    assert yahoo.to_yahoo_symbol(f" {ours.lower()} ") == theirs


def test_dividend_yield_in_percent_points_becomes_a_fraction():
    # yfinance passes on Yahoo's dividendYield in percent points: 0.44 means 0.44 %.
    assert yahoo.dividend_yield({"dividendYield": 0.44}) == Decimal("0.00440000")
    assert yahoo.dividend_yield({"dividendYield": 4.5, "trailingAnnualDividendYield": None}) == Decimal(
        "0.04500000")


def test_trailing_yield_is_already_a_fraction_and_wins_for_its_precision():
    assert yahoo.dividend_yield({"trailingAnnualDividendYield": 0.0043}) == Decimal("0.00430000")
    # Both forms of the same yield: the fraction keeps the digits the percent points rounded off.
    assert yahoo.dividend_yield({"dividendYield": 0.93, "trailingAnnualDividendYield": 0.009271}) == Decimal(
        "0.00927100")


def test_fund_yield_is_a_fraction_and_junk_is_unknown():
    assert yahoo.dividend_yield({"dividendYield": None, "yield": 0.0121}) == Decimal("0.01210000")
    assert yahoo.dividend_yield({"dividendYield": "Infinity"}) is None
    assert yahoo.dividend_yield({}) is None


def test_expense_ratio_percent_points_and_fraction():
    assert yahoo.expense_ratio({"netExpenseRatio": 0.0945}) == Decimal("0.000945")
    assert yahoo.expense_ratio({"annualReportExpenseRatio": 0.0095}) == Decimal("0.009500")


def test_info_maps_onto_raw_stocks_columns():
    info = {
        "longName": "Berkshire  Hathaway Inc.", "shortName": "Berkshire", "exchange": "NYQ",
        "quoteType": "EQUITY", "sector": "Financial Services", "industry": "Insurance - Diversified",
        "currency": "usd", "currentPrice": 512.345678912, "dividendYield": 1.25,
        "marketCap": 1.1e12, "trailingPegRatio": None,
    }
    company = yahoo.parse_info("BRK.B", info)
    assert company.row() == {
        "symbol": "BRK.B", "company": "Berkshire Hathaway Inc.", "exchange": "NYSE",
        "quote_type": "EQUITY", "sector": "Financial Services", "industry": "Insurance - Diversified",
        "currency": "USD", "price": Decimal("512.345679"), "dividend_yield": Decimal("0.01250000"),
        "market_cap": 1_100_000_000_000, "aum": None, "expense_ratio": None,
    }
    assert company.has_data


def test_fund_info_with_raw_values_and_unknown_exchange():
    info = {"shortName": "Some ETF", "quoteType": "etf", "exchange": "XYZ", "fullExchangeName": "Somewhere",
            "regularMarketPrice": {"raw": 25.5, "fmt": "25.50"}, "totalAssets": 123456789.0,
            "yield": 0.081, "netExpenseRatio": 0.99}
    company = yahoo.parse_info("ULTY", info)
    assert (company.company, company.quote_type, company.exchange) == ("Some ETF", "ETF", "Somewhere")
    assert company.price == Decimal("25.500000")
    assert company.aum == 123456789
    assert company.dividend_yield == Decimal("0.08100000")
    assert company.expense_ratio == Decimal("0.009900")


def test_stub_info_of_an_unknown_symbol_has_no_data():
    assert not yahoo.parse_info("ZZZZ", {"trailingPegRatio": None}).has_data


def test_info_that_is_not_a_dict_is_a_format_error():
    with pytest.raises(SourceFormatError, match="quoteSummary/BRK-B"):
        yahoo.parse_info("BRK.B", ["not", "a", "dict"])
