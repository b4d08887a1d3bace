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
