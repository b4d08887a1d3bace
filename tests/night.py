"""Whole nights through the real drivers, and what they leave in the database.

Shared by the end-to-end driver tests and the reliability suite:

- `driver_env(tmp, name, url)`: this test's environment (simulator URL, fast
  client rates) with a database and data, log and backup directories of its own;
- `run_driver(driver, env, tmp, *args)`: one run to its end -> its summary
  (plus `_stdout`, `_returncode`);
- `table_contents(url)`: every data table's rows, without run bookkeeping and
  timestamps, to compare two databases with `assert_same_tables`.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import psycopg2

from tests.plugins.fake_pipeline import ROOT, V2, V3

__all__ = ["ROOT", "V2", "V3", "assert_same_tables", "driver_env", "run_driver", "table_contents"]
# Bookkeeping of the runs themselves differs between two runs by nature.
NOT_DATA = {"pipeline_runs", "task_runs", "schema_migrations", "rate_limits"}


def run_driver(driver: Path, env: dict[str, str], tmp: Path, *args: str) -> dict:
    result = subprocess.run([str(driver), *args], cwd=tmp, env=env, capture_output=True, text=True,
                            timeout=900)
    summary_line = next((x for x in result.stdout.splitlines() if x.startswith("📄 summary: ")), None)
    assert summary_line, result.stdout + result.stderr
    summary = json.loads(Path(summary_line.removeprefix("📄 summary: ")).read_text())
    summary["_stdout"] = result.stdout
    summary["_returncode"] = result.returncode
    return summary


def driver_env(tmp: Path, name: str, database_url: str) -> dict[str, str]:
    """This test's environment (simulator URL, fast client rates) with its own dirs."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "DIVPIPE_DATA_DIR": str(tmp / name / "data"),
        "LOG_DIR": str(tmp / name / "logs"),
        "BACKUP_DIR": str(tmp / name / "backups"),
    }


def table_contents(url: str) -> dict[str, list[tuple]]:
    """Every data table's rows, sorted, without its timestamp columns."""
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT table_name FROM information_schema.tables "
                        "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'")
            tables = sorted(t for (t,) in cur.fetchall() if t not in NOT_DATA)
            contents = {}
            for table in tables:
                cur.execute("SELECT column_name FROM information_schema.columns "
                            "WHERE table_schema = current_schema() AND table_name = %s "
                            "AND data_type NOT LIKE 'timestamp%%' ORDER BY ordinal_position", (table,))
                columns = ", ".join(f'"{c}"' for (c,) in cur.fetchall())
                cur.execute(f'SELECT {columns} FROM "{table}" ORDER BY {columns}')
                contents[table] = [tuple(json.dumps(v, sort_keys=True) if isinstance(v, dict | list) else v
                                         for v in row) for row in cur.fetchall()]
            return contents
    finally:
        conn.close()


def assert_same_tables(url: str, expected_url: str, min_rows: int = 1000) -> None:
    """The database at `url` holds exactly the data of the one at `expected_url` (and a real amount of it)."""
    got, expected = table_contents(url), table_contents(expected_url)
    assert got.keys() == expected.keys()
    assert sum(len(rows) for rows in expected.values()) > min_rows
    for table in expected:
        if got[table] != expected[table]:
            extra, missing = set(got[table]) - set(expected[table]), set(expected[table]) - set(got[table])
            raise AssertionError(f"{table}: {len(extra)} row(s) not in the expected database, "
                                 f"{len(missing)} missing; e.g. extra {sorted(extra, key=repr)[:3]}, "
                                 f"missing {sorted(missing, key=repr)[:3]}")
