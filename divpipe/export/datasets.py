"""The exported datasets: one place that says which table becomes which dataset, and how it is split.

A dataset with a date column is Hive-partitioned by that column's year (and
month, for prices: a month of prices is the file size readers like); one
without is a single file.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from divpipe.errors import ConfigError
from divpipe.sources import registry


@dataclass(frozen=True)
class Dataset:
    name: str
    table: str
    key: tuple[str, ...]  # the primary key: rows are written in this order
    date_column: str | None = None  # None: one file for the whole table
    by_month: bool = False


# The scraped tables keep every distribution of an ex-date (migration 002).
DISTRIBUTION_KEY = ("symbol", "ex_date", "distribution_type", "seq")

DATASETS: tuple[Dataset, ...] = (
    Dataset("prices", "raw_stock_prices", ("symbol", "date"), "date", by_month=True),
    Dataset("dividends", "raw_dividends", ("symbol", "ex_date"), "ex_date"),
    Dataset("splits", "raw_stock_splits", ("symbol", "split_date"), "split_date"),
    # One dataset per scraped source the registry exports.
    *(Dataset(spec.dataset, spec.table, DISTRIBUTION_KEY, "ex_date")
      for spec in registry.SPECS if spec.dataset and spec.table),
    Dataset("stocks", "raw_stocks", ("symbol",)),
    Dataset("future_dividends", "raw_future_dividends", DISTRIBUTION_KEY),
)
BY_NAME = {d.name: d for d in DATASETS}
SINGLE_FILE = "data.parquet"


@dataclass(frozen=True, order=True)
class Partition:
    """One partition of a dataset: a year, a year and month, or the whole table (both None)."""

    year: int | None = None
    month: int | None = None

    @property
    def path(self) -> str:
        """The Hive directory under the dataset, '' for a one-file dataset."""
        if self.year is None:
            return ""
        if self.month is None:
            return f"year={self.year}"
        return f"year={self.year}/month={self.month}"

    def date_range(self) -> tuple[dt.date, dt.date]:
        """[first day, first day after) of the partition; only for dated partitions."""
        assert self.year is not None
        if self.month is None:
            return dt.date(self.year, 1, 1), dt.date(self.year + 1, 1, 1)
        start = dt.date(self.year, self.month, 1)
        end = dt.date(self.year + (self.month == 12), self.month % 12 + 1, 1)
        return start, end

    @classmethod
    def from_path(cls, path: str) -> Partition:
        if not path:
            return cls()
        parts = dict(piece.split("=", 1) for piece in path.split("/"))
        return cls(int(parts["year"]), int(parts["month"]) if "month" in parts else None)


def partition_start(dataset: Dataset, since: dt.date) -> dt.date:
    """The first day of the partition holding `since`: --since selects whole partitions."""
    return since.replace(day=1) if dataset.by_month else since.replace(month=1, day=1)


def select(names: str | None) -> list[Dataset]:
    """The datasets named in a comma-separated list (table names accepted too); all when None."""
    if not names:
        return list(DATASETS)
    by_table = {d.table: d for d in DATASETS}
    chosen: list[Dataset] = []
    for raw in names.split(","):
        name = raw.strip()
        dataset = BY_NAME.get(name) or by_table.get(name)
        if dataset is None:
            raise ConfigError(f"--tables: unknown table {name!r} (one of: {', '.join(BY_NAME)})")
        if dataset not in chosen:
            chosen.append(dataset)
    return chosen
