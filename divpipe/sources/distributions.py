"""What kind of distribution a row is, and which row of its ex-date it is.

One company can pay several distributions on one ex-date: a BDC's monthly
dividend and its quarterly supplemental, a fund's December capital gains
next to its income. Every scraped table and `raw_future_dividends` is keyed
`(symbol, ex_date, distribution_type, seq)` so that each one is kept, and a
corrected amount updates the row it belongs to.

The vocabulary is ours, and the one place that maps a source's own words to
it is `distribution_type()` (migration 002 mirrors it in SQL for rows stored
before; a test keeps the two equal).

`seq` numbers the distributions of one symbol, ex-date and type within one
listing (a page, or a whole paged list): by amount, smallest first, then by
the other values. The rule does not depend on the order the source lists the
rows in, so a source that shuffles its rows changes nothing; a correction
that keeps the amounts in the same order updates its own row.

Rows of one listing that agree on the distribution's facts (amount and
dates) are one distribution listed twice, whatever else differs: NASDAQ's
real calendar lists a company once per spelling of its name ("Archrock, Inc."
and "Archrock, Inc. Common Stock", same amount, same dates).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Hashable, Iterable
from decimal import Decimal
from typing import Any, TypeVar

REGULAR = "regular"
SPECIAL = "special"
SUPPLEMENTAL = "supplemental"
CAPITAL_GAIN = "capital_gain"
UNKNOWN = "unknown"
TYPES = (REGULAR, SPECIAL, SUPPLEMENTAL, CAPITAL_GAIN, UNKNOWN)

# A source's whole word (lower-cased, spaces collapsed) -> our type. Codes
# are Polygon's legacy dividend_type (CD, SC, LT, ST) and its newer
# distribution_type (recurring, special, supplemental, irregular, unknown).
EXACT: dict[str, str] = {
    "cd": REGULAR,
    "sc": SPECIAL,
    "lt": CAPITAL_GAIN,
    "st": CAPITAL_GAIN,
    "recurring": REGULAR,
    # Polygon: paid outside any schedule. For an income investor that is a
    # one-off, which is what "special" means here.
    "irregular": SPECIAL,
    "unknown": UNKNOWN,
}

# Otherwise the first keyword found decides, in this order: "Special Cash
# Dividend" is special although it says "cash", "Supplemental Dividend" is
# supplemental although it says "dividend".
KEYWORDS: tuple[tuple[str, str], ...] = (
    ("supplement", SUPPLEMENTAL),
    ("special", SPECIAL),
    ("extra", SPECIAL),
    ("capital gain", CAPITAL_GAIN),
    ("cap gain", CAPITAL_GAIN),
    ("regular", REGULAR),
    ("ordinary", REGULAR),
    ("recurring", REGULAR),
    ("cash", REGULAR),
    ("income", REGULAR),
    ("dividend", REGULAR),
)


def distribution_type(value: Any) -> str:
    """A source's word for the kind of distribution -> one of TYPES.

    Missing or unrecognised words are "unknown": the source's own text is
    kept next to it (`source_type`), so nothing is lost by not knowing it.
    """
    if not isinstance(value, str):
        return UNKNOWN
    word = " ".join(re.sub(r"[_\-]+", " ", value).lower().split())
    if word in EXACT:
        return EXACT[word]
    for keyword, kind in KEYWORDS:
        if keyword in word:
            return kind
    return UNKNOWN


R = TypeVar("R")


def _order(record: Any) -> tuple:
    amount = getattr(record, "amount", None)
    rest = tuple(str(v) for k, v in sorted(record.row().items()) if k not in ("amount", "seq", "source_url"))
    # NULL amounts last: a row without an amount is the least informative.
    return (amount is None, amount if amount is not None else Decimal(0), rest)


# What makes a distribution: two rows that agree on these (and on symbol,
# ex-date and type) are the same one.
FACTS = ("amount", "payment_date", "record_date", "declaration_date")


def numbered(records: Iterable[R], scope: Callable[[R], Hashable] = lambda r: None) -> list[R]:
    """The records with `seq` set: 1, 2, ... per (scope, symbol, ex_date, distribution_type).

    Repeats within a scope (the same distribution on two overlapping pages, or
    listed under two names) are dropped first, keeping the same one whatever
    the listing order.
    """
    distinct: dict[tuple, R] = {}
    for record in records:
        key = (scope(record), record.symbol, record.ex_date, record.distribution_type)  # type: ignore[attr-defined]
        ident = (*key, *(getattr(record, f, None) for f in FACTS))
        first = distinct.get(ident)
        if first is None or _order(record) < _order(first):
            distinct[ident] = record
    groups: dict[tuple, list[R]] = {}
    for ident, record in distinct.items():
        groups.setdefault(ident[:4], []).append(record)
    out: list[R] = []
    for group in groups.values():
        for seq, record in enumerate(sorted(group, key=_order), start=1):
            out.append(dataclasses.replace(record, seq=seq))  # type: ignore[type-var]
    return out
