"""PostgreSQL rows to Arrow tables with exact types, through COPY ... TO STDOUT (CSV).

The Arrow schema is built from the table's declared column types, so the CSV
reader parses each value straight into its type: NUMERIC(p, s) becomes
decimal128(p, s) (never a float), DATE date32, TIMESTAMPTZ a UTC timestamp
in microseconds, JSONB its JSON text. Values that are strings in CSV are
told apart from NULL the way COPY writes them: NULL unquoted and empty, the
empty string quoted.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg2 import sql

from divpipe.errors import DatabaseError

_SIMPLE = {
    "text": pa.string(),
    "character varying": pa.string(),
    "character": pa.string(),
    "date": pa.date32(),
    "bigint": pa.int64(),
    "integer": pa.int32(),
    "smallint": pa.int16(),
    "boolean": pa.bool_(),
    "double precision": pa.float64(),
    "real": pa.float32(),
}
_UTC_MICROS = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class Column:
    name: str
    arrow: pa.DataType
    select: sql.Composable  # the expression COPY selects for it


def _column(name: str, data_type: str, precision: int | None, scale: int | None) -> Column:
    ident = sql.Identifier(name)
    if data_type == "numeric":
        # An unconstrained NUMERIC has no fixed scale to give decimal128: keep its exact text.
        if precision is None:
            return Column(name, pa.string(), sql.SQL("{}::text").format(ident))
        return Column(name, pa.decimal128(precision, scale or 0), ident)
    if data_type == "timestamp with time zone":
        # ISO with a Z: pyarrow parses it into a UTC timestamp whatever the session's zone.
        expr = sql.SQL("to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')").format(ident)
        return Column(name, _UTC_MICROS, expr)
    if data_type in _SIMPLE:
        return Column(name, _SIMPLE[data_type], ident)
    # jsonb, json and anything else: the value's text, which loses nothing.
    return Column(name, pa.string(), sql.SQL("{}::text").format(ident))


def columns(cur, table: str) -> list[Column]:
    """The table's columns in declared order, each with its Arrow type."""
    cur.execute(
        "SELECT column_name, data_type, numeric_precision, numeric_scale FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = %s ORDER BY ordinal_position",
        (table,),
    )
    rows = cur.fetchall()
    if not rows:
        raise DatabaseError(f"export: table {table} does not exist (migrations not applied?)")
    return [_column(*row) for row in rows]


def schema(cols: list[Column]) -> pa.Schema:
    return pa.schema([pa.field(c.name, c.arrow) for c in cols])


def read(cur, table: str, cols: list[Column], key: tuple[str, ...],
         where: sql.Composable | None = None, params: tuple = ()) -> pa.Table:
    """The rows of `table` matching `where`, ordered by `key`, as an Arrow table of `schema(cols)`."""
    query = sql.SQL("SELECT {cols} FROM {table}{where} ORDER BY {key}").format(
        cols=sql.SQL(", ").join(c.select for c in cols),
        table=sql.Identifier(table),
        where=sql.SQL(" WHERE ") + where if where is not None else sql.SQL(""),
        key=sql.SQL(", ").join(sql.Identifier(k) for k in key),
    )
    # COPY takes no parameters: bind them into the SELECT first.
    select = cur.mogrify(query, params)
    buffer = io.BytesIO()
    cur.copy_expert(b"COPY (" + select + b") TO STDOUT WITH (FORMAT csv)", buffer)
    arrow_schema = schema(cols)
    if buffer.tell() == 0:
        return arrow_schema.empty_table()
    buffer.seek(0)
    return pacsv.read_csv(
        buffer,
        read_options=pacsv.ReadOptions(column_names=[c.name for c in cols], block_size=16 << 20),
        convert_options=pacsv.ConvertOptions(
            column_types=arrow_schema,
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            true_values=["t"],
            false_values=["f"],
        ),
    )
