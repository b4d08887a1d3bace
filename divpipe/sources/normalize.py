"""Turn the loose values scraped pages carry into typed ones.

Every scraper meets the same mess: "N/A", empty cells and dashes for "unknown";
amounts as numbers, "0.25" or "$0.25"; dates as 10/2/2026, "Nov 3, 25",
"November 12, 2025" or ISO; tickers with (R)/(TM) marks. These functions
return None for "unknown" and raise `InvalidValue` (a ValueError) for a value
that is present but wrong, so a parser can reject that one row with the reason.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any


class InvalidValue(ValueError):
    """A cell holds something that is neither a valid value nor "unknown"."""


# What sources write for "no value". Compared after stripping and lower-casing.
_MISSING = {"", "n/a", "na", "-", "--", "—", "–", "none", "null"}
# In a symbol column only blanks and the sources' explicit markers mean "no
# symbol": NA, NONE and NULL are listed tickers (NA is Keystone's ETF).
_SYMBOL_MISSING = {"", "n/a", "-", "--", "—", "–"}

# Dates outside this range are typos or placeholders (01/01/1900), not dividends.
MIN_YEAR, MAX_YEAR = 1970, 2100


def is_missing(value: Any) -> bool:
    if value is None:
        return True
    return isinstance(value, str) and value.strip().lower() in _MISSING


def text(value: Any) -> str | None:
    """A cell as stripped text with inner whitespace collapsed, or None when unknown."""
    if is_missing(value):
        return None
    if not isinstance(value, str | int | float | Decimal) or isinstance(value, bool):
        raise InvalidValue(f"expected text, got {type(value).__name__}")
    return " ".join(str(value).split())


_MONEY = re.compile(r"^\$?\s*(-?\d{1,12}(?:,\d{3})*(?:\.\d+)?|-?\.\d+)$")


def money(value: Any) -> Decimal | None:
    """0.25, "0.25", "$0.25", "$1,234.5" -> Decimal; unknown -> None."""
    if is_missing(value):
        return None
    if isinstance(value, bool):
        raise InvalidValue(f"not an amount: {value!r}")
    if isinstance(value, int | Decimal):
        amount = Decimal(value)
    elif isinstance(value, float):
        # Through repr so 0.05 stays 0.05 rather than 0.05000000000000000277...
        amount = Decimal(repr(value))
    elif isinstance(value, str):
        match = _MONEY.match(value.strip())
        if not match:
            raise InvalidValue(f"not an amount: {_show(value)}")
        amount = Decimal(match.group(1).replace(",", ""))
    else:
        raise InvalidValue(f"not an amount: {type(value).__name__}")
    if not amount.is_finite():
        raise InvalidValue(f"not an amount: {_show(value)}")
    return amount


def positive_money(value: Any) -> Decimal | None:
    """Like `money`, but a dividend of zero or less is an error, not a value."""
    amount = money(value)
    if amount is not None and amount <= 0:
        raise InvalidValue(f"amount must be positive, got {amount}")
    return amount


def percent(value: Any) -> Decimal | None:
    """"95.12%", "95.12", 95.12 -> Decimal("95.12") (percent points); unknown -> None."""
    if isinstance(value, str) and value.strip().endswith("%"):
        value = value.strip()[:-1]
        if is_missing(value):
            return None
    try:
        return money(value)
    except InvalidValue:
        raise InvalidValue(f"not a percentage: {_show(value)}") from None


_MONTHS = {
    name: number
    for number, names in enumerate(
        [("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"),
         ("may",), ("jun", "june"), ("jul", "july"), ("aug", "august"),
         ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"),
         ("dec", "december")],
        start=1,
    )
    for name in names
}
_SLASHED = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ][0-9:.]+(?:Z|[+-]\d{2}:?\d{2})?)?$")
_WRITTEN = re.compile(r"^([A-Za-z]{3,9})\.?\s+(\d{1,2}),?\s+(\d{2}|\d{4})$")


def date(value: Any) -> dt.date | None:
    """10/2/2026, 10/02/2026, "Nov 3, 25", "November 12, 2025", 2026-10-02 -> date; unknown -> None."""
    if isinstance(value, dt.datetime):
        return _checked(value.year, value.month, value.day, value)
    if isinstance(value, dt.date):
        return _checked(value.year, value.month, value.day, value)
    if is_missing(value):
        return None
    if not isinstance(value, str):
        raise InvalidValue(f"not a date: {type(value).__name__}")
    raw = " ".join(value.split())
    if match := _SLASHED.match(raw):
        month, day, year = (int(g) for g in match.groups())
        return _checked(year, month, day, value)
    if match := _ISO.match(raw):
        year, month, day = (int(g) for g in match.groups())
        return _checked(year, month, day, value)
    if match := _WRITTEN.match(raw):
        month = _MONTHS.get(match.group(1).lower())
        if month is None:
            raise InvalidValue(f"not a date: {_show(value)}")
        year = int(match.group(3))
        # Two-digit years ("Nov 3, 25") only ever mean this century here.
        year = year + 2000 if year < 100 else year
        return _checked(year, month, int(match.group(2)), value)
    raise InvalidValue(f"not a date: {_show(value)}")


def required_date(value: Any, what: str) -> dt.date:
    """Like `date`, but "unknown" is an error: the key of a dividend row, say."""
    day = date(value)
    if day is None:
        raise InvalidValue(f"{what} is missing")
    return day


def _checked(year: int, month: int, day: int, original: Any) -> dt.date:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise InvalidValue(f"date out of range: {_show(original)}")
    try:
        return dt.date(year, month, day)
    except ValueError:
        raise InvalidValue(f"not a date: {_show(original)}") from None


# Exchange-style symbols: 1-6 letters, optionally a share class after a dot
# (BRK.B). Yahoo's dash spelling (BRK-B) is accepted and stored with the dot.
_SYMBOL = re.compile(r"^[A-Z]{1,6}(?:[.-][A-Z]{1,2})?$")
_MARKS = re.compile(r"®|™|℠|\((?:R|TM|SM)\)", re.IGNORECASE)


def symbol(value: Any) -> str:
    """" ulty® " -> "ULTY", "BRK-B" -> "BRK.B". Raises InvalidValue; never strips digits."""
    if value is None or (isinstance(value, str) and value.strip().lower() in _SYMBOL_MISSING):
        raise InvalidValue("symbol is missing")
    if not isinstance(value, str):
        raise InvalidValue(f"symbol is not text: {type(value).__name__}")
    cleaned = _MARKS.sub("", value).strip()
    # Checked before upper-casing: Unicode folds "ﬁx" to FIX, "ß" to SS and "ıbm"
    # to IBM, real tickers that the source never named.
    if not cleaned.isascii():
        raise InvalidValue(f"not a valid symbol: {_show(value)}")
    cleaned = cleaned.upper()
    if not _SYMBOL.match(cleaned):
        raise InvalidValue(f"not a valid symbol: {_show(value)}")
    return cleaned.replace("-", ".")


def _show(value: Any, limit: int = 40) -> str:
    """A value for an error message: quoted, and short enough for one log line."""
    shown = repr(value)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."
