"""The README's commands run as written, from the project root.

The documented subset (docs/development.md): every line of a ```bash block
that starts with `.venv/bin/python -m divpipe` or with
`./daily_update_v3_parallel.sh --simulate`. The others reach the internet
(a real night), edit the user's .env, or are the test command itself.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TESTED_PREFIXES = (".venv/bin/python -m divpipe", "./daily_update_v3_parallel.sh --simulate")

pytestmark = pytest.mark.slow


def readme_commands(text: str) -> list[str]:
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            line = re.sub(r"\s+#\s.*$", "", line).strip()  # a trailing "  # comment"
            if line.startswith(TESTED_PREFIXES):
                commands.append(line)
    return commands


def test_the_readme_shows_the_trial_and_how_to_look_at_it():
    commands = readme_commands((ROOT / "README.md").read_text())
    assert commands[0] == "./daily_update_v3_parallel.sh --simulate"
    assert any(c.startswith(".venv/bin/python -m divpipe db psql --simulate -c") for c in commands)
    assert any(c.startswith(".venv/bin/python -m divpipe runs") for c in commands)


def test_every_tested_readme_command_runs_as_written(db_env, tmp_path, embedded_data_dir):
    env = {
        **db_env,
        # Not under pytest's basetemp: the trial's embedded server lives there.
        "DIVPIPE_DATA_DIR": str(embedded_data_dir),
        "LOG_DIR": str(tmp_path / "logs"),
        "TMPDIR": str(tmp_path),
    }
    env.pop("DIVPIPE_SIMULATOR_URL", None)
    for command in readme_commands((ROOT / "README.md").read_text()):
        done = subprocess.run(["bash", "-c", command], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        if "--simulate -c" in command:
            assert int(done.stdout.split()[2]) > 0  # the trial stored prices
