"""The nightly drivers as processes, on fake tasks (DIVPIPE_TASKS_FILE) and a real database.

Each fake task is a line of bash: it leaves a marker file when it ran, and
can fail, sleep, wait for its siblings or spawn children, so that locking,
the trading-day gate, failures, signals and log merging are tested in seconds.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from datetime import date

import psutil
import pytest

from divpipe import errors
from divpipe.sources import registry
from tests.plugins.fake_pipeline import DEFAULT_TASKS, ROOT, V2, V3

SATURDAY, SUNDAY, MONDAY, THANKSGIVING = "2026-11-21", "2026-11-22", "2026-11-23", "2026-11-26"


def wait_for(predicate, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def task_rows(conn, run_id: str) -> dict[str, tuple]:
    with conn.cursor() as cur:
        cur.execute("SELECT task, phase, critical, status, exit_code, log_path FROM task_runs "
                    "WHERE run_id = %s", (run_id,))
        return {row[0]: row[1:] for row in cur.fetchall()}


def run_row(conn, run_id: str) -> tuple:
    with conn.cursor() as cur:
        cur.execute("SELECT driver, status, exit_code, log_path, finished_at IS NOT NULL "
                    "FROM pipeline_runs WHERE run_id = %s", (run_id,))
        return cur.fetchone()


# --- the task list -----------------------------------------------------------------------------

def test_the_one_task_list_defines_every_nightly_task():
    listing = subprocess.run(
        ["bash", "-c", 'task() { echo "$1|$2|$3|${*:4}"; }; needs() { :; }; source scripts/tasks.sh'],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.splitlines()
    tasks = {line.split("|")[0]: line.split("|")[1:] for line in listing if "|" in line}
    scrapers = [spec for spec in registry.SPECS if spec.task]
    assert next(iter(tasks)) == "discovery"
    assert list(tasks)[-5:] == ["main_update", "companies", "holdings", "future_div", "backup"]
    # Phase 1 is the registry's scrapers, each running its script; nothing else.
    phase1 = {n: cmd for n, (phase, _, cmd) in tasks.items() if phase == "phase1"}
    assert phase1 == {spec.task: f"python {spec.script}" for spec in scrapers}
    assert len(tasks) == len(scrapers) + 6
    assert tasks["discovery"][:2] == ["discovery", "critical"]
    assert tasks["main_update"] == ["step2", "critical", "python update_stock_v2.py --mode update"]
    assert tasks["companies"][2].endswith("--mode refresh-companies --limit 100")
    assert tasks["future_div"][2].endswith("--mode future-dividends --days-ahead 90")
    assert tasks["backup"][2] == "scripts/backup_database.sh"
    noncritical = [n for n, (_, crit, _) in tasks.items() if crit == "noncritical"]
    assert sorted(noncritical) == sorted(set(tasks) - {"discovery", "main_update"})


def test_bad_usage_exits_2_and_runs_nothing(fake):
    for args in (["--bogus"], ["--date", "2026-02-30"], ["--sim-symbols", "many"]):
        result = fake.run(V3, *args)
        assert result.returncode == errors.EXIT_USAGE == 2, args
        assert result.stderr.startswith("❌ ")
    # A bad setting: config --shell's one line, before the lock and any log.
    result = fake.run(V3, "--force", HTTP_RETRIES="many")
    assert result.returncode == 2
    assert result.stderr == "❌ HTTP_RETRIES: expected a number, got 'many'\n"
    assert result.stdout == ""
    assert fake.ran() == set()


def test_the_exit_codes_the_driver_knows_before_python_are_divpipes():
    # Usage errors and a venv that cannot be built exit before config --shell can run.
    early = subprocess.run(["bash", "-c", 'source scripts/driver_lib.sh; echo "${EXIT_FAILURE} ${EXIT_USAGE}"'],
                           cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    assert early == [str(errors.EXIT_FAILURE), str(errors.EXIT_USAGE)]


# --- success, per-task logs, summary, history -----------------------------------------------

def test_a_full_run_writes_task_logs_summary_and_history(fake, conn):
    with conn, conn.cursor() as cur:  # a run that was SIGKILLed: still marked running
        cur.execute("INSERT INTO pipeline_runs (run_id, driver, started_at, status) "
                    "VALUES ('killed', 'v3', now() - interval '1 day', 'running')")
    result = fake.run(V3, "--force", "--discovery", ALERT_PHASE1_MINUTES="0.0001")
    assert result.returncode == 0, result.stdout + result.stderr
    assert fake.ran() == {name for name, _, _ in DEFAULT_TASKS}
    day = f"{date.today():%Y%m%d}"
    for name, _, _ in DEFAULT_TASKS:
        # Each task wrote its own file, and only its own output.
        assert (fake.log_dir / f"{name}_{day}.log").read_text() == f"{name} says hello\n"
    out = result.stdout
    assert "⚡ PERFORMANCE BREAKDOWN:\n  Phase 1 (Parallel Scrapers): " in out
    assert "\n  Step 2 (Main Update): " in out and "\n  Phase 2 (Parallel Post-Tasks): " in out
    assert "\nTotal execution time: 0m " in out
    assert "Critical path: discovery" in out and "Time saved vs serial:" in out
    assert out.index("⚡ PERFORMANCE BREAKDOWN") < out.index("📊 DATA COMPLETENESS")
    assert re.search(r"⚠️ Phase 1 \(Parallel Scrapers\) took \d+m \d+s, "
                     r"longer than ALERT_PHASE1_MINUTES=0.0001 min", out)

    summary = fake.summary(result)
    assert summary["driver"] == "v3" and summary["exit_code"] == 0
    assert [t["name"] for t in summary["tasks"]] == [name for name, _, _ in DEFAULT_TASKS]
    assert {t["status"] for t in summary["tasks"]} == {"success"}
    assert set(summary["phases"]) == {"discovery", "phase1", "step2", "phase2"}
    rows = task_rows(conn, summary["run_id"])
    assert rows["main_update"][:4] == ("step2", True, "success", 0)
    assert rows["cboe"][4] == str(fake.log_dir / f"cboe_{day}.log")
    assert run_row(conn, summary["run_id"])[:3] == ("v3", summary["status"], 0)
    assert run_row(conn, "killed")[1] == "failed"


def test_v3_runs_a_phase_in_parallel_and_v2_one_task_at_a_time(fake):
    # Each phase-1 task waits until all three have started: only parallel runs pass.
    together = (f'touch "{fake.tmp}/started.$$"; for _ in $(seq 200); do '
                f'[ "$(ls "{fake.tmp}" | grep -c "^started")" -ge 3 ] && exit 0; sleep 0.05; done; exit 9')
    tasks = [("yieldmax", "phase1", "noncritical"), ("cboe", "phase1", "noncritical"),
             ("nasdaq", "phase1", "noncritical"), ("main_update", "step2", "critical")]
    fake.define(tasks, yieldmax=together, cboe=together, nasdaq=together)
    result = fake.run(V3, "--force")
    assert result.returncode == 0, result.stdout
    assert {t["status"] for t in fake.summary(result)["tasks"]} == {"success"}

    # Each task fails if another one is running at the same time.
    alone = (f'if ls "{fake.tmp}"/running.* >/dev/null 2>&1; then exit 9; fi; '
             f'touch "{fake.tmp}/running.$$"; sleep 0.3; rm "{fake.tmp}/running.$$"')
    fake.define(tasks, yieldmax=alone, cboe=alone, nasdaq=alone, main_update=alone)
    result = fake.run(V2, "--force")
    assert result.returncode == 0, result.stdout
    summary = fake.summary(result)
    assert summary["driver"] == "v2"
    assert {t["status"] for t in summary["tasks"]} == {"success"}


def test_runs_from_any_directory_through_a_symlink(fake, tmp_path):
    elsewhere = tmp_path / "bin"
    elsewhere.mkdir()
    (elsewhere / "nightly").symlink_to(V2)
    result = subprocess.run(["./nightly", "--force"], cwd=elsewhere, env=fake.env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "main_update" in fake.ran()
    assert fake.main_log("v2").count("════ divpipe v2 run") == 1


# --- failures --------------------------------------------------------------------------------

def test_a_failed_critical_step_skips_phase_2_and_fails_the_run(fake, conn, tmp_path):
    alert_out = tmp_path / "alerted"
    alert = tmp_path / "alert.sh"
    alert.write_text(f'#!/bin/sh\necho "$1" > "{alert_out}"\n')
    alert.chmod(0o755)
    fake.define(main_update='echo "database exploded" >&2; exit 1')
    result = fake.run(V3, "--force", ALERT_COMMAND=str(alert))
    assert result.returncode == 1
    assert "main_update" in fake.ran()
    assert not {"companies", "backup"} & fake.ran()
    assert "Phase 2 skipped because the main update (main_update) failed" in result.stdout
    summary = fake.summary(result)
    assert summary["status"] == "failed"
    assert alert_out.read_text().strip() == str(fake.log_dir / f"summary_{summary['run_id']}.json")
    rows = task_rows(conn, summary["run_id"])
    assert rows["main_update"][2:4] == ("failed", 1)
    assert rows["companies"][2] == "skipped" and rows["backup"][2] == "skipped"
    assert run_row(conn, summary["run_id"])[1:3] == ("failed", 1)


def test_a_failed_non_critical_task_warns_and_exits_0_unless_strict(fake, tmp_path):
    alert_out = tmp_path / "alerted" / "summary"
    alert_out.parent.mkdir()
    fake.define(cboe="echo cboe started; echo '2026-12-02 01:02:03 ERROR [MainThread] x: ❌ giving up on "
                     "www.cboe.com/notices: ConnectionError'; echo a last line; exit 3")
    result = fake.run(V3, "--force", ALERT_COMMAND=f"cp -t {alert_out.parent} --")  # the summary path follows
    assert result.returncode == 0
    # The task's own ❌ line stands beside its failure: on the terminal, in the run log and in the summary.
    cause = "giving up on www.cboe.com/notices: ConnectionError"
    assert "⚠️ cboe failed with exit 3 after" in result.stdout
    assert f"(non-critical, the run goes on): {cause} (see " in result.stdout
    assert f"cboe failed (exit 3, non-critical): {cause}" in result.stdout
    assert f"{cause} (see " in fake.main_log()
    summary = fake.summary(result)
    assert next(t for t in summary["tasks"] if t["name"] == "cboe")["note"] == cause
    assert {"companies", "backup"} <= fake.ran()  # the run went on
    assert summary["status"] == "warning"
    assert not list(alert_out.parent.glob("summary_*.json"))

    result = fake.run(V3, "--force", "--strict", ALERT_COMMAND=f"cp -t {alert_out.parent} --")
    assert result.returncode == 1
    assert f"cboe failed (exit 3, non-critical): {cause} (--strict)" in result.stdout
    alerted = list(alert_out.parent.glob("summary_*.json"))
    assert len(alerted) == 1 and cause in alerted[0].read_text()  # the alert's summary names the cause


def test_failed_tasks_logs_are_merged_under_a_header(fake):
    fake.define(cboe="echo 'cboe: the page changed'; exit 3",
                main_update="echo 'main update ran'")
    result = fake.run(V2, "--force")
    assert result.returncode == 0
    log = fake.main_log("v2")
    header = log.index("─── [cboe] failed · exit 3 · ")
    assert log.index("cboe: the page changed", header) > header
    assert "─── [main_update] success · exit 0 · " in log
    assert "─── [backup] success · exit 0 · " in log
    # The report follows the merged logs.
    assert log.index("═══════ end of task logs") < log.index("⚡ PERFORMANCE BREAKDOWN")


def test_a_task_log_keeps_earlier_runs_and_the_merge_takes_only_this_run(fake):
    fake.define(cboe='echo "cboe run $(date +%s%N)"')
    assert fake.run(V3, "--force").returncode == 0
    first = (fake.log_dir / f"cboe_{date.today():%Y%m%d}.log").read_text()
    assert fake.run(V3, "--force").returncode == 0
    both = (fake.log_dir / f"cboe_{date.today():%Y%m%d}.log").read_text()
    assert both.startswith(first) and len(both.splitlines()) == 2
    log = fake.main_log("v3")
    second_run = log[log.rindex("════ divpipe v3 run"):]
    assert both.splitlines()[1] in second_run and first.strip() not in second_run


# --- the lock ----------------------------------------------------------------------------------

def test_two_drivers_started_at_once_leave_exactly_one_running(fake):
    fake.define(yieldmax="sleep 2")
    first, second = fake.start(V3, "--force"), fake.start(V2, "--force")
    results = {proc: proc.communicate(timeout=180) for proc in (first, second)}
    codes = sorted(proc.returncode for proc in results)
    assert codes == [0, 75], {p.returncode: out for p, out in results.items()}
    winner = first if first.returncode == 0 else second
    loser = second if winner is first else first
    assert f"already running (pid {winner.pid})" in results[loser][1]
    # The loser touched nothing: no main log of its own, the winner's pid in the lock file.
    loser_driver = "v2" if loser is second else "v3"
    assert not (fake.log_dir / f"daily_update_{loser_driver}_{date.today():%Y%m%d}.log").exists()
    assert (fake.data_dir / "daily_update.lock").read_text().strip() == str(winner.pid)


# --- the trading-day gate ------------------------------------------------------------------------

@pytest.mark.parametrize("day", [SATURDAY, THANKSGIVING])
def test_a_closed_market_skips_the_run_with_exit_0(fake, conn, day):
    result = fake.run(V3, "--date", day)
    assert result.returncode == 0
    assert "SKIPPED: not a trading day" in result.stdout
    assert fake.ran() == set()
    summary = fake.summary(result)
    assert summary["status"] == "skipped"
    assert run_row(conn, summary["run_id"])[1] == "skipped"


@pytest.mark.parametrize("how", [{"FORCE_RUN": "true"}, {"args": "--force"}])
def test_force_overrides_the_gate(fake, how):
    args = [how["args"]] if "args" in how else []
    env = {k: v for k, v in how.items() if k != "args"}
    result = fake.run(V3, "--date", SATURDAY, *args, **env)
    assert result.returncode == 0, result.stdout
    assert "SKIPPED" not in result.stdout
    assert fake.ran() == {name for name, phase, _ in DEFAULT_TASKS if phase != "discovery"}


def test_sunday_runs_only_the_discovery_and_weekdays_none(fake):
    result = fake.run(V3, "--date", SUNDAY)
    assert result.returncode == 0, result.stdout
    assert fake.ran() == {"discovery"}
    assert "only the Sunday discovery runs" in result.stdout
    (fake.markers / "discovery").unlink()
    assert fake.run(V3, "--date", MONDAY).returncode == 0
    assert "discovery" not in fake.ran() and "main_update" in fake.ran()


def test_a_first_night_runs_discovery_whatever_the_day(fresh, conn):
    result = fresh.run(V3, "--date", MONDAY)
    assert result.returncode == 0, result.stdout
    assert "🔎 no symbol is tracked yet: running discovery first" in result.stdout
    assert {"discovery", "main_update"} <= fresh.ran()
    # On a closed day, the discovery alone; once symbols are tracked, back to the calendar.
    for marker in fresh.markers.iterdir():
        marker.unlink()
    result = fresh.run(V3, "--date", SATURDAY)
    assert fresh.ran() == {"discovery"}
    assert "only the discovery runs" in result.stdout
    with conn, conn.cursor() as cur:
        cur.execute("INSERT INTO raw_stocks (symbol) VALUES ('O')")
    (fresh.markers / "discovery").unlink()
    result = fresh.run(V3, "--date", SATURDAY)
    assert "SKIPPED: not a trading day" in result.stdout and fresh.ran() == set()


# --- signals ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_stops_every_child_and_records_the_run_interrupted(fake, conn, sig, code):
    pids = fake.tmp / "pids"
    pids.mkdir()
    spawn = f'sleep 300 & echo $! > "{pids}/$$.child"; echo $$ > "{pids}/$$.task"; wait'
    # This one ignores TERM: the driver must KILL it after the grace period.
    stubborn = f"trap '' TERM; {spawn}"
    fake.define(yieldmax=spawn, cboe=stubborn)
    proc = fake.start(V3, "--force")
    wait_for(lambda: len(list(pids.glob("*.child"))) == 2 and len(list(pids.glob("*.task"))) == 2,
             "both tasks and their children to start")
    started = [int(p.read_text()) for p in pids.iterdir()]
    assert all(alive(pid) for pid in started)
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == code, out
    wait_for(lambda: not any(alive(pid) for pid in started), "every task process to be gone", 10)
    assert "main_update" not in fake.ran()
    summary = fake.summary(out)
    assert summary["status"] == "interrupted" and summary["exit_code"] == code
    assert summary["rows_written"] == {}
    rows = task_rows(conn, summary["run_id"])
    assert rows["yieldmax"][2] == "interrupted" and rows["cboe"][2] == "interrupted"
    assert rows["main_update"][2] == "skipped"
    assert run_row(conn, summary["run_id"])[1:3] == ("interrupted", code)


# --- housekeeping ------------------------------------------------------------------------------------

def test_old_logs_are_deleted_and_other_files_kept(fake):
    fake.log_dir.mkdir(parents=True, exist_ok=True)
    old = [fake.log_dir / "nasdaq_20200101.log", fake.log_dir / "summary_20200101T000000Z-v3-1.json"]
    recent = fake.log_dir / "nasdaq_20260101.log"
    keep = fake.log_dir / "notes.txt"
    for path in [*old, recent, keep]:
        path.write_text("x")
    forty_days_ago = time.time() - 40 * 86400
    for path in [*old, keep]:
        os.utime(path, (forty_days_ago, forty_days_ago))
    result = fake.run(V3, "--force", LOG_RETENTION_DAYS="30")
    assert result.returncode == 0
    assert not any(p.exists() for p in old)
    assert recent.exists() and keep.exists()
    assert "deleted 2 log file(s) older than 30 days" in result.stdout


def test_a_critical_completeness_figure_fails_the_run(fake, conn):
    with conn, conn.cursor() as cur:
        cur.execute("INSERT INTO raw_stocks (symbol, company, prices_updated_at) "
                    "SELECT 'S' || i, 'Company ' || i, now() FROM generate_series(1, 10) i")
        cur.execute("INSERT INTO raw_stock_prices (symbol, date, close) "
                    "SELECT 'S' || i, CURRENT_DATE, 1 FROM generate_series(1, 4) i")
        cur.execute("INSERT INTO raw_dividends (symbol, ex_date, amount) "
                    "SELECT 'S' || i, CURRENT_DATE - 30, 0.1 FROM generate_series(1, 10) i")
    result = fake.run(V3, "--force")
    assert result.returncode == 1
    assert "❌ price coverage (last session): 5/11 (45.5%)" in result.stdout
    assert fake.summary(result)["completeness"]["level"] == "critical"
    # The same data with lower thresholds is only a warning.
    result = fake.run(V3, "--force", PRICE_COVERAGE_WARN="0.5", PRICE_COVERAGE_CRIT="0.4")
    assert result.returncode == 0
    assert "⚠️ price coverage (last session): 5/11 (45.5%)" in result.stdout
    assert "✅ dividend coverage (last 365 days): 11/11 (100.0%)" in result.stdout


def test_processes_a_finished_task_left_behind_are_stopped(fake):
    child = fake.tmp / "child.pid"
    fake.define(yieldmax=f'sleep 300 & echo $! > "{child}"; exit 0')
    result = fake.run(V3, "--force")
    assert result.returncode == 0
    assert "⚠️ yieldmax left processes running in its group: stopping them" in result.stdout
    wait_for(lambda: not alive(int(child.read_text())), "the left-behind child to be gone", 10)


def test_settings_come_from_the_env_file_and_the_environment_wins(fake, tmp_path):
    env_file = tmp_path / "divpipe.env"
    env_file.write_text('# the gate is off on this machine\nexport FORCE_RUN="true"  \n'
                        "DIVPIPE_PROGRESS_SECONDS=1 # inline comment\n")
    result = fake.run(V3, "--date", SATURDAY, DIVPIPE_ENV_FILE=str(env_file))
    assert result.returncode == 0, result.stdout
    assert "main_update" in fake.ran()
    for marker in fake.markers.iterdir():
        marker.unlink()
    result = fake.run(V3, "--date", SATURDAY, DIVPIPE_ENV_FILE=str(env_file), FORCE_RUN="false")
    assert "SKIPPED: not a trading day" in result.stdout
    assert fake.ran() == set()


def test_the_venv_bootstrap_waits_for_another_one():
    # Drivers prepare the venv before they hold the run lock: bootstrap_venv.sh has a lock of its own.
    import fcntl

    with open(ROOT / ".venv" / ".bootstrap.lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        waiting = subprocess.Popen(["bash", str(ROOT / "scripts" / "bootstrap_venv.sh"), str(ROOT)],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.0)
        assert waiting.poll() is None
    assert waiting.wait(timeout=60) == 0, waiting.communicate()


def test_the_driver_reads_env_with_python_dotenvs_rules(fake, tmp_path):
    # The two cases where the driver's own parser (gone now) disagreed with python-dotenv.
    home = tmp_path / "home"
    env_file = tmp_path / "divpipe.env"
    env_file.write_text('ALERT_COMMAND=${HOME}/x\nSYMBOLS_FILE="a#b" # c\n')
    fake.define(yieldmax='echo "alert=${ALERT_COMMAND}"; echo "symbols=${SYMBOLS_FILE}"')
    result = fake.run(V3, "--force", DIVPIPE_ENV_FILE=str(env_file), HOME=str(home))
    assert result.returncode == 0, result.stdout + result.stderr
    task_log = (fake.log_dir / f"yieldmax_{date.today():%Y%m%d}.log").read_text()
    assert f"alert={home}/x\n" in task_log
    assert f"symbols={ROOT}/a#b\n" in task_log


def test_driver_overlap_in_the_env_file_reaches_v3_but_not_v2(fake, tmp_path):
    env_file = tmp_path / "divpipe.env"
    env_file.write_text("DRIVER_OVERLAP=yes\n")
    result = fake.run(V3, "--force", DIVPIPE_ENV_FILE=str(env_file))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "(--overlap)" in result.stdout.splitlines()[0]
    result = fake.run(V2, "--force", DIVPIPE_ENV_FILE=str(env_file))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "(--overlap)" not in result.stdout


def test_a_bad_value_in_the_env_file_is_one_line_and_exit_2(fake, tmp_path):
    env_file = tmp_path / "divpipe.env"
    env_file.write_text("HTTP_RETRIES=many # retries\n")
    result = fake.run(V3, "--force", DIVPIPE_ENV_FILE=str(env_file))
    assert result.returncode == 2
    assert result.stderr.splitlines() == ["❌ HTTP_RETRIES: expected a number, got 'many'"]
    assert not fake.ran() and not (fake.data_dir / "daily_update.lock").exists()


# --- settings checked before anything is touched ---------------------------------------------

def test_an_invalid_retention_stops_the_run_before_any_log_is_deleted(fake):
    fake.log_dir.mkdir(parents=True, exist_ok=True)
    old = fake.log_dir / "nasdaq_20250101.log"
    old.write_text("an old task log\n")
    os.utime(old, (time.time() - 400 * 86400,) * 2)
    result = fake.run(V3, "--force", LOG_RETENTION_DAYS="0")
    assert result.returncode == 2
    assert "LOG_RETENTION_DAYS" in result.stdout + result.stderr
    assert old.exists() and not fake.ran()


def test_a_date_outside_the_exchange_calendar_is_bad_usage(fake):
    result = fake.run(V3, "--date", "1980-01-02")
    assert result.returncode == 2
    assert "outside the XNYS calendar" in result.stdout + result.stderr
    assert not fake.ran()
