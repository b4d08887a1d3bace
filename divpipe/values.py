"""What a stored value may be, whichever source it came from: one place for these facts.

`divpipe.db.upsert` applies them to every column it writes, and the parsers
use them to drop what is plainly not data before it gets that far.
"""

from __future__ import annotations

import datetime as dt
import re

# No exchange listing or dividend we track predates 1950 (Yahoo's oldest daily
# bars are from 1962), and nothing is declared a lifetime ahead: dates outside
# are placeholders such as 1900-01-01 or 9999-12-31.
MIN_DATE = dt.date(1950, 1, 1)
MAX_DATE = dt.date(2100, 12, 31)

# Columns whose value is a price, an amount paid or a split ratio: zero or less
# is never real. Yields, counts and market caps may be zero.
POSITIVE_COLUMNS = frozenset({"price", "open", "high", "low", "close", "adj_close", "amount", "ratio",
                              "indicated_annual_dividend"})

# NUL cannot be stored in PostgreSQL text at all; the other C0/C1 controls are
# never part of a name or a symbol, only of garbled bytes. Tab and newline are
# whitespace a page may carry inside a cell and are allowed.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def has_control_characters(text: str) -> bool:
    return _CONTROL.search(text) is not None


def sane_date(day: dt.date) -> bool:
    return MIN_DATE <= day <= MAX_DATE
