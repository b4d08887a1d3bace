"""The drivers with the real task list, against the simulator and real databases.

- phase 2's jobs write raw_stocks at the same time without deadlocking;
- v2 and v3 leave two fresh databases identical, timestamps aside.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import psutil
import psycopg2
import pytest

ROOT = Path(__file__).resolve().parent.parent
V3 = ROOT / "daily_update_v3_parallel.sh"
V2 = ROOT / "daily_update_v2.sh"
# 80 symbols: enough for every source to cover some (YieldMax funds start at 40).
SYMBOLS = 80
# Bookkeeping of the runs themselves differs between two runs by nature.
NOT_DATA = {"pipeline_runs", "task_runs", "schema_migrations", "rate_limits"}

pytestmark = pytest.mark.slow


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


def phase2_only_tasks(path: Path) -> None:
    """The real phase-2 jobs that write raw_stocks, behind a no-op main update."""
    real = [line for line in (ROOT / "scripts/tasks.sh").read_text().splitlines()
            if line.startswith("task ") and line.split()[2] == "phase2" and "backup" not in line]
    path.write_text("task main_update step2 critical true\n" + "\n".join(real) + "\n")


def test_phase2_jobs_write_raw_stocks_concurrently_without_deadlock(make_sim, make_db, tmp_path):
    make_sim(n_symbols=SYMBOLS, seed=11)
    url = make_db()
    env = driver_env(tmp_path, "run", url)
    first = run_driver(V3, env, tmp_path, "--force", "--discovery")
    tasks = {t["name"]: t for t in first["tasks"]}
    assert tasks["main_update"]["status"] == "success", first["_stdout"]
    for name in ("companies", "holdings", "future_div", "backup"):
        assert tasks[name]["status"] == "success", (name, first["_stdout"])
    # The three raw_stocks writers again, at once, on a database that now has
    # ETFs with holdings and symbols with company data.
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("UPDATE raw_stocks SET company = NULL, company_updated_at = NULL, "
                    "company_attempted_at = NULL, holdings_updated_at = NULL")
    phase2_only_tasks(tmp_path / "phase2.sh")
    again = run_driver(V3, {**env, "DIVPIPE_TASKS_FILE": str(tmp_path / "phase2.sh")}, tmp_path, "--force")
    phase2 = [t for t in again["tasks"] if t["phase"] == "phase2"]
    assert len(phase2) == 3
    assert {t["status"] for t in phase2} == {"success"}, again["_stdout"]
    # They ran at the same time.
    assert max(t["started_at"] for t in phase2) < min(t["finished_at"] for t in phase2)
    log = Path(again["log_path"]).read_text()
    assert "deadlock" not in log.lower()
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FILTER (WHERE company IS NOT NULL), "
                    "count(*) FILTER (WHERE holdings_updated_at IS NOT NULL) FROM raw_stocks")
        filled, with_holdings = cur.fetchone()
    assert filled > 0 and with_holdings > 0


def test_v2_and_v3_leave_identical_databases(make_sim, make_db, tmp_path):
    make_sim(n_symbols=SYMBOLS, seed=5)
    url_v2, url_v3 = make_db(), make_db()
    v2 = run_driver(V2, driver_env(tmp_path, "v2", url_v2), tmp_path, "--force", "--discovery")
    v3 = run_driver(V3, driver_env(tmp_path, "v3", url_v3), tmp_path, "--force", "--discovery")
    for summary in (v2, v3):
        assert summary["_returncode"] in (0, 1), summary["_stdout"]
        statuses = {t["name"]: t["status"] for t in summary["tasks"]}
        assert statuses["main_update"] == "success", summary["_stdout"]
    assert [(t["name"], t["status"]) for t in v2["tasks"]] == [(t["name"], t["status"]) for t in v3["tasks"]]
    left, right = table_contents(url_v2), table_contents(url_v3)
    assert left.keys() == right.keys()
    assert sum(len(rows) for rows in left.values()) > 1000
    for table in left:
        assert left[table] == right[table], table


def test_simulate_runs_everything_against_its_own_simulator_and_stops_it(make_db, tmp_path):
    url = make_db()
    env = {
        **driver_env(tmp_path, "sim", url),
        "TMPDIR": str(tmp_path),  # the driver's state dir, and so the simulator's port file
        **{f"{s.upper()}_RATE_LIMIT": "200" for s in ("yahoo", "nasdaq", "nasdaqtrader", "cboe",
                                                       "yieldmax", "nyse", "snowball")},
    }
    env.pop("DIVPIPE_SIMULATOR_URL", None)
    summary = run_driver(V3, env, tmp_path, "--simulate", "--sim-symbols", "40", "--sim-seed", "9")
    assert "🧪 simulator: http://127.0.0.1:" in summary["_stdout"]
    assert "SKIPPED" not in summary["_stdout"]  # --simulate implies --force
    statuses = {t["name"]: t["status"] for t in summary["tasks"]}
    assert statuses["discovery"] == "success" and statuses["main_update"] == "success", summary["_stdout"]
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(DISTINCT symbol) FROM raw_stock_prices")
        assert cur.fetchone()[0] > 20
    leftovers = [p.info["cmdline"] for p in psutil.process_iter(["cmdline"])
                 if str(tmp_path) in " ".join(p.info["cmdline"] or [])]
    assert leftovers == []
