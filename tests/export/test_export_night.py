"""The export as a night task: listed only when EXPORT_TARGET is set, run by the driver after the main update."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.export.seed import seed_small

ROOT = Path(__file__).resolve().parents[2]


def listed_tasks(env: dict[str, str]) -> dict[str, list[str]]:
    listing = subprocess.run(["bash", "-c", 'task() { echo "$1|$2|$3|${*:4}"; }; needs() { :; }; '
                              'source scripts/tasks.sh'],
                             cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout
    return {line.split("|")[0]: line.split("|")[1:] for line in listing.splitlines()}


def test_the_export_task_exists_only_when_a_target_is_set():
    env = {k: v for k, v in os.environ.items() if k != "EXPORT_TARGET"}
    assert "export" not in listed_tasks(env)
    tasks = listed_tasks({**env, "EXPORT_TARGET": "s3://lake/divpipe"})
    assert tasks["export"] == ["phase2", "noncritical", "python -m divpipe export"]
    # After every other writer, and before the backup, which needs it (tests/test_driver_overlap.py checks the needs).
    assert list(tasks)[-2:] == ["export", "backup"]


def test_the_driver_runs_the_export_after_the_main_update(db_env, conn, tmp_path):
    seed_small(conn)
    # The real export task line of tasks.sh behind a no-op main update.
    (line,) = [x.strip() for x in (ROOT / "scripts/tasks.sh").read_text().splitlines()
               if x.strip().startswith("task export ")]
    tasks_file = tmp_path / "tasks.sh"
    tasks_file.write_text(f"task main_update step2 critical true\n{line}\nneeds export main_update\n")
    lake = tmp_path / "lake"
    env = {**db_env, "DIVPIPE_TASKS_FILE": str(tasks_file), "EXPORT_TARGET": str(lake)}
    result = subprocess.run([str(ROOT / "daily_update_v3_parallel.sh"), "--force"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    # The run itself may fail its data-completeness checks (a handful of made-up rows); the task may not.
    summary_line = next(x for x in result.stdout.splitlines() if x.startswith("📄 summary: "))
    summary = json.loads(Path(summary_line.removeprefix("📄 summary: ")).read_text())
    tasks = {t["name"]: t for t in summary["tasks"]}
    assert tasks["export"]["status"] == "success" and tasks["export"]["phase"] == "phase2"
    assert tasks["export"]["started_at"] >= tasks["main_update"]["finished_at"]
    assert (lake / "_manifest.json").is_file()
    log = next(Path(env["LOG_DIR"]).glob("export_*.log")).read_text()
    assert "✅ export to " in log
