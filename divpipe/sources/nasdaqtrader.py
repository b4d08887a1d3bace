"""NASDAQ Trader symbol directory: every listed US symbol, for weekly discovery.

    GET https://www.nasdaqtrader.com/dynamic/SymDir/nasdaqlisted.txt   (NASDAQ)
    GET https://www.nasdaqtrader.com/dynamic/SymDir/otherlisted.txt    (NYSE, NYSE American, Arca, BZX, IEX)

Pipe-delimited, a header line first and a last line "File Creation Time: ...".
A file without that last line was cut short and is rejected as a whole, like a
header without the columns we read: discovery must not act on half a list.
Test issues are dropped; the ETF flag becomes `quote_type`; otherlisted.txt's
exchange code becomes the exchange's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from divpipe.errors import SourceFormatError
from divpipe.sources import normalize
from divpipe.sources.payload import decode
from divpipe.sources.records import ParseResult, Rejected

SOURCE = "nasdaqtrader"
NASDAQ_LISTED_URL = "https://www.nasdaqtrader.com/dynamic/SymDir/nasdaqlisted.txt"
OTHER_LISTED_URL = "https://www.nasdaqtrader.com/dynamic/SymDir/otherlisted.txt"

EXCHANGES = {"N": "NYSE", "A": "NYSE American", "P": "NYSE Arca", "Z": "Cboe BZX", "V": "IEX", "Q": "NASDAQ"}
QUOTE_TYPES = {"Y": "ETF", "N": "EQUITY"}
FOOTER = "File Creation Time:"

# The columns we read, per file: (symbol column, exchange column or None).
_LAYOUTS = {
    "nasdaqlisted": ("Symbol", None),
    "otherlisted": ("ACT Symbol", "Exchange"),
}


@dataclass(frozen=True)
class ListedSymbol:
    symbol: str
    company: str | None
    exchange: str
    quote_type: str


@dataclass
class Directory(ParseResult[ListedSymbol]):
    test_issues: int = 0


def urls() -> list[str]:
    """Both files; each is parsed by `parse(body, url)`."""
    return [NASDAQ_LISTED_URL, OTHER_LISTED_URL]


def parse(body: bytes, url: str) -> Directory:
    """Either file, told apart by its URL (the simulator serves the same paths)."""
    layout = "otherlisted" if url.rstrip("/").endswith("otherlisted.txt") else "nasdaqlisted"
    symbol_column, exchange_column = _LAYOUTS[layout]
    lines = [line for line in decode(body).splitlines() if line.strip()]
    if not lines:
        raise SourceFormatError(SOURCE, url, "empty file")
    if not lines[-1].startswith(FOOTER):
        raise SourceFormatError(SOURCE, url, f"no {FOOTER!r} last line (download cut short?)")
    header = [h.strip() for h in lines[0].split("|")]
    wanted = [symbol_column, "Security Name", "ETF", "Test Issue"]
    if exchange_column:
        wanted.append(exchange_column)
    missing = [c for c in wanted if c not in header]
    if missing:
        raise SourceFormatError(SOURCE, url, f"header has no column(s) {', '.join(map(repr, missing))}")
    position = {name: header.index(name) for name in wanted}

    result = Directory()
    for line in lines[1:-1]:
        cells = [c.strip() for c in line.split("|")]
        if len(cells) != len(header):
            result.rejected.append(Rejected.of(line, f"{len(cells)} fields, the header has {len(header)}"))
            continue
        row = {name: cells[i] for name, i in position.items()}
        if row["Test Issue"] == "Y":
            result.test_issues += 1
            continue
        try:
            result.records.append(_record(row, symbol_column, exchange_column))
        except normalize.InvalidValue as err:
            result.rejected.append(Rejected.of(line, str(err)))
    return result


def _record(row: dict[str, Any], symbol_column: str, exchange_column: str | None) -> ListedSymbol:
    if row["Test Issue"] != "N":
        raise normalize.InvalidValue(f"Test Issue flag {row['Test Issue']!r} is neither Y nor N")
    quote_type = QUOTE_TYPES.get(row["ETF"])
    if quote_type is None:
        raise normalize.InvalidValue(f"ETF flag {row['ETF']!r} is neither Y nor N")
    code = row[exchange_column] if exchange_column else "Q"
    exchange = EXCHANGES.get(code)
    if exchange is None:
        raise normalize.InvalidValue(f"unknown exchange code {code!r}")
    return ListedSymbol(
        symbol=normalize.symbol(row[symbol_column]),
        company=normalize.text(row["Security Name"]),
        exchange=exchange,
        quote_type=quote_type,
    )
