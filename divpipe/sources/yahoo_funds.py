"""Yahoo fund holdings (yfinance `Ticker.funds_data.top_holdings`): PURE mapping to records.

yfinance turns quoteSummary's `topHoldings.holdings` into a DataFrame indexed
by `Symbol` with columns `Name` and `Holding Percent` (a fraction: 0.0712 is
7.12 %). An ETF without holdings gives an empty frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from divpipe.errors import SourceFormatError
from divpipe.sources.yahoo import (
    QUOTE_SUMMARY_URL,
    SOURCE,
    finite_number,
    from_yahoo_symbol,
    to_yahoo_symbol,
    undouble,
)

WEIGHT_DIGITS = 6
COLUMNS = ("Name", "Holding Percent")


@dataclass(frozen=True)
class Holding:
    symbol: str              # our spelling (BRK.B)
    name: str | None
    weight: float | None     # a fraction of the fund

    def as_json(self) -> dict[str, Any]:
        return {"symbol": self.symbol, "name": self.name, "weight": self.weight}


def _weight(value: Any) -> float | None:
    number = finite_number(value)
    return None if number is None else round(number, WEIGHT_DIGITS)


def _name(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return " ".join(undouble(value).split()) or None


def parse_top_holdings(fund: str, frame: Any) -> list[Holding]:
    """The fund's top holdings in Yahoo's order (largest first); [] when it lists none.

    Rows without a symbol are dropped. A non-empty frame without the expected
    columns is a SourceFormatError naming the fund's quoteSummary URL.
    """
    if frame is None or len(frame.index) == 0:
        return []
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        url = QUOTE_SUMMARY_URL.format(symbol=to_yahoo_symbol(fund))
        raise SourceFormatError(SOURCE, url, f"top holdings have no column(s) {', '.join(missing)}")
    holdings = []
    for symbol, name, weight in zip(frame.index, frame["Name"], frame["Holding Percent"], strict=True):
        if not isinstance(symbol, str) or not symbol.strip():
            continue
        holdings.append(Holding(from_yahoo_symbol(symbol), _name(name), _weight(weight)))
    return holdings
