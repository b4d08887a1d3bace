"""--rerun-failed: run again what failed, timed out or was skipped, and what needs it.

Fake tasks (tests/plugins/fake_pipeline.py) on a real database. A task fails
while its file exists in `broken`: remove the file, and the rerun succeeds.
"""

from __future__ import annotations

import subprocess

import pytest

from tests.plugins.fake_pipeline import ROOT, V2, V3
from tests.test_driver_overlap import NEEDS, NIGHT

SATURDAY, MONDAY = "2026-11-21", "2026-11-23"


@pytest.fixture
def night(fake):
    broken = fake.tmp / "broken"
    broken.mkdir()
    fake.define(NIGHT, NEEDS, **{name: f'[[ -e "{broken}/{name}" ]] && {{ echo "❌ {name} is broken"; exit 3; }}; '
                                      f'echo "{name} ok"'
                                 for name, _, _ in NIGHT})
    fake.broken = broken
    return fake


def break_tasks(fake, *names: str) -> None:
    for name in names:
        (fake.broken / name).touch()


def repair(fake) -> None:
    for path in fake.broken.iterdir():
        path.unlink()
    for path in fake.markers.iterdir():
        path.unlink()


def statuses(summary: dict) -> dict[str, str]:
    return {t["name"]: t["status"] for t in summary["tasks"]}


def runs_table(fake) -> str:
    return subprocess.run([str(ROOT / ".venv/bin/python"), "-m", "divpipe", "runs"], cwd=ROOT, env=fake.env,
                          capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize("overlap", [False, True], ids=["phases", "overlap"])
def test_a_rerun_runs_the_failed_scraper_and_post_update_job_and_what_needs_them(night, conn, overlap):
    extra = ("--overlap",) if overlap else ()
    break_tasks(night, "cboe", "companies")
    first = night.run(V3, "--force", "--discovery", "--date", MONDAY, *extra)
    assert first.returncode == 0, first.stdout + first.stderr  # non-critical failures: a warning
    original = night.summary(first)
    assert statuses(original)["cboe"] == statuses(original)["companies"] == "failed"

    repair(night)
    result = night.run(V3, "--rerun-failed", "--force", *extra)
    assert result.returncode == 0, result.stdout + result.stderr
    rerun = night.summary(result)
    # cboe and companies, and what needs either: future_div (cboe) and backup (both). Nothing else.
    assert night.ran() == {"cboe", "companies", "future_div", "backup"}
    assert statuses(rerun) == dict.fromkeys(["cboe", "companies", "future_div", "backup"], "success")
    assert rerun["rerun_of"] == original["run_id"] and rerun["run_id"] != original["run_id"]
    assert rerun["as_of"] == original["as_of"] == MONDAY
    assert (f"↻ rerun of {original['run_id']} (as of {MONDAY}): cboe (failed) companies (failed); "
            "and what needs them: future_div backup") in result.stdout
    with conn.cursor() as cur:
        cur.execute("SELECT rerun_of, as_of::text, status FROM pipeline_runs WHERE run_id = %s", (rerun["run_id"],))
        assert cur.fetchone() == (original["run_id"], MONDAY, "success")
    assert f"rerun of {original['run_id']}" in runs_table(night)


def test_a_rerun_after_a_failed_main_update_runs_it_and_everything_it_skipped(night, conn):
    break_tasks(night, "main_update")
    first = night.run(V3, "--force", "--date", MONDAY)
    assert first.returncode == 1
    original = night.summary(first)
    assert statuses(original)["backup"] == "skipped"
    repair(night)
    # The serial driver can complete a v3 run: the tasks are the same.
    result = night.run(V2, "--rerun-failed", original["run_id"], "--force")
    assert result.returncode == 0, result.stdout + result.stderr
    # Phases skip all of phase 2 after a critical failure, future_div included; discovery was not
    # part of the run, and the scrapers succeeded.
    assert night.ran() == {"main_update", "companies", "future_div", "backup"}
    assert night.summary(result)["rerun_of"] == original["run_id"]


def test_a_rerun_keeps_the_gate_of_the_runs_date(night):
    break_tasks(night, "cboe")
    first = night.run(V3, "--force", "--date", SATURDAY)
    original = night.summary(first)
    repair(night)
    skipped = night.run(V3, "--rerun-failed")
    assert skipped.returncode == 0
    assert f"SKIPPED: not a trading day ({SATURDAY}, NYSE closed)" in skipped.stdout
    assert night.ran() == set()
    forced = night.run(V3, "--rerun-failed", original["run_id"], "--force")
    assert forced.returncode == 0 and night.ran() == {"cboe", "future_div", "backup"}


def test_nothing_to_rerun_and_bad_run_ids(night, conn):
    first = night.run(V3, "--force", "--date", MONDAY)
    assert first.returncode == 0
    again = night.run(V3, "--rerun-failed", "--force")
    assert again.returncode == 0
    assert f"✅ nothing to rerun: no task of {night.summary(first)['run_id']} failed" in again.stdout
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pipeline_runs")
        assert cur.fetchone()[0] == 1
    conn.rollback()
    with conn, conn.cursor() as cur:  # a driver that was SIGKILLed recorded no task
        cur.execute("INSERT INTO pipeline_runs (run_id, driver, started_at, status) "
                    "VALUES ('killed', 'v3', now(), 'running')")
    died = night.run(V3, "--rerun-failed", "killed", "--force")
    assert died.returncode == 1
    assert "❌ cannot rerun: --rerun-failed: run killed has no recorded end (its driver died)" in died.stdout
    unknown = night.run(V3, "--rerun-failed", "20260101T000000Z-v3-1")
    assert unknown.returncode == 2
    assert "❌ cannot rerun: --rerun-failed: no run 20260101T000000Z-v3-1 in pipeline_runs" in unknown.stdout
    bad = night.run(V3, "--rerun-failed", "x;y")
    assert bad.returncode == 2 and bad.stderr.startswith("❌ daily_update_v3_parallel.sh: --rerun-failed: 'x;y'")
    dated = night.run(V3, "--rerun-failed", "--date", MONDAY)
    assert dated.returncode == 2 and "drop --date" in dated.stderr
