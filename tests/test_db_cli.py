"""`python -m divpipe db psql|status|url` and `runs`: looking at the data, never creating it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg2

from divpipe.db.cli import libpq_environment

PROJECT = Path(__file__).resolve().parent.parent


def _divpipe(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "divpipe", *args], cwd=PROJECT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_psql_runs_sql_on_the_configured_database(db_env, conn):
    with conn, conn.cursor() as cur:
        cur.execute("INSERT INTO raw_stocks (symbol) VALUES ('MAIN'), ('O')")
    done = _divpipe(db_env, "db", "psql", "-c", "select string_agg(symbol, '+' order by symbol) from raw_stocks")
    assert done.returncode == 0, done.stderr
    assert "MAIN+O" in done.stdout


def test_psql_passes_on_a_failing_statement(db_env):
    done = _divpipe(db_env, "db", "psql", "-c", "select * from no_such_table")
    assert done.returncode != 0
    assert "no_such_table" in done.stderr


def test_the_password_goes_to_psql_through_the_environment_only():
    env = libpq_environment("postgresql://ann:s3cret@db.example:6543/divpipe?sslmode=require")
    assert env == {"PGHOST": "db.example", "PGPORT": "6543", "PGUSER": "ann", "PGPASSWORD": "s3cret",
                   "PGDATABASE": "divpipe", "PGSSLMODE": "require"}


def test_read_only_commands_never_create_an_embedded_database(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["DIVPIPE_DATA_DIR"] = str(tmp_path / "fresh")
    for args in (["runs"], ["runs", "--simulate"], ["db", "status"], ["db", "url"],
                 ["db", "psql", "-c", "select 1"]):
        done = _divpipe(env, *args)
        assert done.returncode == 1, (args, done.stdout, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("❌ no database yet"), (args, done.stderr)
    assert not (tmp_path / "fresh" / "pg").exists()
    assert not (tmp_path / "fresh" / "simulate" / "pg").exists()


def test_simulate_ignores_database_url_in_every_command(db_env, tmp_path):
    env = {**db_env, "DIVPIPE_DATA_DIR": str(tmp_path / "data")}
    done = _divpipe(env, "runs", "--simulate")
    assert done.returncode == 1
    assert str(tmp_path / "data" / "simulate" / "pg") in done.stderr
    # Without --simulate the same environment reads DATABASE_URL's database.
    assert _divpipe(env, "runs").returncode == 0
    with psycopg2.connect(db_env["DATABASE_URL"]) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pipeline_runs")
        assert cur.fetchone()[0] == 0


def test_reset_empties_only_a_simulated_database(db_env, conn):
    with conn, conn.cursor() as cur:
        cur.execute("INSERT INTO raw_stocks (symbol) VALUES ('MAIN')")
    refused = _divpipe(db_env, "db", "reset")
    assert refused.returncode == 2 and "add --simulate" in refused.stderr
    # With DATABASE_URL and a simulator URL: a driver's test, not a trial. Still refused.
    refused = _divpipe({**db_env, "DIVPIPE_SIMULATOR_URL": "http://127.0.0.1:9"}, "db", "reset")
    assert refused.returncode == 2
    with conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM raw_stocks")
        assert cur.fetchone()[0] == 1
