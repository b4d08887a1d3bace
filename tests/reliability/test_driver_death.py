"""A killed driver: its tasks stop promptly, its state goes, and the lock message tells the truth."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from tests.plugins.fake_pipeline import DEFAULT_TASKS, V3, FakePipeline
from tests.test_drivers import alive, wait_for

pytestmark = pytest.mark.slow

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
