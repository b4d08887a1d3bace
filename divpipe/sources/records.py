"""What the source modules hand to the jobs: typed records and rejected rows.

A source module never fetches: it says which URLs to GET (the HTTP layer adds
the headers each site wants), and turns each response body into a
`ParseResult` of typed records plus the rows it rejected (with the reason).
Field names of the records are the column names of the source's raw table,
so a record becomes a database row with `row()`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Generic, TypeVar

from divpipe.sources.normalize import InvalidValue


@dataclass(frozen=True, kw_only=True)
class Dividend:
    """The columns every raw dividend table shares.

    Key: (symbol, ex_date, distribution_type, seq), so that several
    distributions on one ex-date are each kept (see `distributions`).
    """

    symbol: str
    ex_date: dt.date
    distribution_type: str = "unknown"
    seq: int = 1
    amount: Decimal | None = None
    payment_date: dt.date | None = None
    record_date: dt.date | None = None
    declaration_date: dt.date | None = None
    source_url: str | None = None

    def row(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def key(self) -> tuple[str, dt.date, str, int]:
        return (self.symbol, self.ex_date, self.distribution_type, self.seq)


@dataclass(frozen=True)
class Rejected:
    """A row that failed validation: a short rendering of it and why."""

    row: str
    reason: str

    @classmethod
    def of(cls, raw: Any, reason: str, limit: int = 160) -> Rejected:
        shown = repr(raw)
        if len(shown) > limit:
            shown = shown[: limit - 3] + "..."
        return cls(shown, reason)


T = TypeVar("T")


@dataclass
class ParseResult(Generic[T]):
    records: list[T] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)

    def add(self, raw: Any, make: Callable[..., T], *args: Any) -> None:
        """Keep `make(raw, *args)`, or reject `raw` with the reason its value was invalid."""
        try:
            self.records.append(make(raw, *args))
        except InvalidValue as err:
            self.rejected.append(Rejected.of(raw, str(err)))
