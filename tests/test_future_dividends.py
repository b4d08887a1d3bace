"""future-dividends: precedence, conflicts, removals, idempotence, one transaction."""

from __future__ import annotations

import datetime as dt
import logging
import subprocess
import sys
import threading
from decimal import Decimal
from pathlib import Path

import psycopg2
import pytest

from divpipe.jobs import future_dividends as fd

ROOT = Path(__file__).resolve().parent.parent
TODAY = dt.date(2026, 11, 20)

TABLES = {name: table for name, table in fd.SOURCES}


def add(conn, source, symbol, ex_date, amount=None, **dates):
    cols = {"symbol": symbol, "ex_date": ex_date, "amount": amount, **dates}
    names = ", ".join(cols)
    marks = ", ".join(["%s"] * len(cols))
    with conn, conn.cursor() as cur:
        cur.execute(f"INSERT INTO {TABLES[source]} ({names}) VALUES ({marks})", list(cols.values()))


def future_rows(conn):
    with conn, conn.cursor() as cur:
        cur.execute(
            "SELECT symbol, ex_date, amount, payment_date, record_date, declaration_date, source"
            " FROM raw_future_dividends ORDER BY symbol, ex_date"
        )
        return {(r[0], r[1]): r[2:] for r in cur.fetchall()}


def day(n):
    return TODAY + dt.timedelta(days=n)


def test_precedence_is_per_column_and_null_amount_never_hides_one(conn):
    # NYSE (lowest) knows the record date only; snowball has an amount; nasdaq outranks
    # snowball on the amount; yieldmax outranks everyone but has no amount here.
    add(conn, "yieldmax", "ULTY", day(3), None, payment_date=day(4))
    add(conn, "nasdaq", "ULTY", day(3), Decimal("0.1000"), payment_date=day(9))
    add(conn, "snowball", "ULTY", day(3), Decimal("0.1000"), declaration_date=day(-5))
    add(conn, "nyse", "ULTY", day(3), None, record_date=day(3))
    # Only a source without an amount: the row exists, amount NULL.
    add(conn, "nyse", "BRK.B", day(10), None, record_date=day(10))

    result = fd.consolidate(conn, TODAY, 90)

    rows = future_rows(conn)
    assert rows[("ULTY", day(3))] == (Decimal("0.10000000"), day(4), day(3), day(-5), "nasdaq")
    assert rows[("BRK.B", day(10))] == (None, None, day(10), None, "nyse")
    assert result.per_source == {"yieldmax": 1, "cboe": 0, "polygon": 0, "nasdaq": 1, "snowball": 1, "nyse": 2}
    assert result.winners["nasdaq"] == 1 and result.winners["nyse"] == 1
    assert (result.total, result.inserted, result.updated, result.removed) == (2, 2, 0, 0)
    assert result.conflicts == []


def test_higher_source_amount_wins_and_conflict_is_reported(conn, caplog):
    add(conn, "cboe", "O", day(5), Decimal("0.2695"))
    add(conn, "nasdaq", "O", day(5), Decimal("0.2700"))
    add(conn, "snowball", "O", day(5), Decimal("0.26950"))  # same amount as cboe: no extra conflict
    add(conn, "yieldmax", "TSLY", day(6), Decimal("0.45"))
    add(conn, "snowball", "TSLY", day(6), Decimal("0.4500000"))  # same amount, other scale

    result = fd.consolidate(conn, TODAY, 90)

    rows = future_rows(conn)
    assert rows[("O", day(5))][0] == Decimal("0.2695") and rows[("O", day(5))][4] == "cboe"
    assert rows[("TSLY", day(6))][4] == "yieldmax"
    assert [(c.symbol, c.ex_date) for c in result.conflicts] == [("O", day(5))]
    assert result.conflicts[0].amounts == "cboe=0.2695, nasdaq=0.27, snowball=0.2695"

    caplog.set_level(logging.INFO)
    args = fd_args(as_of=TODAY)
    assert fd.run(args) == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [f"⚠️ conflicting amounts for O ex {day(5)}: cboe=0.2695, nasdaq=0.27, snowball=0.2695"]
    summary = [r.getMessage() for r in caplog.records if r.getMessage().startswith("✅")]
    assert len(summary) == 1
    assert "rows per source: yieldmax=1 cboe=1 polygon=0 nasdaq=1 snowball=2 nyse=0" in summary[0]
    assert "conflicts: 1" in summary[0]


