"""Helpers the drivers start do not outlive a driver killed with SIGKILL."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

PROJECT = Path(__file__).resolve().parent.parent


def _children_after_parent_killed(command: list[str], ready: Path, env: dict) -> psutil.Process:
    """Start `command` under a bash parent, wait until it is ready, SIGKILL the parent."""
    parent = subprocess.Popen(["bash", "-c", '"$@" & wait', "driver", *command], cwd=PROJECT, env=env)
    deadline = time.monotonic() + 60
    while not ready.exists() or not ready.read_text().strip():
        assert time.monotonic() < deadline, "helper never became ready"
        time.sleep(0.1)
    [child] = psutil.Process(parent.pid).children()
    parent.send_signal(signal.SIGKILL)
    parent.wait(timeout=10)
    return child


@pytest.mark.parametrize("what", ["sim", "db hold"])
def test_helper_stops_when_its_driver_is_killed(what, tmp_path, embedded_data_dir):
    env = {**os.environ, "DIVPIPE_DATA_DIR": str(embedded_data_dir)}
    env.pop("DATABASE_URL", None)
    ready = tmp_path / "ready"
    if what == "sim":
        command = [sys.executable, "-m", "divpipe", "sim", "--port", "0", "--port-file", str(ready),
                   "--symbols", "20", "--seed", "1"]
    else:
        command = ["bash", "-c", f'exec "$0" -m divpipe db hold > "{ready}"', sys.executable]
    child = _children_after_parent_killed(command, ready, env)
    try:
        child.wait(timeout=15)  # raises TimeoutExpired if the orphan lingers
    finally:
        if child.is_running():
            child.kill()
    if what == "db hold":  # the holder was the server's last user: the server stopped too
        assert not (embedded_data_dir / "pg" / "postmaster.pid").exists()
