import re
import subprocess
import sys
from pathlib import Path

import pytest

from divpipe.config import FIELDS, PROJECT_ROOT, load_settings
from divpipe.errors import ConfigError


def test_defaults_resolve_paths_under_the_project():
    settings = load_settings({})
    assert settings.divpipe_data_dir == PROJECT_ROOT / "data"
    assert settings.embedded_pgdata == PROJECT_ROOT / "data" / "pg"
    assert settings.database_url is None
    assert settings.rate_limit("yahoo") == 4.0 and settings.workers("yahoo") == 8


def test_values_are_typed():
    settings = load_settings({"YAHOO_RATE_LIMIT": "2.5", "NASDAQ_WORKERS": "3", "FORCE_RUN": "yes",
                              "LOG_DIR": "/var/log/divpipe"})
    assert settings.rate_limit("yahoo") == 2.5
    assert settings.workers("nasdaq") == 3
    assert settings.force_run is True
    assert settings.log_dir == Path("/var/log/divpipe")


def test_a_simulate_trial_raises_every_rate_limit_but_never_lowers_one():
    trial = load_settings({"DIVPIPE_SIM_TRIAL": "true", "SIM_TRIAL_RATE_LIMIT": "50", "NYSE_RATE_LIMIT": "80"})
    assert trial.rate_limit("yahoo") == 50 and trial.rate_limit("nyse") == 80
    assert load_settings({"SIM_TRIAL_RATE_LIMIT": "50"}).rate_limit("yahoo") == 4.0


def test_simulation_settings_keep_to_their_own_folders_and_ignore_database_url():
    real = load_settings({"DATABASE_URL": "postgresql://u:p@db/x", "DIVPIPE_DATA_DIR": "/srv/d",
                          "LOG_DIR": "/srv/logs"})
    sim = real.for_simulation()
    assert sim.database_url is None
    assert sim.embedded_pgdata == Path("/srv/d/simulate/pg")
    assert sim.log_dir == Path("/srv/logs/simulate") and sim.backup_dir == Path("/srv/d/simulate/backups")
    assert real.database_url == "postgresql://u:p@db/x"


def test_an_unset_path_setting_is_none():
    assert load_settings({}).symbols_file is None
    assert load_settings({"SYMBOLS_FILE": "watch.txt"}).symbols_file == PROJECT_ROOT / "watch.txt"


@pytest.mark.parametrize(("env", "message"), [
    ({"YAHOO_WORKERS": "many"}, "YAHOO_WORKERS: expected a number"),
    ({"YAHOO_WORKERS": "0"}, "YAHOO_WORKERS: 0 is below the minimum"),
    ({"MAX_FAILURE_RATIO": "1.5"}, "MAX_FAILURE_RATIO: 1.5 is above the maximum"),
    ({"FORCE_RUN": "maybe"}, "FORCE_RUN: expected true or false"),
    ({"DIVPIPE_SIMULATOR_URL": "localhost"}, "DIVPIPE_SIMULATOR_URL: not a URL"),
    ({"PRICE_COVERAGE_CRIT": "0.9"}, "PRICE_COVERAGE_CRIT"),
    ({"POLYGON_ENDPOINT": "v2"}, "POLYGON_ENDPOINT: expected stocks or legacy, got 'v2'"),
])
def test_invalid_values_name_the_setting(env, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(env)


def test_invalid_setting_exits_2_with_one_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "divpipe", "db", "url"], cwd=PROJECT_ROOT,
                            env={"PATH": "/usr/bin:/bin", "YAHOO_RATE_LIMIT": "fast",
                                 "DIVPIPE_ENV_FILE": "/dev/null", "DIVPIPE_DATA_DIR": str(tmp_path)},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip() == "❌ YAHOO_RATE_LIMIT: expected a number, got 'fast'"


def test_dotenv_is_read_but_the_environment_wins(tmp_path, monkeypatch):
    envfile = tmp_path / "custom.env"
    envfile.write_text("YAHOO_WORKERS=3\nNASDAQ_WORKERS=5\n")
    monkeypatch.setenv("DIVPIPE_ENV_FILE", str(envfile))
    monkeypatch.setenv("NASDAQ_WORKERS", "7")
    monkeypatch.delenv("YAHOO_WORKERS", raising=False)
    settings = load_settings()
    assert settings.workers("yahoo") == 3 and settings.workers("nasdaq") == 7


def test_every_setting_is_documented():
    readme = (PROJECT_ROOT / "docs" / "configuration.md").read_text()
    example = (PROJECT_ROOT / ".env.example").read_text()
    for field in FIELDS:
        assert f"`{field.env}`" in readme, f"{field.env} missing from docs/configuration.md"
        assert f"{field.env}=" in example, f"{field.env} missing from .env.example"


# --- python -m divpipe config --shell: what the bash drivers eval ------------------------------