def fd_args(**kw):
    import argparse

    parser = argparse.ArgumentParser()
    fd.add_arguments(parser)
    args = parser.parse_args([])
    for key, value in kw.items():
        setattr(args, key, value)
    return args


def test_window_and_removals(conn):
    add(conn, "nasdaq", "PAST", day(-1), Decimal("1"))
    add(conn, "nasdaq", "EDGE0", day(0), Decimal("1"))
    add(conn, "nasdaq", "EDGE90", day(90), Decimal("1"))
    add(conn, "nasdaq", "FAR", day(91), Decimal("1"))
    add(conn, "cboe", "GONE", day(20), Decimal("0.5"))
    fd.consolidate(conn, TODAY, 90)
    assert set(future_rows(conn)) == {("EDGE0", day(0)), ("EDGE90", day(90)), ("GONE", day(20))}

    # The only source drops GONE; a day later EDGE0 is in the past.
    with conn, conn.cursor() as cur:
        cur.execute("DELETE FROM raw_dividends_cboe WHERE symbol = 'GONE'")
    result = fd.consolidate(conn, day(1), 90)
    assert set(future_rows(conn)) == {("EDGE90", day(90)), ("FAR", day(91))}
    assert (result.inserted, result.removed) == (1, 2)


def test_second_run_changes_nothing(conn):
    add(conn, "cboe", "O", day(5), Decimal("0.2695"), payment_date=day(20))
    add(conn, "nyse", "T", day(7), None, record_date=day(7))
    fd.consolidate(conn, TODAY, 90)
    with conn, conn.cursor() as cur:
        cur.execute("SELECT symbol, xmin::text, updated_at FROM raw_future_dividends ORDER BY symbol")
        before = cur.fetchall()
    result = fd.consolidate(conn, TODAY, 90)
    with conn, conn.cursor() as cur:
        cur.execute("SELECT symbol, xmin::text, updated_at FROM raw_future_dividends ORDER BY symbol")
        after = cur.fetchall()
    assert before == after
    assert (result.inserted, result.updated, result.removed, result.total) == (0, 0, 0, 2)


def test_a_known_amount_is_not_replaced_by_null(conn):
    add(conn, "nasdaq", "O", day(5), Decimal("0.2695"))
    add(conn, "nyse", "O", day(5), None, record_date=day(5))
    fd.consolidate(conn, TODAY, 90)
    # NASDAQ's row loses its amount ("N/A" on a later scrape); the stored amount stays.
    with conn, conn.cursor() as cur:
        cur.execute("UPDATE raw_dividends_nasdaq SET amount = NULL, payment_date = %s", (day(30),))
    result = fd.consolidate(conn, TODAY, 90)
    assert future_rows(conn)[("O", day(5))] == (Decimal("0.26950000"), day(30), day(5), None, "nasdaq")
    assert result.updated == 1


def test_amount_change_in_a_source_updates_the_row(conn):
    add(conn, "snowball", "O", day(5), Decimal("0.25"))
    fd.consolidate(conn, TODAY, 90)
    add(conn, "cboe", "O", day(5), Decimal("0.2695"))
    result = fd.consolidate(conn, TODAY, 90)
    assert future_rows(conn)[("O", day(5))][0] == Decimal("0.2695")
    assert future_rows(conn)[("O", day(5))][4] == "cboe"
    assert (result.updated, len(result.conflicts)) == (1, 1)


def test_estimated_snowball_rows_are_ignored(conn):
    add(conn, "snowball", "EST", day(5), Decimal("0.3"), status="estimated")
    add(conn, "snowball", "DEC", day(5), Decimal("0.3"), status="declared")
    fd.consolidate(conn, TODAY, 90)
    assert set(future_rows(conn)) == {("DEC", day(5))}


def test_readers_never_see_a_half_built_table(conn, db_url):
    """A reader polling during a rebuild sees the full old set or the full new set."""
    with conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO raw_dividends_nasdaq (symbol, ex_date, amount)"
            " SELECT 'S' || lpad(g::text, 3, '0'), %s::date + g %% 60, 0.1 FROM generate_series(0, 299) g",
            (day(1),),
        )
    fd.consolidate(conn, TODAY, 90)
    # Next night: 100 symbols dropped out, 100 new ones arrived.
    with conn, conn.cursor() as cur:
        cur.execute("DELETE FROM raw_dividends_nasdaq WHERE symbol < 'S100'")
        cur.execute(
            "INSERT INTO raw_dividends_nasdaq (symbol, ex_date, amount)"
            " SELECT 'N' || g, %s, 0.2 FROM generate_series(1, 100) g",
            (day(2),),
        )
    seen: set[int] = set()
    stop = threading.Event()

    def poll():
        reader = psycopg2.connect(db_url)
        reader.autocommit = True
        with reader.cursor() as cur:
            while not stop.is_set():
                cur.execute("SELECT count(*) FROM raw_future_dividends")
                seen.add(cur.fetchone()[0])
        reader.close()

    thread = threading.Thread(target=poll)
    thread.start()
    try:
        for _ in range(3):
            fd.consolidate(conn, TODAY, 90)
    finally:
        stop.set()
        thread.join()
    assert seen <= {300}
    assert len(future_rows(conn)) == 300


