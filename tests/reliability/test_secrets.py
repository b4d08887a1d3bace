"""Secrets never reach a log, a summary, a backup manifest, a process title or a command line."""

from __future__ import annotations

import os
import stat
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psutil
import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
V3 = ROOT / "daily_update_v3_parallel.sh"
API_KEY = "sk-live-9f8e7d6c5b4a3f2e1d0c"

pytestmark = pytest.mark.slow


def _with_password(url: str) -> tuple[str, str]:
    """The URL with a password (trust-authenticated servers ignore it), and that password."""
    parts = urlsplit(url)
    if parts.password:
        return url, parts.password
    secret = "hunter2-db-Pa55word"
    user, _, host = parts.netloc.rpartition("@")
    user = user.split(":", 1)[0] or "postgres"
    return urlunsplit(parts._replace(netloc=f"{user}:{secret}@{host}")), secret


def test_a_simulated_night_leaks_no_password_and_no_api_key(make_db, tmp_path):
    url, password = _with_password(make_db())
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DIVPIPE_API_KEY": API_KEY,
        "DIVPIPE_DATA_DIR": str(tmp_path / "data"),
        "LOG_DIR": str(tmp_path / "logs"),
        "BACKUP_DIR": str(tmp_path / "backups"),
        "TMPDIR": str(tmp_path),
        **{f"{s.upper()}_RATE_LIMIT": "200" for s in ("yahoo", "nasdaq", "nasdaqtrader", "cboe", "yieldmax",
                                                       "nyse", "snowball")},
    }
    env.pop("DIVPIPE_SIMULATOR_URL", None)
    secrets = (password, API_KEY)
    seen_in_commands: list[str] = []
    driver = subprocess.Popen([str(V3), "--simulate", "--sim-symbols", "20", "--sim-seed", "3"], cwd=tmp_path,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Every process title and command line while the night runs.
    while driver.poll() is None:
        for process in psutil.process_iter(["cmdline", "name"]):
            text = " ".join(process.info["cmdline"] or []) + " " + (process.info["name"] or "")
            seen_in_commands += [text for s in secrets if s in text]
        time.sleep(0.2)
    out, err = driver.communicate(timeout=60)
    assert driver.returncode in (0, 1), out + err
    assert seen_in_commands == []
    assert "📄 summary: " in out
    written = [p for d in ("logs", "backups", "data") for p in (tmp_path / d).rglob("*")
               if p.is_file() and p.suffix in (".log", ".json", ".txt", "")]
    assert any(p.name.startswith("summary_") for p in written)
    for path in written:
        text = path.read_text(errors="replace")
        for secret in secrets:
            assert secret not in text, f"{secret[:4]}... in {path}"
    for secret in secrets:
        assert secret not in out + err


def test_embedded_database_files_are_private(tmp_path, embedded_data_dir, monkeypatch):
    from divpipe.config import reset_settings
    from divpipe.db.connect import connect

    monkeypatch.setenv("DIVPIPE_DATA_DIR", str(embedded_data_dir))
    reset_settings()
    connect().close()
    pgdata = embedded_data_dir / "pg"
    # The data directory itself is closed to others, so nothing under it can be read through it,
    # whatever a file's own mode (pgserver writes its handle list 0644).
    assert stat.S_IMODE(pgdata.stat().st_mode) & 0o077 == 0
    for path in pgdata.rglob("*"):
        if not path.is_symlink() and not path.is_socket():
            assert stat.S_IMODE(path.stat().st_mode) & 0o002 == 0, path  # and nothing is writable by others
