"""Database errors as the one-line, fatal DatabaseError the entry points report."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import psycopg2
from psycopg2 import sql

from divpipe.errors import DatabaseError


def first_line(err: BaseException) -> str:
    """The first line of an error's message (psycopg2's run on with DETAIL and HINT lines)."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def rollback_quietly(conn) -> None:
    """Roll back after a failure without hiding it.

    When the failure was the connection itself (server gone, connection
    reset), rollback() raises too, and that second error would replace the
    one worth reporting.
    """
    try:
        conn.rollback()
    except psycopg2.Error:
        pass


@contextmanager
def database_errors(what: str) -> Iterator[None]:
    """Re-raise any psycopg2 error inside as `DatabaseError("<what>: <first line>")`."""
    try:
        yield
    except psycopg2.Error as err:
        raise DatabaseError(f"{what}: {first_line(err)}") from err


def lock_rows_in_key_order(cur, table: str, column: str, keys: Sequence) -> None:
    """Lock the rows about to be updated, in key order, inside the caller's transaction.

    Two transactions that update overlapping rows (phase 2's company refresh
    and holdings update both write raw_stocks) can deadlock when each takes
    its row locks in a different order; taking them in one global order first
    cannot.
    """
    cur.execute(
        sql.SQL("SELECT 1 FROM {t} WHERE {c} = ANY(%s) ORDER BY {c} FOR UPDATE").format(
            t=sql.Identifier(table), c=sql.Identifier(column)
        ),
        (sorted(keys),),
    )
