import threading

import psycopg2
import psycopg2.errors

from divpipe.db.failures import lock_rows_in_key_order
from tests.plugins.db import wait_until_blocked


def test_row_locks_are_taken_in_key_order(db_url):
    setup = psycopg2.connect(db_url)
    with setup, setup.cursor() as cur:
        # Physical order B before A: a scan without ORDER BY would lock B first.
        cur.execute("INSERT INTO raw_stocks (symbol) VALUES ('B'), ('A')")
    first, second, probe = (psycopg2.connect(db_url) for _ in range(3))
    try:
        with first.cursor() as cur:
            lock_rows_in_key_order(cur, "raw_stocks", "symbol", ["A"])
        waiter = threading.Thread(
            target=lambda: lock_rows_in_key_order(second.cursor(), "raw_stocks", "symbol", ["B", "A"]))
        waiter.start()
        wait_until_blocked(db_url, second.get_backend_pid())  # waiting for A ...
        with probe.cursor() as cur:  # ... without having taken B, so nobody can deadlock with it on B
            cur.execute("SELECT 1 FROM raw_stocks WHERE symbol = 'B' FOR UPDATE NOWAIT")
        probe.rollback()
        first.rollback()
        waiter.join(timeout=10)
        assert not waiter.is_alive()
    finally:
        for conn in (first, second, probe, setup):
            conn.close()
