"""The one write path: set-based, idempotent bulk upserts.

Rows are COPYed into a temporary staging table, then merged with one
`INSERT ... SELECT ... ON CONFLICT DO UPDATE`. The update:

- keeps the stored value where the new one is NULL (a known value is never
  overwritten with NULL);
- touches a row only when some value really changed, so a re-run reports
  0 inserted, 0 updated and leaves the rows (and their xmin) alone.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import count

import psycopg2
import psycopg2.errors
from psycopg2 import sql

from divpipe.db.failures import first_line
from divpipe.errors import DatabaseError

_COPY_READ_BYTES = 1 << 16
_ANALYZE_ABOVE_ROWS = 10_000
_stage_ids = count()


@dataclass(frozen=True)
class UpsertResult:
    inserted: int = 0
    updated: int = 0

    def __add__(self, other: UpsertResult) -> UpsertResult:
        return UpsertResult(self.inserted + other.inserted, self.updated + other.updated)

    @property
    def written(self) -> int:
        return self.inserted + self.updated


_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value) -> str:
    """One value in COPY's text format."""
    if value is None:
        return "\\N"
    kind = type(value)
    if kind is str:
        return value.translate(_ESCAPES)
    if kind is bool:
        return "t" if value else "f"
    if kind is float:
        return "\\N" if math.isnan(value) else repr(value)
    if kind in (int, Decimal):
        return "\\N" if kind is Decimal and value.is_nan() else str(value)
    if kind in (dt.date, dt.datetime):
        return value.isoformat()
    if kind in (dict, list):
        return json.dumps(value, default=str, sort_keys=True).translate(_ESCAPES)
    if isinstance(value, dt.date):  # pandas Timestamp and other date subclasses
        return value.isoformat()
    if isinstance(value, float):  # numpy floats
        return "\\N" if math.isnan(value) else repr(float(value))
    if isinstance(value, int):  # numpy ints
        return str(int(value))
    return str(value).translate(_ESCAPES)


def _dedupe(rows: Iterable[dict], key: Sequence[str]) -> tuple[list[str], list[tuple]]:
    """Rows as tuples in column order; the last row wins for a repeated key."""
    columns: list[str] | None = None
    by_key: dict[tuple, tuple] = {}
    for row in rows:
        if columns is None:
            columns = list(row)
            missing = [k for k in key if k not in row]
            if missing:
                raise ValueError(f"rows lack key column(s) {missing}")
            key_idx = [columns.index(k) for k in key]
            colset = set(columns)
        elif row.keys() != colset:
            raise ValueError(f"all rows must have the same columns; got {sorted(row)} after {columns}")
        values = tuple(row[c] for c in columns)
        by_key[tuple(values[i] for i in key_idx)] = values
    return columns or [], list(by_key.values())


def _changed(columns: list[str], new: str, old: str):
    """SQL: some non-NULL new value differs from the stored one."""
    return sql.SQL(" OR ").join(
        sql.SQL("({n}.{c} IS NOT NULL AND {n}.{c} IS DISTINCT FROM {o}.{c})").format(
            n=sql.Identifier(new), o=sql.Identifier(old), c=sql.Identifier(c)
        )
        for c in columns
    )


def _key_match(key: Sequence[str], left: str, right: str):
    return sql.SQL(" AND ").join(
        sql.SQL("{l}.{c} = {r}.{c}").format(
            l=sql.Identifier(left), r=sql.Identifier(right), c=sql.Identifier(c)
        )
        for c in key
    )


def _fast_statements(table: str, columns: list[str], key: Sequence[str], stage: str, stamp: str | None):
    """UPDATE the rows that changed, then plainly INSERT the rows that are new.

    A plain INSERT costs about half of ON CONFLICT's speculative insertion;
    if a concurrent writer adds one of our keys in between, the INSERT
    raises a unique violation and the caller falls back to `_merge_sql`.
    """
    ident = sql.Identifier
    others = [c for c in columns if c not in key]
    update = None
    if others:
        sets = [sql.SQL("{c} = COALESCE(s.{c}, t.{c})").format(c=ident(c)) for c in others]
        if stamp:
            sets.append(sql.SQL("{c} = now()").format(c=ident(stamp)))
        update = sql.SQL(
            "UPDATE {table} AS t SET {sets} FROM {stage} AS s WHERE {match} AND ({changed})"
        ).format(
            table=ident(table), sets=sql.SQL(", ").join(sets), stage=ident(stage),
            match=_key_match(key, "t", "s"), changed=_changed(others, "s", "t"),
        )
    cols = sql.SQL(", ").join(sql.SQL("s.{c}").format(c=ident(c)) for c in columns)
    insert = sql.SQL(
        "INSERT INTO {table} ({names}) SELECT {cols} FROM {stage} AS s"
        " WHERE NOT EXISTS (SELECT 1 FROM {table} AS t WHERE {match})"
        # In key order the primary key's btree is appended to, page after page;
        # in the random order of a hash join the same insert costs twice as much.
        " ORDER BY {order}"
    ).format(
        table=ident(table), names=sql.SQL(", ").join(map(ident, columns)), cols=cols,
        stage=ident(stage), match=_key_match(key, "t", "s"),
        order=sql.SQL(", ").join(sql.SQL("s.{c}").format(c=ident(c)) for c in key),
    )
    return update, insert


