"""The one write path: set-based, idempotent bulk upserts.

Rows are COPYed into a temporary staging table, then merged with one
`INSERT ... SELECT ... ON CONFLICT DO UPDATE`. The update:

- keeps the stored value where the new one is NULL (a known value is never
  overwritten with NULL);
- touches a row only when some value really changed, so a re-run reports
  0 inserted, 0 updated and leaves the rows (and their xmin) alone.

Before anything is sent, every value is checked against the column it goes to,
as the catalog describes it (`_Column`): a NUMERIC's precision and scale, an
integer's range, a date's sane range (`divpipe.values`), positive prices, text
without NUL or control characters, JSON without NUL. A bad value in a key or
NOT NULL column rejects its row; elsewhere it is written as NULL (which keeps
the stored value). Each costs one ⚠️ line and is counted in the result, and
the rest of the batch is written: one absurd value never fails a night.

A nonzero amount that the column's scale would round to zero (1e-9 in a
NUMERIC(18,8)) counts as bad rather than being stored as 0: the source meant
something, and 0 is not it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import count

import psycopg2
import psycopg2.errors
from psycopg2 import sql

from divpipe import values
from divpipe.db.failures import first_line, rollback_quietly
from divpipe.errors import DatabaseError

log = logging.getLogger(__name__)

_COPY_READ_BYTES = 1 << 16
_ANALYZE_ABOVE_ROWS = 10_000
_stage_ids = count()
# ⚠️ lines per call for bad values; the rest are counted only.
MAX_BAD_VALUE_LINES = 20


@dataclass(frozen=True)
class UpsertResult:
    inserted: int = 0
    updated: int = 0
    rejected: int = 0  # rows left out for a bad key (or NOT NULL) value
    nulled: int = 0    # bad values written as NULL, their rows kept

    def __add__(self, other: UpsertResult) -> UpsertResult:
        return UpsertResult(self.inserted + other.inserted, self.updated + other.updated,
                            self.rejected + other.rejected, self.nulled + other.nulled)

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


class BadValue(ValueError):
    """A value that does not fit the column it goes to."""


_INT_RANGES = {"smallint": 2**15, "integer": 2**31, "bigint": 2**63}
_NON_NEGATIVE = frozenset({"volume", "market_cap", "aum", "dividend_yield", "expense_ratio", "holdings_count"})


def _show(value, limit: int = 40) -> str:
    shown = repr(value)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


@dataclass(frozen=True)
class _Column:
    """One column as the catalog describes it."""

    name: str
    type: str               # information_schema data_type: numeric, bigint, date, text, jsonb, ...
    precision: int | None   # NUMERIC(p, s)
    scale: int | None
    not_null: bool

    def checker(self):
        """A function value -> value to write (None for unknown) that raises BadValue."""
        if self.type == "numeric":
            return self._numeric()
        if self.type in _INT_RANGES:
            return self._integer(_INT_RANGES[self.type])
        if self.type == "date":
            return _check_date
        if self.type in ("text", "character varying", "character"):
            return _check_text
        if self.type in ("json", "jsonb"):
            return _check_json
        return None

    def _sign_rule(self):
        if self.name in values.POSITIVE_COLUMNS:
            return lambda v: v > 0, "must be positive"
        if self.name in _NON_NEGATIVE:
            return lambda v: v >= 0, "must not be negative"
        return None, ""

    def _numeric(self):
        scale, precision = self.scale, self.precision
        quantum = Decimal(1).scaleb(-(scale or 0))
        limit = Decimal(10) ** (precision - (scale or 0)) if precision is not None else Decimal("Infinity")
        spelled = f"NUMERIC({precision},{scale})"
        positive = self.name in values.POSITIVE_COLUMNS
        low = Decimal(0) if positive or self.name in _NON_NEGATIVE else -limit

        # The common case (a finite Decimal already at the column's scale, in
        # range) costs one quantize and two comparisons: millions pass per load.
        def check(value):
            if type(value) is not Decimal:
                value = _as_decimal(value)
                if value is None:
                    return None
            if not value.is_finite():
                if value.is_nan():
                    return None  # NaN is how frames say "unknown"
                raise BadValue(f"not a finite number: {value}")
            try:
                rounded = value.quantize(quantum) if scale is not None else value
            except ArithmeticError:  # more digits than the context holds: far too big
                raise BadValue(f"{_show(value)} does not fit {spelled}") from None
            if rounded and low < rounded < limit:
                return rounded
            if not rounded:
                if value:
                    raise BadValue(f"{value} is below the resolution of {spelled}")
                if positive:
                    raise BadValue("0 must be positive")
                return rounded
            if abs(rounded) >= limit:
                raise BadValue(f"{_show(value)} does not fit {spelled}")
            raise BadValue(f"{value} must be {'positive' if positive else 'zero or more'}")

        return check

    def _integer(self, bound: int):
        ok_sign, sign_reason = self._sign_rule()

        low = 0 if ok_sign is not None else -bound

        def check(value):
            if type(value) is int and low <= value < bound:
                return value
            if value is None:
                return None
            if isinstance(value, float) or (not isinstance(value, int) and hasattr(value, "is_integer")):
                if math.isnan(value):
                    return None
                if not math.isfinite(value) or not float(value).is_integer():
                    raise BadValue(f"not a whole number: {_show(value)}")
                value = int(value)
            elif isinstance(value, bool):
                raise BadValue(f"not a whole number: {value!r}")
            elif not isinstance(value, int):
                try:
                    value = int(value)
                except (TypeError, ValueError):
                    raise BadValue(f"not a whole number: {_show(value)}") from None
            if not -bound <= value < bound:
                raise BadValue(f"{value} is out of range")
            if ok_sign is not None and not ok_sign(value):
                raise BadValue(f"{value} {sign_reason}")
            return value

        return check


def _as_decimal(value) -> Decimal | None:
    """Any number (numpy's too) as a Decimal; None and NaN, "unknown", as None."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise BadValue(f"not a number: {value!r}")
    if isinstance(value, int):
        return Decimal(value)
    try:
        number = float(value) if not isinstance(value, str) else value
        if isinstance(number, float) and math.isnan(number):
            return None
        # Through repr so 0.05 stays 0.05 rather than 0.05000000000000000277...
        return Decimal(repr(number) if isinstance(number, float) else number)
    except (TypeError, ValueError, ArithmeticError):
        raise BadValue(f"not a number: {_show(value)}") from None


def _check_date(value):
    if type(value) is dt.date and values.MIN_DATE <= value <= values.MAX_DATE:
        return value
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        value = value.date()
    elif not isinstance(value, dt.date):
        raise BadValue(f"not a date: {_show(value)}")
    if not values.sane_date(value):
        raise BadValue(f"date {value} is out of range")
    return value


def _check_text(value):
    if type(value) is str and values.has_control_characters(value):
        raise BadValue(f"NUL or control character in {_show(value)}")
    return value


def _check_json(value):
    if value is not None and "\\u0000" in json.dumps(value, default=str):
        raise BadValue("NUL character in JSON")
    return value


_CATALOG_SQL = """
SELECT c.column_name, c.data_type, c.numeric_precision, c.numeric_scale, c.is_nullable = 'NO'
  FROM information_schema.columns c
 WHERE c.table_schema = current_schema() AND c.table_name = %s
"""


def columns_of(conn, table: str) -> dict[str, _Column]:
    """The table's columns from the catalog (one query, in the caller's transaction)."""
    with conn.cursor() as cur:
        cur.execute(_CATALOG_SQL, (table,))
        return {name: _Column(name, kind, precision, scale, not_null)
                for name, kind, precision, scale, not_null in cur.fetchall()}


@dataclass
class _Checked:
    columns: list[str]
    tuples: list[tuple]
    rejected: int = 0
    nulled: int = 0


def _dedupe(rows: Iterable[dict], key: Sequence[str], table: str,
            catalog: dict[str, _Column] | None) -> _Checked:
    """Rows as checked tuples in column order; the last row wins for a repeated key."""
    columns: list[str] | None = None
    by_key: dict[tuple, tuple] = {}
    checked = _Checked([], [])
    lines = 0

    def warn(message: str, *args) -> None:
        nonlocal lines
        lines += 1
        if lines <= MAX_BAD_VALUE_LINES:
            log.warning("⚠️ writing %s: " + message, table, *args)

    for row in rows:
        if columns is None:
            columns = list(row)
            missing = [k for k in key if k not in row]
            if missing:
                raise ValueError(f"rows lack key column(s) {missing}")
            key_idx = [columns.index(k) for k in key]
            colset = set(columns)
            checks = []
            if catalog is not None:
                unknown = [c for c in columns if c not in catalog]
                if unknown:
                    raise ValueError(f"{table} has no column(s) {unknown}")
                for i, name in enumerate(columns):
                    column = catalog[name]
                    fatal = name in key or column.not_null
                    check = column.checker()
                    if check is not None:
                        checks.append((i, name, check, fatal))
        elif row.keys() != colset:
            raise ValueError(f"all rows must have the same columns; got {sorted(row)} after {columns}")
        record = [row[c] for c in columns]
        rejected = False
        for i, name, check, fatal in checks:
            try:
                record[i] = check(record[i])
            except BadValue as bad:
                where = ", ".join(f"{columns[k]}={_show(record[k], 24)}" for k in key_idx)
                if fatal:
                    warn("rejected row (%s): %s %s", where, name, bad)
                    rejected = True
                    break
                warn("(%s): %s %s: left NULL", where, name, bad)
                record[i] = None
                checked.nulled += 1
        if rejected:
            checked.rejected += 1
            continue
        by_key[tuple(record[i] for i in key_idx)] = tuple(record)
    if lines > MAX_BAD_VALUE_LINES:
        log.warning("⚠️ writing %s: ... and %d more bad value(s)", table, lines - MAX_BAD_VALUE_LINES)
    checked.columns = columns or []
    checked.tuples = list(by_key.values())
    return checked


def _changed(columns: list[str], new: str, old: str, fill_only: bool = False):
    """SQL: some non-NULL new value differs from the stored one (fill_only: fills a stored NULL)."""
    template = ("({o}.{c} IS NULL AND {n}.{c} IS NOT NULL)" if fill_only
                else "({n}.{c} IS NOT NULL AND {n}.{c} IS DISTINCT FROM {o}.{c})")
    return sql.SQL(" OR ").join(
        sql.SQL(template).format(n=sql.Identifier(new), o=sql.Identifier(old), c=sql.Identifier(c))
        for c in columns
    )


def _assign(column: str, new: str, old: str, fill_only: bool):
    """SQL: the value written; never a NULL over a known value, and with fill_only never a change of one."""
    first, second = (old, new) if fill_only else (new, old)
    return sql.SQL("{c} = COALESCE({a}.{c}, {b}.{c})").format(
        c=sql.Identifier(column), a=sql.Identifier(first), b=sql.Identifier(second))


def _key_match(key: Sequence[str], left: str, right: str):
    return sql.SQL(" AND ").join(
        sql.SQL("{l}.{c} = {r}.{c}").format(
            l=sql.Identifier(left), r=sql.Identifier(right), c=sql.Identifier(c)
        )
        for c in key
    )


def _fast_statements(table: str, columns: list[str], key: Sequence[str], stage: str, stamps: Sequence[str],
                     fill_only: bool):
    """UPDATE the rows that changed, then plainly INSERT the rows that are new.

    A plain INSERT costs about half of ON CONFLICT's speculative insertion;
    if a concurrent writer adds one of our keys in between, the INSERT
    raises a unique violation and the caller falls back to `_merge_sql`.
    """
    ident = sql.Identifier
    others = [c for c in columns if c not in key]
    update = None
    if others:
        sets = [_assign(c, "s", "t", fill_only) for c in others]
        sets += [sql.SQL("{c} = now()").format(c=ident(stamp)) for stamp in stamps]
        update = sql.SQL(
            "UPDATE {table} AS t SET {sets} FROM {stage} AS s WHERE {match} AND ({changed})"
        ).format(
            table=ident(table), sets=sql.SQL(", ").join(sets), stage=ident(stage),
            match=_key_match(key, "t", "s"), changed=_changed(others, "s", "t", fill_only),
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


def _merge_sql(table: str, columns: list[str], key: Sequence[str], stage: str, stamps: Sequence[str],
               fill_only: bool):
    """One INSERT ... ON CONFLICT: safe against any concurrent writer of the same keys."""
    ident = sql.Identifier
    cols = sql.SQL(", ").join(map(ident, columns))
    others = [c for c in columns if c not in key]
    if others:
        assignments = [_assign(c, "excluded", "t", fill_only) for c in others]
        assignments += [sql.SQL("{s} = now()").format(s=ident(stamp)) for stamp in stamps]
        action = sql.SQL("DO UPDATE SET {a} WHERE {w}").format(
            a=sql.SQL(", ").join(assignments), w=_changed(others, "excluded", "t", fill_only)
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
    stamp: str | Sequence[str] | None = None,
    fill_only: bool = False,
) -> UpsertResult:
    """Upsert `rows` (dicts with the same keys) into `table`, keyed on `key`.

    Columns absent from the dicts are left alone (their defaults apply on
    insert). With `commit=True` the call is its own transaction; pass
    `commit=False` to make it part of the caller's. `stamp` names the
    column(s) set to now() on the rows that changed. With `fill_only` a
    stored value is never changed, only a stored NULL filled (the company
    refresh fills gaps; refreshing known values is the main update's job).
    """
    stamps = (stamp,) if isinstance(stamp, str) else tuple(stamp or ())
    try:
        checked = _dedupe(rows, key, table, columns_of(conn, table))
        columns, tuples = checked.columns, checked.tuples
        if not tuples:
            if commit:
                conn.commit()
            return UpsertResult(rejected=checked.rejected, nulled=checked.nulled)
    except psycopg2.Error as err:
        if commit:
            rollback_quietly(conn)
        raise DatabaseError(f"writing {table}: {first_line(err)}") from err
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
                update, insert = _fast_statements(table, columns, key, stage, stamps, fill_only)
                updated = 0
                if update is not None:
                    cur.execute(update)
                    updated = cur.rowcount
                cur.execute(insert)
                inserted = cur.rowcount
                cur.execute("RELEASE SAVEPOINT divpipe_fast_upsert")
            except psycopg2.errors.UniqueViolation:
                cur.execute("ROLLBACK TO SAVEPOINT divpipe_fast_upsert")
                cur.execute(_merge_sql(table, columns, key, stage, stamps, fill_only))
                inserted, updated = cur.fetchone()
            cur.execute(sql.SQL("DROP TABLE {stage}").format(stage=ident(stage)))
        if commit:
            conn.commit()
    except psycopg2.Error as err:
        if commit:
            rollback_quietly(conn)
        raise DatabaseError(f"writing {table}: {first_line(err)}") from err
    except BaseException:
        if commit:
            rollback_quietly(conn)
        raise
    return UpsertResult(inserted, updated, checked.rejected, checked.nulled)


def check_rows(conn, table: str, rows: Iterable[dict], key: Sequence[str]) -> tuple[list[dict], UpsertResult]:
    """The rows as `bulk_upsert` would write them (bad values rejected or NULLed, one ⚠️ line each).

    For the few writes whose SQL is not an upsert (filling only NULL columns,
    stamping when something changed): they pass their values through here
    first, so one rule decides what a column accepts.
    """
    try:
        checked = _dedupe(rows, key, table, columns_of(conn, table))
    except psycopg2.Error as err:
        raise DatabaseError(f"checking values for {table}: {first_line(err)}") from err
    cleaned = [dict(zip(checked.columns, t, strict=True)) for t in checked.tuples]
    return cleaned, UpsertResult(rejected=checked.rejected, nulled=checked.nulled)
