"""Yahoo Finance (through yfinance): PURE mapping of yfinance outputs to typed records.

Nothing here fetches. `divpipe.jobs.yahoo_fetch` calls yfinance and hands the
results to these functions:

- `parse_history(symbol, frame)`: the DataFrame of `Ticker.history(...,
  actions=True, auto_adjust=False)` (one chart request) -> prices, dividends
  and splits. Only rows Yahoo returned for trading days are kept: yfinance
  adds rows of NaN prices for dividends outside the price range, and those
  never become price rows.
- `parse_info(symbol, info)`: the `Ticker.info` dict -> the `raw_stocks`
  company columns, with the yields and ratios Yahoo gives in percent points
  turned into fractions.
- `to_yahoo_symbol` / `from_yahoo_symbol`: we store the exchanges' spelling of
  share classes (BRK.B); Yahoo spells them with a dash (BRK-B).

Numbers become Decimals rounded to the scale of their NUMERIC column, through
`repr` so that 0.05 stays 0.05 rather than 0.05000000000000000277.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, NamedTuple

from divpipe.errors import SourceFormatError

SOURCE = "yahoo"
CHART_URL = "https://query2.finance.yahoo.com/v8/finance/chart/{symbol}"
QUOTE_SUMMARY_URL = "https://query2.finance.yahoo.com/v10/finance/quoteSummary/{symbol}"

# Scales of the NUMERIC columns (001_schema.sql).
PRICE_SCALE = 6       # raw_stock_prices.*, raw_stocks.price
AMOUNT_SCALE = 8      # raw_dividends.amount, raw_stock_splits.ratio, raw_stocks.dividend_yield
# Currencies Yahoo quotes in a minor unit (case matters: "GBp" is pence, "GBP" pounds).
MINOR_UNITS = {"GBp": ("GBP", 100), "GBX": ("GBP", 100), "ZAc": ("ZAR", 100), "ILA": ("ILS", 100)}
EXPENSE_SCALE = 6     # raw_stocks.expense_ratio

PRICE_COLUMNS = ("Open", "High", "Low", "Close", "Volume")

# Yahoo's exchange codes, mapped to the names discovery stores from NASDAQ
# Trader's files, so one symbol gets one spelling whichever source saw it first.
EXCHANGE_NAMES = {
    "NMS": "NASDAQ", "NGM": "NASDAQ", "NCM": "NASDAQ", "NAS": "NASDAQ", "NASDAQ": "NASDAQ",
    "NYQ": "NYSE", "NYS": "NYSE", "NYSE": "NYSE",
    "ASE": "NYSE American", "AMEX": "NYSE American",
    "PCX": "NYSE Arca", "ARCA": "NYSE Arca",
    "BTS": "Cboe BZX", "BATS": "Cboe BZX",
    "IEX": "IEX",
}


def to_yahoo_symbol(symbol: str) -> str:
    """BRK.B -> BRK-B (Yahoo answers BRK.B with the delisted-symbol 404)."""
    return symbol.strip().upper().replace(".", "-")


def from_yahoo_symbol(symbol: str) -> str:
    """BRK-B -> BRK.B, the spelling the exchanges and our tables use."""
    return symbol.strip().upper().replace("-", ".")


class PriceBar(NamedTuple):
    """One daily bar. A NamedTuple, not a dataclass: an initial load makes
    millions of them, and `row()` must not cost a deep copy each."""

    symbol: str
    date: dt.date
    open: Decimal | None
    high: Decimal | None
    low: Decimal | None
    close: Decimal
    adj_close: Decimal | None
    volume: int | None

    def row(self) -> dict[str, Any]:
        return self._asdict()


@dataclass(frozen=True)
class YahooDividend:
    symbol: str
    ex_date: dt.date
    amount: Decimal

    def row(self) -> dict[str, Any]:
        return {"symbol": self.symbol, "ex_date": self.ex_date, "amount": self.amount, "source": SOURCE}


@dataclass(frozen=True)
class Split:
    symbol: str
    split_date: dt.date
    ratio: Decimal  # new shares per old share: 2 for a 2-for-1, 0.1 for a 1-for-10 reverse split

    def row(self) -> dict[str, Any]:
        return {"symbol": self.symbol, "split_date": self.split_date, "ratio": self.ratio}


@dataclass
class Chart:
    """Everything one chart request returned for one symbol."""

    symbol: str
    prices: list[PriceBar] = field(default_factory=list)
    dividends: list[YahooDividend] = field(default_factory=list)
    splits: list[Split] = field(default_factory=list)
    dropped_rows: int = 0  # rows without prices (event-only rows) or dated on a weekend

    @property
    def empty(self) -> bool:
        return not (self.prices or self.dividends or self.splits)

    @property
    def last_price_date(self) -> dt.date | None:
        return max((p.date for p in self.prices), default=None)


@dataclass(frozen=True)
class Company:
    """The `raw_stocks` columns Yahoo's info fills. None means "Yahoo did not say"."""

    symbol: str
    company: str | None = None
    exchange: str | None = None
    quote_type: str | None = None
    sector: str | None = None
    industry: str | None = None
    currency: str | None = None
    price: Decimal | None = None
    dividend_yield: Decimal | None = None  # a fraction: 0.045 means 4.5 %
    market_cap: int | None = None
    aum: int | None = None
    expense_ratio: Decimal | None = None   # a fraction

    @property
    def has_data(self) -> bool:
        return any(v is not None for k, v in dataclasses.asdict(self).items() if k != "symbol")

    def row(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _raw(value: Any) -> Any:
    # Unformatted quoteSummary values come as {"raw": 0.5, "fmt": "0.50"}.
    if isinstance(value, dict) and "raw" in value:
        return value["raw"]
    return value


def finite_number(value: Any) -> float | None:
    """A finite number, or None for missing, NaN, "Infinity", text and booleans."""
    value = _raw(value)
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


_QUANTA = {scale: Decimal(1).scaleb(-scale) for scale in range(13)}


def to_decimal(value: Any, scale: int) -> Decimal | None:
    number = finite_number(value)
    if number is None:
        return None
    return Decimal(repr(number)).quantize(_QUANTA[scale], rounding=ROUND_HALF_EVEN)


def _decimals(values: list[Any], scale: int) -> list[Decimal | None]:
    """`to_decimal` over a column of floats (what DataFrame.tolist() gives), faster."""
    quantum, out = _QUANTA[scale], []
    for value in values:
        if isinstance(value, float) and math.isfinite(value):
            out.append(Decimal(repr(value)).quantize(quantum, rounding=ROUND_HALF_EVEN))
        else:
            out.append(to_decimal(value, scale))
    return out


def _integer(value: Any) -> int | None:
    number = finite_number(value)
    return None if number is None else round(number)


# UTF-8 read as Latin-1 once too often starts its non-ASCII characters with these.
_MOJIBAKE = re.compile("[\u00c2\u00c3][\u0080-\u00bf]")


def undouble(text: str) -> str:
    """ "IndexÂ®" -> "Index®": Yahoo serves some names UTF-8-encoded twice.

    Only text that decodes cleanly is changed, so a real "Â" stays.
    """
    if not _MOJIBAKE.search(text):
        return text
    try:
        return text.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


def _text(value: Any) -> str | None:
    value = _raw(value)
    if not isinstance(value, str):
        return None
    cleaned = " ".join(undouble(value).split())
    return cleaned or None


def _row_date(label: Any) -> dt.date:
    if isinstance(label, dt.datetime):  # pandas Timestamps are datetimes
        return label.date()
    if isinstance(label, dt.date):
        return label
    raise TypeError(f"index label {label!r} is not a date")


def parse_history(symbol: str, frame: Any) -> Chart:
    """Map a `Ticker.history(..., actions=True, auto_adjust=False)` frame to a Chart.

    `symbol` is our spelling (BRK.B). An empty frame gives an empty Chart; a
    frame with rows but without the expected columns is a SourceFormatError.
    """
    chart = Chart(symbol)
    if frame is None or len(frame.index) == 0:
        return chart
    url = CHART_URL.format(symbol=to_yahoo_symbol(symbol))
    missing = [c for c in PRICE_COLUMNS if c not in frame.columns]
    if missing:
        raise SourceFormatError(SOURCE, url, f"history has no column(s) {', '.join(missing)}")
    try:
        dates = [_row_date(label) for label in frame.index]
    except TypeError as err:
        raise SourceFormatError(SOURCE, url, str(err)) from None

    # Column by column: an initial load maps millions of values.
    opens, highs, lows, closes = (_decimals(frame[c].tolist(), PRICE_SCALE) for c in ("Open", "High", "Low", "Close"))
    adjusted = (_decimals(frame["Adj Close"].tolist(), PRICE_SCALE) if "Adj Close" in frame.columns
                else [None] * len(dates))
    volumes = [_integer(v) for v in frame["Volume"].tolist()]
    for name, scale, make, into in (("Dividends", AMOUNT_SCALE, YahooDividend, chart.dividends),
                                    ("Stock Splits", AMOUNT_SCALE, Split, chart.splits)):
        if name in frame.columns:
            # Most rows carry 0.0: convert only the events.
            values = frame[name].tolist()
            into.extend(make(symbol, dates[i], value) for i, raw in enumerate(values)
                        if finite_number(raw) and (value := to_decimal(raw, scale)) is not None and value > 0)

    for day, o, h, lo, c, adj, vol in zip(dates, opens, highs, lows, closes, adjusted, volumes, strict=True):
        if c is None or day.weekday() >= 5:
            # An event-only row (NaN prices) or a row no exchange traded on.
            chart.dropped_rows += 1
            continue
        chart.prices.append(PriceBar(symbol, day, o, h, lo, c, adj, vol))
    return chart


def dividend_yield(info: dict[str, Any]) -> Decimal | None:
    """The dividend yield as a fraction (0.0044 for 0.44 %).

    `trailingAnnualDividendYield` is a fraction with full precision and comes
    first. yfinance passes on `dividendYield` as Yahoo's v7 quote serves it, in
    percent points rounded to two places (0.44 means 0.44 %): divided by 100,
    it is the fallback, then a fund's `yield` (a fraction).
    """
    trailing = finite_number(info.get("trailingAnnualDividendYield"))
    if trailing is not None:
        return to_decimal(trailing, AMOUNT_SCALE)
    percent_points = finite_number(info.get("dividendYield"))
    if percent_points is not None:
        return to_decimal(percent_points / 100, AMOUNT_SCALE)
    return to_decimal(info.get("yield"), AMOUNT_SCALE)


def expense_ratio(info: dict[str, Any]) -> Decimal | None:
    """A fund's expense ratio as a fraction: `netExpenseRatio` is in percent points
    (0.0945 for SPY's 0.0945 %), `annualReportExpenseRatio` is a fraction."""
    percent_points = finite_number(info.get("netExpenseRatio"))
    if percent_points is not None:
        return to_decimal(percent_points / 100, EXPENSE_SCALE)
    return to_decimal(info.get("annualReportExpenseRatio"), EXPENSE_SCALE)


def exchange_name(info: dict[str, Any]) -> str | None:
    code = _text(info.get("exchange"))
    if code is not None and code.upper() in EXCHANGE_NAMES:
        return EXCHANGE_NAMES[code.upper()]
    return _text(info.get("fullExchangeName")) or code


def parse_info(symbol: str, info: Any) -> Company:
    """Map a `Ticker.info` dict to the company columns of `raw_stocks`.

    A non-dict is a SourceFormatError; a dict without any known field gives a
    Company whose `has_data` is False (yfinance returns such stubs for symbols
    Yahoo does not know).
    """
    if not isinstance(info, dict):
        raise SourceFormatError(SOURCE, QUOTE_SUMMARY_URL.format(symbol=to_yahoo_symbol(symbol)),
                                f"info is a {type(info).__name__}, not a dict")
    price = next((p for key in ("currentPrice", "regularMarketPrice", "previousClose")
                  if (p := to_decimal(info.get(key), PRICE_SCALE)) is not None), None)
    quote_type = _text(info.get("quoteType"))
    currency = _text(info.get("currency"))
    if currency in MINOR_UNITS and price is not None:
        # London prices in pence ("GBp"): stored in pounds, so "GBP" means what it says.
        currency, divisor = MINOR_UNITS[currency]
        price = to_decimal(price / divisor, PRICE_SCALE)
    return Company(
        symbol=symbol,
        company=_text(info.get("longName")) or _text(info.get("shortName")),
        exchange=exchange_name(info),
        quote_type=quote_type.upper() if quote_type else None,
        sector=_text(info.get("sector")),
        industry=_text(info.get("industry")),
        currency=currency.upper() if currency else None,
        price=price,
        dividend_yield=dividend_yield(info),
        market_cap=_integer(info.get("marketCap")),
        aum=_integer(info.get("totalAssets")),
        expense_ratio=expense_ratio(info),
    )