def _merge_sql(table: str, columns: list[str], key: Sequence[str], stage: str, stamp: str | None):
    """One INSERT ... ON CONFLICT: safe against any concurrent writer of the same keys."""
    ident = sql.Identifier
    cols = sql.SQL(", ").join(map(ident, columns))
    others = [c for c in columns if c not in key]
    if others:
        assignments = [
            sql.SQL("{c} = COALESCE(EXCLUDED.{c}, t.{c})").format(c=ident(c)) for c in others
        ]
        if stamp:
            assignments.append(sql.SQL("{s} = now()").format(s=ident(stamp)))
        action = sql.SQL("DO UPDATE SET {a} WHERE {w}").format(
            a=sql.SQL(", ").join(assignments), w=_changed(others, "excluded", "t")
        )
    else:
        action = sql.SQL("DO NOTHING")
    return sql.SQL(
        "WITH merged AS ("
        " INSERT INTO {table} AS t ({cols}) SELECT {cols} FROM {stage}"
        " ON CONFLICT ({key}) {action} RETURNING (xmax = 0) AS inserted)"
        " SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM merged"
    ).format(
        table=ident(table),
        cols=cols,
        stage=ident(stage),
        key=sql.SQL(", ").join(map(ident, key)),
        action=action,
    )


class _CopyStream:
    """A file-like COPY source that formats rows as the server asks for them.

    Formatting on our core while the server parses on the other one is most
    of what makes a million-row COPY fast on a 2-core machine.
    """

    def __init__(self, tuples: list[tuple]):
        self._lines = ("\t".join(map(_copy_text, values)) + "\n" for values in tuples)
        self._pending = ""

    def read(self, size: int = -1) -> str:
        parts = [self._pending]
        have = len(self._pending)
        for line in self._lines:
            parts.append(line)
            have += len(line)
            if 0 <= size <= have:
                break
        data = "".join(parts)
        if size < 0 or len(data) <= size:
            self._pending = ""
            return data
        self._pending = data[size:]
        return data[:size]

    readline = read


def bulk_upsert(
    conn,
    table: str,
    rows: Iterable[dict],
    key: Sequence[str],
    *,
    commit: bool = True,
    stamp: str | None = None,
) -> UpsertResult:
    """Upsert `rows` (dicts with the same keys) into `table`, keyed on `key`.

    Columns absent from the dicts are left alone (their defaults apply on
    insert). With `commit=True` the call is its own transaction; pass
    `commit=False` to make it part of the caller's.
    """
    columns, tuples = _dedupe(rows, key)
    if not tuples:
        return UpsertResult()
    stage = f"_stage_{table}_{next(_stage_ids)}"
    ident = sql.Identifier
    try:
        with conn.cursor() as cur:
            cur.execute(
                sql.SQL("CREATE TEMP TABLE {stage} AS SELECT {cols} FROM {table} WITH NO DATA").format(
                    stage=ident(stage), cols=sql.SQL(", ").join(map(ident, columns)), table=ident(table)
                )
            )
            copy = sql.SQL("COPY {stage} ({cols}) FROM STDIN").format(
                stage=ident(stage), cols=sql.SQL(", ").join(map(ident, columns))
            ).as_string(conn)
            cur.copy_expert(copy, _CopyStream(tuples), size=_COPY_READ_BYTES)
            if len(tuples) > _ANALYZE_ABOVE_ROWS:
                # A fresh temp table has no statistics; without them large joins get nested loops.
                cur.execute(sql.SQL("ANALYZE {stage}").format(stage=ident(stage)))
                # The default 4 MB splits a million-row hash join into batches on disk.
                cur.execute("SET LOCAL work_mem = '256MB'")
            cur.execute("SAVEPOINT divpipe_fast_upsert")
            try:
                update, insert = _fast_statements(table, columns, key, stage, stamp)
                updated = 0
                if update is not None:
                    cur.execute(update)
                    updated = cur.rowcount
                cur.execute(insert)
                inserted = cur.rowcount
                cur.execute("RELEASE SAVEPOINT divpipe_fast_upsert")
            except psycopg2.errors.UniqueViolation:
                cur.execute("ROLLBACK TO SAVEPOINT divpipe_fast_upsert")
                cur.execute(_merge_sql(table, columns, key, stage, stamp))
                inserted, updated = cur.fetchone()
            cur.execute(sql.SQL("DROP TABLE {stage}").format(stage=ident(stage)))
        if commit:
            conn.commit()
    except psycopg2.Error as err:
        if commit:
            conn.rollback()
        raise DatabaseError(f"writing {table}: {first_line(err)}") from err
    except BaseException:
        if commit:
            conn.rollback()
        raise
    return UpsertResult(inserted, updated)
