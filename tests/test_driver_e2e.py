"""The drivers with the real task list, against the simulator and real databases.

- phase 2's jobs write raw_stocks at the same time without deadlocking;
- v2 and v3 leave two fresh databases identical, timestamps aside.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import psutil
import psycopg2
import pytest

from divpipe.sources import registry
from tests.night import ROOT, V2, V3, assert_same_tables, driver_env, run_driver

# 80 symbols: enough for every source to cover some (YieldMax funds start at 40).
SYMBOLS = 80

pytestmark = pytest.mark.slow


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


def test_v2_v3_and_v3_overlap_leave_identical_databases(make_sim, make_db, tmp_path):
    make_sim(n_symbols=SYMBOLS, seed=5)
    runs = {}
    for name, driver, extra in (("v2", V2, ()), ("v3", V3, ()), ("overlap", V3, ("--overlap",))):
        url = make_db()
        runs[name] = (url, run_driver(driver, driver_env(tmp_path, name, url), tmp_path,
                                      "--force", "--discovery", *extra))
    for _, summary in runs.values():
        assert summary["_returncode"] in (0, 1), summary["_stdout"]
        statuses = {t["name"]: t["status"] for t in summary["tasks"]}
        assert statuses["main_update"] == "success", summary["_stdout"]
    assert runs["overlap"][1]["schedule"] == "overlap" and runs["v3"][1]["schedule"] == "phases"
    outcomes = {name: [(t["name"], t["status"]) for t in summary["tasks"]] for name, (_, summary) in runs.items()}
    assert outcomes["v2"] == outcomes["v3"] == outcomes["overlap"]
    # --overlap honoured the needs: no task started before every task it needs had finished.
    tasks = {t["name"]: t for t in runs["overlap"][1]["tasks"]}
    for t in tasks.values():
        for need in t["needs"]:
            assert tasks[need]["finished_at"] <= t["started_at"], (t["name"], need)
    for name in ("v3", "overlap"):
        assert_same_tables(runs[name][0], runs["v2"][0])


def _divpipe(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "-m", "divpipe", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_simulate_keeps_to_its_own_database_and_logs_and_stops_its_simulator(
        make_db, tmp_path, embedded_data_dir):
    real_url = make_db()
    env = {
        **driver_env(tmp_path, "sim", real_url),
        # Outside pytest's basetemp: the simulated run's embedded server lives there.
        "DIVPIPE_DATA_DIR": str(embedded_data_dir),
        "TMPDIR": str(tmp_path),  # the driver's state dir, and so the simulator's port file
        **{f"{s.upper()}_RATE_LIMIT": "200" for s in registry.NAMES},
    }
    env.pop("DIVPIPE_SIMULATOR_URL", None)
    # The real database named in .env, not the environment: the tasks read .env themselves, and
    # must not find it there either (the driver exports DATABASE_URL empty for a trial).
    env.pop("DATABASE_URL")
    env_file = tmp_path / "real.env"
    env_file.write_text(f"DATABASE_URL={real_url}\n")
    env["DIVPIPE_ENV_FILE"] = str(env_file)
    summary = run_driver(V3, env, tmp_path, "--simulate", "--sim-symbols", "40", "--sim-seed", "9")
    assert "🧪 simulator: http://127.0.0.1:" in summary["_stdout"]
    assert "🧪 --simulate ignores DATABASE_URL" in summary["_stdout"]
    assert "SKIPPED" not in summary["_stdout"]  # --simulate implies --force
    assert summary["simulated"] is True
    statuses = {t["name"]: t["status"] for t in summary["tasks"]}
    assert statuses["discovery"] == "success" and statuses["main_update"] == "success", summary["_stdout"]
    # Every task's requests, per host per second, for the picture: Yahoo's from the main update.
    traffic = summary["requests_per_second"]
    assert sum(n for _, n in traffic["yahoo"]) >= 40, traffic.keys()
    assert any("nasdaq" in host for host in traffic) and any("cboe" in host for host in traffic), traffic.keys()
    assert all(second >= 0 for points in traffic.values() for second, _ in points)

    # Nothing reached the real database, and the real logs stay empty.
    with psycopg2.connect(real_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT (SELECT count(*) FROM raw_stock_prices) + (SELECT count(*) FROM pipeline_runs)")
        assert cur.fetchone()[0] == 0
    real_logs = Path(env["LOG_DIR"])
    assert not list(real_logs.glob("*.log")) and not list(real_logs.glob("summary_*.json"))
    assert list((real_logs / "simulate").glob("daily_update_v3_*.log"))
    timeline = real_logs / "simulate" / f"timeline_{summary['run_id']}.png"
    assert f"🖼️ timeline: {timeline}" in summary["_stdout"]
    assert timeline.read_bytes()[:4] == b"\x89PNG"

    # What the trial did is there to look at, with the commands the README gives.
    listed = _divpipe(env, "runs", "--simulate")
    assert listed.returncode == 0, listed.stderr
    assert summary["run_id"] in listed.stdout
    counted = _divpipe(env, "db", "psql", "--simulate", "-c", "select count(distinct symbol) from raw_stock_prices")
    assert counted.returncode == 0, counted.stderr
    assert int(counted.stdout.split()[2]) > 20  # " count \n-------\n    37\n(1 row)"

    # Another universe: its symbols replace the last one's instead of looking delisted.
    again = run_driver(V3, env, tmp_path, "--simulate", "--sim-symbols", "30", "--sim-seed", "4")
    assert "🧪 another simulated universe than last time (40 symbols, seed 9)" in again["_stdout"]
    assert again["_returncode"] == 0, again["_stdout"]
    listed = _divpipe(env, "runs", "--simulate")
    assert summary["run_id"] in listed.stdout and again["run_id"] in listed.stdout

    leftovers = [p.info["cmdline"] for p in psutil.process_iter(["cmdline"])
                 if str(tmp_path) in " ".join(p.info["cmdline"] or [])]
    assert leftovers == []


def _polygon_only_tasks(path: Path) -> None:
    """The real Polygon task line of scripts/tasks.sh, after a stand-in main update."""
    real = [line for line in (ROOT / "scripts/tasks.sh").read_text().splitlines()
            if line.startswith("task polygon ")]
    assert len(real) == 1
    path.write_text("\n".join(real) + "\ntask main_update step2 critical true\n")


def test_the_nightly_driver_runs_polygon_with_a_key_and_skips_it_quietly_without(make_sim, make_db, tmp_path):
    from divpipe.sim.polygon import KEY

    make_sim(n_symbols=SYMBOLS, seed=5)
    url = make_db()
    _polygon_only_tasks(tmp_path / "polygon.sh")
    env = {**driver_env(tmp_path, "polygon", url), "DIVPIPE_TASKS_FILE": str(tmp_path / "polygon.sh")}
    env.pop("MASSIVE_API_KEY", None)
    env.pop("POLYGON_API_KEY", None)
    without = run_driver(V3, env, tmp_path, "--force")
    assert without["_returncode"] == 0, without["_stdout"]
    task = next(t for t in without["tasks"] if t["name"] == "polygon")
    assert task["status"] == "success"
    # (the run's own report warns that nothing is tracked: no main update here)
    assert not [ln for ln in without["_stdout"].splitlines() if "⚠️" in ln and "polygon" in ln]

    with_key = run_driver(V3, {**env, "MASSIVE_API_KEY": KEY}, tmp_path, "--force")
    assert with_key["_returncode"] == 0, with_key["_stdout"]
    assert next(t for t in with_key["tasks"] if t["name"] == "polygon")["status"] == "success"
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM raw_dividends_polygon")
        assert cur.fetchone()[0] > 0
    logs = "".join(p.read_text() for p in Path(env["LOG_DIR"]).glob("polygon_*.log"))
    assert "polygon: skipped, MASSIVE_API_KEY (or POLYGON_API_KEY) is not set" in logs
    assert "✅ polygon:" in logs and KEY not in logs