def run_mode(env, *args):
    return subprocess.run(
        [sys.executable, str(ROOT / "update_stock_v2.py"), "--mode", "future-dividends", *args],
        env=env, capture_output=True, text=True, timeout=60,
    )


@pytest.mark.parametrize("bad", ["-1", "abc", "99999"])
def test_bad_days_ahead_is_usage_error(db_env, bad):
    proc = run_mode(db_env, "--days-ahead", bad)
    assert proc.returncode == 2
    assert "--days-ahead" in proc.stderr


def test_command_line_end_to_end(db_env, conn):
    today = fd.exchange_today()
    add(conn, "cboe", "O", today + dt.timedelta(days=3), Decimal("0.2695"))
    add(conn, "nasdaq", "O", today + dt.timedelta(days=3), Decimal("0.3"))
    proc = run_mode(db_env, "--days-ahead", "30")
    assert proc.returncode == 0, proc.stderr
    assert "⚠️ conflicting amounts for O" in proc.stderr
    assert "✅ future dividends" in proc.stderr and "1 distribution (1 new" in proc.stderr
    assert len(future_rows(conn)) == 1


def distributions_of(conn):
    with conn, conn.cursor() as cur:
        cur.execute("SELECT symbol, ex_date, distribution_type, seq, amount, source FROM raw_future_dividends"
                    " ORDER BY symbol, ex_date, distribution_type, seq")
        return cur.fetchall()


def test_several_distributions_on_one_ex_date_are_each_kept_and_counted(conn, caplog):
    # NASDAQ lists MAIN's monthly and supplemental dividends (no type); CBOE only the
    # regular one; NYSE only dates. Two distributions, from the source that lists both.
    add(conn, "nasdaq", "MAIN", day(5), Decimal("0.25"), seq=1)
    add(conn, "nasdaq", "MAIN", day(5), Decimal("0.30"), seq=2)
    add(conn, "cboe", "MAIN", day(5), Decimal("0.25"), distribution_type="regular")
    add(conn, "nyse", "MAIN", day(5), None, record_date=day(4))
    # One distribution: the first known type in precedence order names it.
    add(conn, "yieldmax", "ULTY", day(6), Decimal("0.45"))
    add(conn, "cboe", "ULTY", day(6), Decimal("0.45"), distribution_type="special")

    with caplog.at_level(logging.INFO, logger="divpipe.jobs.future_dividends"):
        result = fd.consolidate(conn, TODAY, 90)
    assert distributions_of(conn) == [
        ("MAIN", day(5), "unknown", 1, Decimal("0.25"), "nasdaq"),
        ("MAIN", day(5), "unknown", 2, Decimal("0.30"), "nasdaq"),
        ("ULTY", day(6), "special", 1, Decimal("0.45"), "yieldmax"),
    ]
    assert (result.total, result.several, result.inserted) == (3, 2, 3)
    assert result.conflicts == []  # two amounts of two distributions are no conflict
    assert "3 distributions (3 new, 0 changed, 0 removed; 2 sharing an ex-date" in fd.summary_line(result)

    again = fd.consolidate(conn, TODAY, 90)
    assert (again.inserted, again.updated, again.removed) == (0, 0, 0)

    # A corrected supplemental amount updates its own row.
    with conn, conn.cursor() as cur:
        cur.execute("UPDATE raw_dividends_nasdaq SET amount = 0.31 WHERE symbol = 'MAIN' AND seq = 2")
    corrected = fd.consolidate(conn, TODAY, 90)
    assert (corrected.inserted, corrected.updated, corrected.removed, corrected.total) == (0, 1, 0, 3)
    assert distributions_of(conn)[1] == ("MAIN", day(5), "unknown", 2, Decimal("0.31"), "nasdaq")
