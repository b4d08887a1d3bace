"""The nightly drivers on fake tasks: a task list of one-line bash tasks (DIVPIPE_TASKS_FILE).

Each fake task leaves a marker file when it ran, and can fail, sleep, wait for
its siblings or spawn children, so that locking, the gate, the task graph,
failures, signals and log merging are tested in seconds on a real database.
"""

from __future__ import annotations

import json
import subprocess
from datetime import date
from pathlib import Path

import psycopg2
import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
V3 = ROOT / "daily_update_v3_parallel.sh"
V2 = ROOT / "daily_update_v2.sh"
DEFAULT_TASKS = [
    ("discovery", "discovery", "critical"),
    ("yieldmax", "phase1", "noncritical"),
    ("cboe", "phase1", "noncritical"),
    ("main_update", "step2", "critical"),
    ("companies", "phase2", "noncritical"),
    ("backup", "phase2", "noncritical"),
]


class FakePipeline:
    def __init__(self, env: dict[str, str], tmp: Path):
        self.tmp = tmp
        self.markers = tmp / "markers"
        self.markers.mkdir()
        self.tasks_file = tmp / "tasks.sh"
        self.log_dir = Path(env["LOG_DIR"])
        self.data_dir = Path(env["DIVPIPE_DATA_DIR"])
        self.env = {
            **env,
            "DIVPIPE_TASKS_FILE": str(self.tasks_file),
            "DIVPIPE_PROGRESS_SECONDS": "1",
            "DIVPIPE_STOP_GRACE_SECONDS": "2",
        }
        self.define()

    def define(self, tasks=DEFAULT_TASKS, needs: dict[str, list[str]] | None = None, **bodies: str) -> None:
        """Write the task list; `bodies` replaces the bash of named tasks, `needs` adds needs lines."""
        lines = []
        for name, phase, critical in tasks:
            body = bodies.get(name, f'echo "{name} says hello"')
            script = f'touch "{self.markers}/{name}"; {body}'
            lines.append(f"task {name} {phase} {critical} bash -c {shell_quote(script)}")
            if needs and needs.get(name):
                lines.append(f"needs {name} {' '.join(needs[name])}")
        self.tasks_file.write_text("\n".join(lines) + "\n")

    def ran(self) -> set[str]:
        return {p.name for p in self.markers.iterdir()}

    def run(self, driver: Path = V3, *args: str, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(driver), *args], cwd=self.tmp, env={**self.env, **env},
                              capture_output=True, text=True, timeout=180)

    def start(self, driver: Path = V3, *args: str, **env: str) -> subprocess.Popen:
        return subprocess.Popen([str(driver), *args], cwd=self.tmp, env={**self.env, **env},
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def main_log(self, driver: str = "v3") -> str:
        return (self.log_dir / f"daily_update_{driver}_{date.today():%Y%m%d}.log").read_text()

    def summary(self, result: subprocess.CompletedProcess | str) -> dict:
        text = result if isinstance(result, str) else result.stdout
        line = next(x for x in text.splitlines() if x.startswith("📄 summary: "))
        return json.loads(Path(line.removeprefix("📄 summary: ")).read_text())


def shell_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


@pytest.fixture
def fake(db_env, db_url, tmp_path) -> FakePipeline:
    # One healthy tracked symbol: an empty database would add discovery to every night. Its own
    # connection, closed at once: a backend flushes its statistics when it exits, so these rows
    # are not counted as written by the run (the drivers count from pg_stat_user_tables).
    seed = psycopg2.connect(db_url)
    with seed, seed.cursor() as cur:
        cur.execute("INSERT INTO raw_stocks (symbol, company, prices_updated_at) "
                    "VALUES ('MAIN', 'Main Street Capital', now())")
        cur.execute("INSERT INTO raw_stock_prices (symbol, date, close) VALUES ('MAIN', CURRENT_DATE, 40)")
        cur.execute("INSERT INTO raw_dividends (symbol, ex_date, amount) VALUES ('MAIN', CURRENT_DATE - 30, 0.25)")
        cur.execute("SELECT pg_stat_force_next_flush()")
    seed.close()
    return FakePipeline(db_env, tmp_path)


@pytest.fixture
def fresh(db_env, tmp_path) -> FakePipeline:
    """The fake pipeline on a database that tracks nothing yet: a first night."""
    return FakePipeline(db_env, tmp_path)
