"""Which partitions a night rewrites: their fingerprints now against the bookmark.

A partition's fingerprint is its row count and the sum of a 64-bit hash of
each row's text (`hashtextextended(row::text, 0)`). It changes when a row is
added, removed or has any value changed, whatever the table: the price table
has no `updated_at` to compare against, and a checksum catches deletions too.
It is one grouped scan of the table, inside the export's snapshot, so the
fingerprints and the rows written agree. (Two changes whose hashes cancel
out exactly would go unseen: a 1 in 2^64 chance; `--full` rewrites all.)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from psycopg2 import sql

from divpipe.export.datasets import Dataset, Partition, partition_start


@dataclass
class DatasetPlan:
    dataset: Dataset
    current: dict[Partition, tuple[str, int]]  # partition -> (fingerprint, rows), in the considered range
    write: list[Partition] = field(default_factory=list)
    unchanged: list[Partition] = field(default_factory=list)
    gone: list[Partition] = field(default_factory=list)  # bookmarked, no rows any more


def fingerprints(cur, dataset: Dataset, since: dt.date | None) -> dict[Partition, tuple[str, int]]:
    """Fingerprint and row count of every partition (those from `since`'s partition on, if given)."""
    digest = sql.SQL("count(*), coalesce(sum(hashtextextended(t::text, 0)::numeric), 0)")
    table = sql.Identifier(dataset.table)
    if dataset.date_column is None:
        cur.execute(sql.SQL("SELECT {d} FROM {t} AS t").format(d=digest, t=table))
        rows, total = cur.fetchone()
        return {Partition(): (f"{rows}:{total}", rows)}
    column = sql.Identifier(dataset.date_column)
    keys = [sql.SQL("extract(year FROM {c})::int").format(c=column)]
    if dataset.by_month:
        keys.append(sql.SQL("extract(month FROM {c})::int").format(c=column))
    where, params = sql.SQL(""), ()
    if since is not None:
        where, params = sql.SQL(" WHERE {c} >= %s").format(c=column), (partition_start(dataset, since),)
    cur.execute(
        sql.SQL("SELECT {k}, {d} FROM {t} AS t{w} GROUP BY {g}").format(
            k=sql.SQL(", ").join(keys), d=digest, t=table, w=where,
            g=sql.SQL(", ").join(sql.SQL(str(i + 1)) for i in range(len(keys))),
        ),
        params,
    )
    found = {}
    for row in cur.fetchall():
        *part, rows, total = row
        partition = Partition(part[0], part[1] if dataset.by_month else None)
        found[partition] = (f"{rows}:{total}", rows)
    return found


def bookmarks(cur, lake: str, dataset: Dataset) -> dict[Partition, str]:
    cur.execute("SELECT partition, fingerprint FROM export_bookmarks WHERE lake = %s AND dataset = %s",
                (lake, dataset.name))
    return {Partition.from_path(path): fp for path, fp in cur.fetchall()}


def in_range(dataset: Dataset, partition: Partition, since: dt.date | None) -> bool:
    if since is None or partition.year is None:
        return True
    return partition.date_range()[1] > partition_start(dataset, since)


def plan_dataset(cur, lake: str, dataset: Dataset, *, since: dt.date | None, full: bool,
                 present: set[Partition]) -> DatasetPlan:
    """Compare fingerprints with the bookmark. `present`: partitions whose files the lake still has."""
    current = fingerprints(cur, dataset, since)
    marked = bookmarks(cur, lake, dataset)
    plan = DatasetPlan(dataset, current)
    for partition in sorted(current):
        fingerprint, _ = current[partition]
        if not full and marked.get(partition) == fingerprint and partition in present:
            plan.unchanged.append(partition)
        else:
            plan.write.append(partition)
    plan.gone = sorted(p for p in marked if p not in current and in_range(dataset, p, since))
    return plan


def save_bookmarks(cur, lake: str, plan: DatasetPlan) -> None:
    """Record what was written and forget what is gone, in the caller's transaction."""
    for partition in plan.write:
        fingerprint, rows = plan.current[partition]
        cur.execute(
            "INSERT INTO export_bookmarks (lake, dataset, partition, fingerprint, rows) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (lake, dataset, partition) DO UPDATE "
            "SET fingerprint = EXCLUDED.fingerprint, rows = EXCLUDED.rows, exported_at = now()",
            (lake, plan.dataset.name, partition.path, fingerprint, rows),
        )
    for partition in plan.gone:
        cur.execute("DELETE FROM export_bookmarks WHERE lake = %s AND dataset = %s AND partition = %s",
                    (lake, plan.dataset.name, partition.path))
