"""A lost, refused or misconfigured database: one line naming it (password masked), the right exit code."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import psycopg2
import pytest

from divpipe.config import PROJECT_ROOT, reset_settings
from divpipe.jobs import update
from divpipe.jobs.modes import main
from divpipe.market_time import exchange_today

SIM_TODAY = exchange_today() - dt.timedelta(days=1)


def _count(conn, table: str) -> int:
    with conn.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {table}")
        return cur.fetchone()[0]


@pytest.mark.slow
def test_database_lost_mid_update_is_one_line_keeps_complete_batches_and_the_next_run_completes(
        make_sim, db_url, conn, capsys, monkeypatch):
    sim = make_sim(n_symbols=12, seed=9, today=SIM_TODAY)
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO raw_stocks (symbol) VALUES (%s)", [(s,) for s in sim.universe.symbols])
    conn.commit()
    monkeypatch.setenv("UPSERT_BATCH_ROWS", "300")
    monkeypatch.setenv("YAHOO_WORKERS", "2")
    reset_settings()
    real_upsert, calls = update.bulk_upsert, []

    def upsert_then_lose_the_server(writer_conn, *args, **kwargs):
        calls.append(1)
        if len(calls) == 6:  # a few batches in: the server goes away under the writer
            with psycopg2.connect(db_url) as killer, killer.cursor() as cur:
                cur.execute("SELECT pg_terminate_backend(%s)", (writer_conn.get_backend_pid(),))
            killer.close()
        return real_upsert(writer_conn, *args, **kwargs)

    monkeypatch.setattr(update, "bulk_upsert", upsert_then_lose_the_server)
    code = main(["--mode", "update", "--history-years", "1"])
    err = capsys.readouterr().err
    assert code == 1
    last = err.strip().splitlines()[-1]
    assert last.startswith("❌ ") and "writing" in last and "(database postgresql://" in last, last
    assert "Traceback" not in err and "connection already closed" not in err
    kept = _count(conn, "raw_stock_prices")
    assert kept > 0  # the batches committed before the loss stay

    monkeypatch.setattr(update, "bulk_upsert", real_upsert)
    assert main(["--mode", "update", "--history-years", "1"]) == 0
    assert _count(conn, "raw_stock_prices") > kept


def _run(env_url: str | None, *argv: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    if env_url is not None:
        env["DATABASE_URL"] = env_url
    return subprocess.run([sys.executable, *argv], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("argv", [
    ("-m", "divpipe", "db", "migrate"),
    ("update_stock_v2.py", "--mode", "update"),
    ("scripts/scrape_nasdaq_dividends.py",),
])
def test_refused_connection_is_one_line_with_the_password_masked(argv):
    proc = _run("postgresql://pipeline:hunter2secret@127.0.0.1:1/divpipe", *argv)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("❌"), proc.stderr
    assert "postgresql://pipeline:***@127.0.0.1:1/divpipe" in lines[0] and "refused" in lines[0]
    assert "hunter2secret" not in proc.stderr + proc.stdout


@pytest.mark.parametrize("url", ["postgresql://u:hunter2secret@127.0.0.1:notaport/db",
                                 "postgresql://u:hunter2secret@[::1/db", "mysql://u:hunter2secret@h/db"])
def test_malformed_database_url_is_bad_configuration(url):
    proc = _run(url, "update_stock_v2.py", "--mode", "update")
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("❌ DATABASE_URL: "), proc.stderr
    assert "hunter2secret" not in proc.stderr


def test_a_rollback_on_a_dead_connection_does_not_replace_the_error(db_url, conn):
    from divpipe.errors import DatabaseError

    writer = update.Writer(conn, batch_rows=10)
    with psycopg2.connect(db_url) as killer, killer.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(%s)", (conn.get_backend_pid(),))
    killer.close()
    writer.batch.rows["raw_stocks"].append({"symbol": "A"})
    with pytest.raises(DatabaseError) as raised:
        writer.close()
    assert "\n" not in str(raised.value)
