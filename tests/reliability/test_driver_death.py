"""A killed driver: its tasks stop promptly, its state goes, and the lock message tells the truth.

On fake tasks, and on a real night (the real task list against the simulator) killed in phase 1
and in the main update: the next run leaves the same data tables as a clean night.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import psycopg2
import pytest

from divpipe.sources import registry
from tests.night import assert_same_tables, driver_env, run_driver
from tests.plugins.fake_pipeline import DEFAULT_TASKS, V3, FakePipeline
from tests.test_drivers import alive, wait_for

pytestmark = pytest.mark.slow

# The real nights: a small universe, a year of history, a little latency so that each phase lasts.
SYMBOLS, SEED, LATENCY_MS = 24, 5, 5

# A Python task through divpipe's one entry wrapper, as every real task is.
SLEEPER = ('echo $$ > "{tmp}/{name}.pid"; exec python -c "import sys, time; from divpipe.entry import run; '
           'sys.exit(run(lambda argv: time.sleep(300) or 0, []))"')


@pytest.fixture
def fake(db_env, tmp_path) -> FakePipeline:
    (tmp_path / "tmpdir").mkdir()
    return FakePipeline({**db_env, "TMPDIR": str(tmp_path / "tmpdir")}, tmp_path)


def test_tasks_of_a_sigkilled_driver_stop_promptly_and_the_next_run_proceeds(fake):
    fake.define(DEFAULT_TASKS, main_update=SLEEPER.format(tmp=fake.tmp, name="main_update"))
    driver = fake.start(V3, "--force")
    pid_file = fake.tmp / "main_update.pid"
    wait_for(pid_file.exists, "the main update to start")
    task = int(pid_file.read_text())
    os.kill(driver.pid, signal.SIGKILL)
    driver.communicate(timeout=30)
    # Bounded by the task's 1 s watch, with room for a loaded machine.
    wait_for(lambda: not alive(task), "the orphaned task to stop", timeout=30)

    fake.define(DEFAULT_TASKS)
    result = fake.run(V3, "--force")
    assert result.returncode == 0, result.stderr
    assert list((fake.tmp / "tmpdir").glob("divpipe_run.*")) == []  # the dead run's state went too


def test_a_lock_left_by_a_dead_run_names_the_live_holder(fake):
    lock = fake.data_dir / "daily_update.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock.write_text(f"{dead.pid}\n")
    holder = subprocess.Popen(["flock", str(lock), "sleep", "60"])
    try:
        wait_for(lambda: subprocess.run(["flock", "-n", str(lock), "true"]).returncode != 0, "the lock to be held")
        result = fake.run(V3, "--force")
        assert result.returncode == 75
        line = result.stderr.strip().splitlines()[-1]
        assert f"the lock was left by a dead run (pid {dead.pid}); still held by pid(s)" in line, line
        assert str(holder.pid) in line.rsplit("pid(s)", 1)[1]
        assert "already running" not in line
    finally:
        holder.kill()
        holder.wait()
    assert fake.ran() == set()


# --- the real night, killed ------------------------------------------------------------------

def _count(url: str, table: str) -> int:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {table}")
        count = cur.fetchone()[0]
    conn.close()
    return count


def _scraper_requests(sim) -> int:
    """Requests the simulator got for the scraped sources' hosts (phase 1 only; not Yahoo, not discovery's)."""
    scraped = [s for s in registry.scraped() if s.task]
    return sum(sum(paths.values()) for host, paths in sim.stats()["requests"].items()
               if any(registry.for_host(host) is s for s in scraped))


def _lock_is_free(lock: Path) -> bool:
    return subprocess.run(["flock", "-n", str(lock), "true"]).returncode == 0


def _kill_mid(phase: str, sim, url: str, env: dict[str, str], tmp: Path) -> None:
    """Start a night and SIGKILL its driver while `phase` runs; return once it and its tasks are gone."""
    driver = subprocess.Popen([str(V3), "--force"], cwd=tmp, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        if phase == "phase1":
            sim.reset_stats()
            wait_for(lambda: _scraper_requests(sim) > 0, "phase 1 to start fetching")
        else:
            wait_for(lambda: _count(url, "raw_stock_prices") > 0, "the main update to write")
        tasks = {t: " ".join(t.cmdline()) for t in psutil.Process(driver.pid).children(recursive=True)}
        # From now on every answer takes a minute: a task that did not stop with its driver would
        # still be waiting on the simulator (and holding the lock) long after the bounds below.
        sim.latency_ms = 60_000
        os.kill(driver.pid, signal.SIGKILL)
    finally:
        driver.kill()
        driver.wait(timeout=30)
    wanted = "update_stock_v2.py --mode update" if phase == "main_update" else "scripts/scrape_"
    assert any(wanted in cmdline for cmdline in tasks.values()), tasks

    # Bounded by the tasks' 1 s watch of their driver, with room for a loaded machine.
    lock = Path(env["DIVPIPE_DATA_DIR"]) / "daily_update.lock"
    wait_for(lambda: _lock_is_free(lock), f"the lock to be free (killed in {phase})", timeout=30)
    wait_for(lambda: not any(alive(t.pid) for t in tasks), f"the tasks to stop (killed in {phase})", timeout=30)
    sim.latency_ms = LATENCY_MS


def test_a_night_sigkilled_in_phase_1_or_the_main_update_frees_the_lock_and_the_next_run_matches_a_clean_one(
        make_sim, make_db, tmp_path):
    sim = make_sim(n_symbols=SYMBOLS, seed=SEED, latency_ms=LATENCY_MS)
    settings = {"HISTORY_YEARS": "1", "UPSERT_BATCH_ROWS": "200"}
    clean_url = make_db()
    clean = run_driver(V3, {**driver_env(tmp_path, "clean", clean_url), **settings}, tmp_path, "--force")
    assert clean["_returncode"] == 0, clean["_stdout"]
    prices = _count(clean_url, "raw_stock_prices")

    for phase in ("phase1", "main_update"):
        url = make_db()
        env = {**driver_env(tmp_path, phase, url), **settings}
        _kill_mid(phase, sim, url, env, tmp_path)
        if phase == "phase1":
            assert _count(url, "raw_stock_prices") == 0  # killed before the main update began
        else:
            assert 0 < _count(url, "raw_stock_prices") < prices  # killed halfway through it
        rerun = run_driver(V3, env, tmp_path, "--force")
        assert rerun["_returncode"] == 0, (phase, rerun["_stdout"])
        assert_same_tables(url, clean_url)
