import datetime as dt
from decimal import Decimal

import pytest

from divpipe.db.upsert import bulk_upsert
from divpipe.errors import DatabaseError


def _prices(n, close=Decimal("10.5")):
    day = dt.date(2026, 1, 2)
    return [
        {"symbol": f"S{i % 7}", "date": day + dt.timedelta(days=i // 7), "close": close, "volume": i}
        for i in range(n)
    ]


def _fetch(conn, query, args=()):
    with conn.cursor() as cur:
        cur.execute(query, args)
        return cur.fetchall()


def test_insert_then_rerun_changes_nothing(conn):
    first = bulk_upsert(conn, "raw_stock_prices", _prices(50), ["symbol", "date"])
    assert (first.inserted, first.updated) == (50, 0)
    before = _fetch(conn, "SELECT symbol, date, xmin::text FROM raw_stock_prices ORDER BY 1, 2")
    again = bulk_upsert(conn, "raw_stock_prices", _prices(50), ["symbol", "date"])
    assert (again.inserted, again.updated) == (0, 0)
    # Untouched rows keep their tuple version: nothing was rewritten.
    assert _fetch(conn, "SELECT symbol, date, xmin::text FROM raw_stock_prices ORDER BY 1, 2") == before


def test_changed_values_count_as_updates(conn):
    bulk_upsert(conn, "raw_stock_prices", _prices(20), ["symbol", "date"])
    rows = _prices(20, close=Decimal("11"))
    rows += [{"symbol": "NEW", "date": dt.date(2026, 3, 2), "close": Decimal("1"), "volume": 1}]
    result = bulk_upsert(conn, "raw_stock_prices", rows, ["symbol", "date"])
    assert (result.inserted, result.updated) == (1, 20)
    assert _fetch(conn, "SELECT DISTINCT close FROM raw_stock_prices WHERE symbol <> 'NEW'") == [
        (Decimal("11.000000"),)
    ]


def test_null_never_overwrites_a_known_value(conn):
    bulk_upsert(conn, "raw_stocks", [{"symbol": "O", "company": "Realty Income", "sector": "REIT"}], ["symbol"])
    result = bulk_upsert(
        conn, "raw_stocks", [{"symbol": "O", "company": None, "sector": "Real Estate"}], ["symbol"]
    )
    assert result.updated == 1
    assert _fetch(conn, "SELECT company, sector FROM raw_stocks") == [("Realty Income", "Real Estate")]
    # A NULL that meets a NULL is no change either.
    assert bulk_upsert(conn, "raw_stocks", [{"symbol": "O", "company": None}], ["symbol"]).updated == 0


def test_stamp_moves_only_on_change_and_absent_columns_are_untouched(conn):
    bulk_upsert(conn, "raw_stocks", [{"symbol": "O", "price": Decimal("50")}], ["symbol"], stamp="updated_at")
    with conn.cursor() as cur:
        cur.execute("UPDATE raw_stocks SET updated_at = '2000-01-01', exchange = 'NYSE'")
    conn.commit()
    bulk_upsert(conn, "raw_stocks", [{"symbol": "O", "price": Decimal("50")}], ["symbol"], stamp="updated_at")
    assert _fetch(conn, "SELECT updated_at::date, exchange FROM raw_stocks") == [(dt.date(2000, 1, 1), "NYSE")]
    bulk_upsert(conn, "raw_stocks", [{"symbol": "O", "price": Decimal("51")}], ["symbol"], stamp="updated_at")
    assert _fetch(conn, "SELECT updated_at::date > '2000-01-01', exchange FROM raw_stocks") == [(True, "NYSE")]


def test_awkward_text_and_json_round_trip(conn):
    holdings = [{"symbol": "AAPL", "name": "Apple\tInc.\nback\\slash", "weight": 0.07}]
    name = "Tab\there, newline\nthere, backslash \\ and \\N"
    bulk_upsert(conn, "raw_stocks", [{"symbol": "QQQ", "company": name, "holdings": holdings}], ["symbol"])
    assert _fetch(conn, "SELECT company, holdings FROM raw_stocks") == [(name, holdings)]
    again = bulk_upsert(conn, "raw_stocks", [{"symbol": "QQQ", "company": name, "holdings": holdings}], ["symbol"])
    assert again.written == 0


def test_duplicate_keys_in_one_call_last_wins(conn):
    rows = [
        {"symbol": "T", "ex_date": dt.date(2026, 1, 9), "amount": Decimal("0.1")},
        {"symbol": "T", "ex_date": dt.date(2026, 1, 9), "amount": Decimal("0.2")},
    ]
    assert bulk_upsert(conn, "raw_dividends", rows, ["symbol", "ex_date"]).inserted == 1
    assert _fetch(conn, "SELECT amount FROM raw_dividends") == [(Decimal("0.20000000"),)]


def test_failure_is_one_line_and_writes_nothing(conn):
    rows = [{"symbol": "A", "split_date": dt.date(2026, 1, 5), "ratio": Decimal("2")},
            {"symbol": "B", "split_date": dt.date(2026, 1, 5), "ratio": None}]  # ratio is NOT NULL
    with pytest.raises(DatabaseError) as err:
        bulk_upsert(conn, "raw_stock_splits", rows, ["symbol", "split_date"])
    assert "raw_stock_splits" in str(err.value) and "\n" not in str(err.value)
    assert _fetch(conn, "SELECT count(*) FROM raw_stock_splits") == [(0,)]


def test_rows_must_share_columns(conn):
    with pytest.raises(ValueError, match="same columns"):
        bulk_upsert(conn, "raw_stocks", [{"symbol": "A"}, {"symbol": "B", "company": "x"}], ["symbol"])


def test_caller_transaction_spans_several_upserts(conn):
    bulk_upsert(conn, "raw_stocks", [{"symbol": "A"}], ["symbol"], commit=False)
    bulk_upsert(conn, "raw_stocks", [{"symbol": "B"}], ["symbol"], commit=False)
    conn.rollback()
    assert _fetch(conn, "SELECT count(*) FROM raw_stocks") == [(0,)]


def test_concurrent_writer_of_the_same_key_is_merged_not_an_error(db_url, conn):
    import threading

    import psycopg2

    from tests.plugins.db import wait_until_blocked

    other = psycopg2.connect(db_url)
    with other.cursor() as cur:  # uncommitted: our INSERT will wait on this key, then collide
        cur.execute("INSERT INTO raw_stocks (symbol, company, sector) VALUES ('KO', 'Coca-Cola', NULL)")
    outcome = {}

    def upsert():
        try:
            outcome["result"] = bulk_upsert(
                conn, "raw_stocks",
                [{"symbol": "KO", "company": None, "sector": "Staples"}, {"symbol": "PEP", "company": "PepsiCo",
                                                                          "sector": "Staples"}],
                ["symbol"])
        except Exception as err:
            outcome["error"] = err

    worker = threading.Thread(target=upsert)
    worker.start()
    wait_until_blocked(db_url, conn.get_backend_pid())  # our INSERT waits on the uncommitted KO
    other.commit()
    other.close()
    worker.join(timeout=30)
    assert "error" not in outcome, outcome.get("error")
    assert (outcome["result"].inserted, outcome["result"].updated) == (1, 1)
    assert _fetch(conn, "SELECT symbol, company, sector FROM raw_stocks ORDER BY 1") == [
        ("KO", "Coca-Cola", "Staples"), ("PEP", "PepsiCo", "Staples")]