def config_shell(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "divpipe", "config", "--shell", *args], cwd=PROJECT_ROOT,
                          env={"PATH": "/usr/bin:/bin", "DIVPIPE_ENV_FILE": "/dev/null", **env},
                          capture_output=True, text=True, timeout=60)


def evaluated(output: str, *names: str) -> list[str]:
    """The values bash sees after `eval` of the output."""
    script = 'eval "$1"; shift; for name; do printf "%s\\0" "${!name}"; done'
    result = subprocess.run(["bash", "-c", script, "bash", output, *names],
                            capture_output=True, text=True, check=True)
    return result.stdout.split("\0")[:-1]


def test_config_shell_round_trips_tricky_values_through_bash_eval(tmp_path):
    command = "notify --to 'ops team' \"$HOME\" `id` $(whoami); echo a\\b\nsecond line # not a comment"
    log_dir = tmp_path / "logs with 'quotes' and $dollars"
    result = config_shell(ALERT_COMMAND=command, LOG_DIR=str(log_dir), DIVPIPE_PROGRESS_SECONDS="0.25",
                          FORCE_RUN="yes", SYMBOLS_FILE="watch list.txt")
    assert result.returncode == 0, result.stderr
    assert evaluated(result.stdout, "ALERT_COMMAND", "LOG_DIR", "DIVPIPE_PROGRESS_SECONDS", "FORCE_RUN",
                     "SYMBOLS_FILE", "LOG_RETENTION_DAYS", "DIVPIPE_STOP_GRACE_SECONDS") == [
        command, str(log_dir), "0.25", "true", str(PROJECT_ROOT / "watch list.txt"), "30", "10"]


def test_config_shell_resolves_env_files_like_every_command(tmp_path):
    env_file = tmp_path / "x.env"
    env_file.write_text('LOG_DIR=${HOME}/x\nALERT_COMMAND="a#b" # c\nDIVPIPE_DATA_DIR=~/d\n')
    result = config_shell(DIVPIPE_ENV_FILE=str(env_file), HOME=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert evaluated(result.stdout, "LOG_DIR", "ALERT_COMMAND", "DIVPIPE_DATA_DIR", "DIVPIPE_EXIT_USAGE",
                     "DIVPIPE_EXIT_FAILURE", "DIVPIPE_EXIT_LOCKED") == [
        f"{tmp_path}/x", "a#b", f"{tmp_path}/d", "2", "1", "75"]


def test_config_shell_prints_no_secret_and_only_declared_settings():
    from divpipe.config_cli import DRIVER_SETTINGS

    assert set(DRIVER_SETTINGS) <= {f.env for f in FIELDS}
    result = config_shell(DATABASE_URL="postgresql://u:hunter2@db.example/x", MASSIVE_API_KEY="sk-massive",
                          POLYGON_API_KEY="sk-polygon")
    assert result.returncode == 0, result.stderr
    for secret in ("hunter2", "db.example", "sk-massive", "sk-polygon", "export DATABASE_URL", "API_KEY"):
        assert secret not in result.stdout
    assert evaluated(result.stdout, "DIVPIPE_EMBEDDED_DATABASE") == ["false"]
    assert evaluated(config_shell().stdout, "DIVPIPE_EMBEDDED_DATABASE") == ["true"]


def test_config_shell_simulate_uses_the_trials_folders_and_blanks_database_url(tmp_path):
    result = config_shell("--simulate", DATABASE_URL="postgresql://u:hunter2@db/x",
                          DIVPIPE_DATA_DIR=str(tmp_path / "d"), LOG_DIR=str(tmp_path / "l"))
    assert result.returncode == 0, result.stderr
    assert "hunter2" not in result.stdout
    # Exported empty: a task's python-dotenv must not take DATABASE_URL from .env (it never overrides).
    assert "export DATABASE_URL=''" in result.stdout.splitlines()
    assert evaluated(result.stdout, "DIVPIPE_DATA_DIR", "LOG_DIR", "BACKUP_DIR", "DIVPIPE_EMBEDDED_DATABASE",
                     "DIVPIPE_IGNORED_DATABASE_URL") == [
        str(tmp_path / "d" / "simulate"), str(tmp_path / "l" / "simulate"),
        str(tmp_path / "d" / "simulate" / "backups"), "true", "true"]


def test_config_shell_with_an_invalid_setting_is_one_line_and_exit_2():
    result = config_shell(DIVPIPE_STOP_GRACE_SECONDS="soon")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == "❌ DIVPIPE_STOP_GRACE_SECONDS: expected a number, got 'soon'\n"


def test_the_driver_keeps_no_default_of_a_setting():
    # Defaults live in FIELDS; `${NAME:-default}` in the driver would be a second copy.
    driver = (PROJECT_ROOT / "scripts" / "driver_lib.sh").read_text()
    for f in FIELDS:
        assert not re.search(r"\$\{" + f.env + r":-[^}]", driver), f"{f.env} has a default in driver_lib.sh"
