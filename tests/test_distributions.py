"""The distribution-type vocabulary, the seq rule, and migration 002 carrying old rows over."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import psycopg2
import pytest

from divpipe.db import embedded
from divpipe.db.migrate import migrate
from divpipe.sources import distributions as d
from divpipe.sources.nasdaq import NasdaqDividend

EX = dt.date(2026, 12, 10)


@pytest.mark.parametrize(("word", "kind"), [
    # Polygon's legacy dividend_type and its newer distribution_type
    ("CD", "regular"), ("SC", "special"), ("LT", "capital_gain"), ("ST", "capital_gain"),
    ("recurring", "regular"), ("special", "special"), ("supplemental", "supplemental"),
    ("irregular", "special"), ("unknown", "unknown"),
    # CBOE's and the calendars' own words
    ("Cash Dividend", "regular"), ("Special Cash Dividend", "special"), ("Supplemental Dividend", "supplemental"),
    ("Long-Term Capital Gain", "capital_gain"), ("short_term capital gains", "capital_gain"),
    ("Income", "regular"), ("Extra", "special"), ("  regular  ", "regular"),
    ("Return of Capital", "unknown"), ("", "unknown"), (None, "unknown"), (3, "unknown"),
])
def test_source_words_map_to_one_vocabulary(word, kind):
    assert d.distribution_type(word) == kind
    assert kind in d.TYPES


def rec(amount, symbol="MAIN", ex=EX, url="u1", **kw):
    return NasdaqDividend(symbol=symbol, ex_date=ex, amount=None if amount is None else Decimal(amount),
                          source_url=url, **kw)


def test_seq_follows_the_amounts_not_the_listing_order():
    listed = [rec("0.30"), rec("0.25"), rec("0.10", symbol="O")]
    forward = {(r.symbol, r.seq): r.amount for r in d.numbered(listed, lambda r: r.source_url)}
    backward = {(r.symbol, r.seq): r.amount for r in d.numbered(listed[::-1], lambda r: r.source_url)}
    assert forward == backward == {("MAIN", 1): Decimal("0.25"), ("MAIN", 2): Decimal("0.30"),
                                   ("O", 1): Decimal("0.10")}


def test_exact_repeats_are_one_distribution_and_types_are_numbered_apart():
    rows = [rec("0.25"), rec("0.25", url="u2"), rec("0.30", distribution_type="supplemental"),
            rec(None, distribution_type="supplemental")]
    out = sorted((r.distribution_type, r.seq, r.amount) for r in d.numbered(rows))
    assert out == [("supplemental", 1, Decimal("0.30")), ("supplemental", 2, None), ("unknown", 1, Decimal("0.25"))]


def test_one_distribution_listed_under_two_names_is_one_whatever_the_order():
    # As in NASDAQ's real calendar of 2023-11-06 (tests/fixtures/real/nasdaq).
    a = rec("0.155", company_name="Archrock, Inc.")
    b = rec("0.155", company_name="Archrock, Inc. Common Stock")
    assert d.numbered([a, b]) == d.numbered([b, a]) == [a]


def test_listings_are_numbered_separately():
    # The same distribution on two CBOE notices is seq 1 in each: the job then
    # keeps it once, or rejects the second when the values disagree.
    rows = [rec("0.25", url="notice-a"), rec("0.26", url="notice-b")]
    assert [r.seq for r in d.numbered(rows, lambda r: r.source_url)] == [1, 1]
    assert sorted(r.seq for r in d.numbered(rows, lambda r: None)) == [1, 2]


# -- migration 002 -------------------------------------------------------------

CBOE_WORDS = ["Cash Dividend", "Special Cash Dividend", "Supplemental", "Long-Term Capital Gain",
              "SC", "irregular", "Return of Capital", "  INCOME  ", None,
              *d.EXACT, *(keyword for keyword, _ in d.KEYWORDS)]


@pytest.fixture
def old_schema_db(pg_admin_url):
    """A database with only migration 001 applied, and its URL."""
    name = f"divpipe_mig_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(pg_admin_url)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    url = embedded.with_database(pg_admin_url, name)
    migrate(url, up_to=1)
    conn = psycopg2.connect(url)
    yield url, conn
    conn.close()
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


def dump(conn, table, columns):
    with conn, conn.cursor() as cur:
        cur.execute(f"SELECT {columns} FROM {table} ORDER BY symbol, ex_date")
        return cur.fetchall()


def test_migration_carries_every_row_over(old_schema_db):
    url, conn = old_schema_db
    with conn, conn.cursor() as cur:
        for i, word in enumerate(CBOE_WORDS):
            cur.execute("INSERT INTO raw_dividends_cboe (symbol, ex_date, amount, frequency, distribution_type,"
                        " detail_key) VALUES (%s, %s, %s, 'Monthly', %s, %s)",
                        (f"S{i:03d}"[:6].replace("0", "A"), EX, Decimal("0.1") + i, word, f"k{i}"))
        for table in ("raw_dividends_nasdaq", "raw_yieldmax_dividends", "raw_dividends_nyse",
                      "raw_dividends_snowball"):
            cur.execute(f"INSERT INTO {table} (symbol, ex_date, amount, source_url) VALUES"
                        " ('MAIN', %s, 0.25, 'u'), ('O', %s, NULL, 'v')", (EX, EX))
        cur.execute("INSERT INTO raw_future_dividends (symbol, ex_date, amount, source)"
                    " VALUES ('MAIN', %s, 0.25, 'nasdaq')", (EX,))
    shared = "symbol, ex_date, amount, payment_date, record_date, declaration_date"
    before = {t: dump(conn, t, shared) for t in ("raw_dividends_nasdaq", "raw_dividends_cboe",
                                                 "raw_yieldmax_dividends", "raw_dividends_nyse",
                                                 "raw_dividends_snowball", "raw_future_dividends")}
    cboe_before = dump(conn, "raw_dividends_cboe", "symbol, distribution_type, frequency, detail_key, scraped_at")

    # 002 first; the later migrations (rate limits, export, Polygon) follow it.
    applied = migrate(url)
    assert applied[0] == "002_every_distribution.sql" and applied == sorted(applied)

    for table, rows in before.items():
        assert dump(conn, table, shared) == rows, table
        assert {r for r in dump(conn, table, "distribution_type, seq")} <= {(t, 1) for t in d.TYPES}
    cboe_after = dump(conn, "raw_dividends_cboe",
                      "symbol, source_type, frequency, detail_key, scraped_at, distribution_type")
    assert [row[:5] for row in cboe_after] == cboe_before
    # The SQL mirror of distribution_type() agrees with the Python one on every word.
    assert {row[1]: row[5] for row in cboe_after} == {w: d.distribution_type(w) for w in CBOE_WORDS}
    # The new key keeps a second distribution on the same ex-date.
    with conn, conn.cursor() as cur:
        cur.execute("INSERT INTO raw_dividends_nasdaq (symbol, ex_date, amount, seq) VALUES ('MAIN', %s, 0.3, 2)",
                    (EX,))
        with pytest.raises(psycopg2.errors.CheckViolation):
            cur.execute("INSERT INTO raw_dividends_nasdaq (symbol, ex_date, distribution_type)"
                        " VALUES ('MAIN', %s, 'dividend')", (EX,))
