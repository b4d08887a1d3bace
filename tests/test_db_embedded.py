"""The embedded server as the pipeline uses it: many processes, some of them killed."""

import contextlib
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import psutil
import psycopg2
import pytest

from divpipe.db import embedded
from divpipe.db.connect import mask_url
from divpipe.db.migrate import available

PROJECT = Path(__file__).resolve().parent.parent


def _env(data_dir: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["DIVPIPE_DATA_DIR"] = str(data_dir)
    return env


def _divpipe(*args, env):
    return subprocess.run([sys.executable, "-m", "divpipe", *args], env=env, cwd=PROJECT,
                          capture_output=True, text=True, timeout=120)


def _start_holder(env):
    """A process that joins the embedded server and keeps it until killed."""
    return subprocess.Popen(
        [sys.executable, "-c",
         "import time; from divpipe.db.connect import connect; connect().close();"
         "print('ready', flush=True); time.sleep(120)"],
        env=env, cwd=PROJECT, stdout=subprocess.PIPE, text=True)


def _server_pid(pgdata: Path):
    pidfile = pgdata / "postmaster.pid"
    if not pidfile.exists():
        return None
    pid = int(pidfile.read_text().splitlines()[0])
    return pid if psutil.pid_exists(pid) else None


def test_server_survives_a_killed_client_and_stops_after_the_next_run(embedded_data_dir):
    env = _env(embedded_data_dir)
    holder = _start_holder(env)
    try:
        assert holder.stdout.readline().strip() == "ready"
        pgdata = embedded_data_dir / "pg"
        server = _server_pid(pgdata)
        assert server is not None
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
    finally:
        holder.kill()
    # The dead client never said goodbye: the server is still up, with its PID on the handle list.
    assert _server_pid(pgdata) == server

    status = _divpipe("db", "status", env=env)
    assert status.returncode == 0, status.stderr
    assert "001_schema.sql" in status.stdout
    # The next run was the last live user: it stopped the server instead of orphaning it.
    assert _server_pid(pgdata) is None


def test_next_run_starts_after_the_server_itself_was_killed(embedded_data_dir):
    env = _env(embedded_data_dir)
    holder = _start_holder(env)
    try:
        assert holder.stdout.readline().strip() == "ready"
        pgdata = embedded_data_dir / "pg"
        server = psutil.Process(_server_pid(pgdata))
        holder.send_signal(signal.SIGKILL)
        children = server.children(recursive=True)
        server.kill()
        for child in children:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()
        server.wait(timeout=10)
        holder.wait(timeout=10)
    finally:
        holder.kill()
    assert (pgdata / "postmaster.pid").exists()  # stale, as after a crash
    migrate = _divpipe("db", "migrate", env=env)
    assert migrate.returncode == 0, migrate.stderr
    assert "applied 0 migration(s)" in migrate.stdout


def test_five_processes_start_and_migrate_at_once(embedded_data_dir):
    env = _env(embedded_data_dir)
    procs = [subprocess.Popen([sys.executable, "-m", "divpipe", "db", "migrate"], env=env, cwd=PROJECT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(5)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 5, outputs
    applied = sum(int(out.split("applied ")[1].split(" ")[0]) for out, _ in outputs)
    assert applied == len(available())  # each migration applied by exactly one process
    assert _server_pid(embedded_data_dir / "pg") is None


def test_concurrent_migrations_on_a_server_database(pg_admin_url):
    name = f"divpipe_m_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(pg_admin_url)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        env = dict(os.environ, DATABASE_URL=embedded.with_database(pg_admin_url, name))
        procs = [subprocess.Popen([sys.executable, "-m", "divpipe", "db", "migrate"], env=env, cwd=PROJECT,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(5)]
        outputs = [p.communicate(timeout=120) for p in procs]
        assert [p.returncode for p in procs] == [0] * 5, outputs
        again = _divpipe("db", "migrate", env=env)
        assert "applied 0 migration(s)" in again.stdout
        conn = psycopg2.connect(env["DATABASE_URL"])
        with conn.cursor() as cur:
            cur.execute("SELECT version, count(*) FROM schema_migrations GROUP BY version")
            assert all(n == 1 for _, n in cur.fetchall())
        conn.close()
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def test_database_down_is_one_clear_line_and_exit_1(tmp_path):
    env = _env(tmp_path / "data")
    env["DATABASE_URL"] = "postgresql://divpipe:s3cret@127.0.0.1:1/nowhere"
    result = _divpipe("db", "status", env=env)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("❌ cannot connect to")
    assert "s3cret" not in result.stderr and "***" in result.stderr


def test_url_masks_the_password(tmp_path):
    env = _env(tmp_path / "data")
    env["DATABASE_URL"] = "postgresql://divpipe:s3cret@db.example:5433/prod"
    result = _divpipe("db", "url", env=env)
    assert result.stdout.strip() == "postgresql://divpipe:***@db.example:5433/prod"


@pytest.mark.parametrize(("url", "masked"), [
    ("postgresql://u:pw@h:5432/db", "postgresql://u:***@h:5432/db"),
    ("postgresql://u@h/db?password=secret&sslmode=require", "postgresql://u@h/db?password=***&sslmode=require"),
    ("postgresql://u:pw@[::1]:5432/db", "postgresql://u:***@[::1]:5432/db"),
    ("postgresql://postgres:@/divpipe?host=/tmp/pg", "postgresql://postgres:@/divpipe?host=/tmp/pg"),
    ("host=db user=u password=secret dbname=x", "host=db user=u password=*** dbname=x"),
    ("host=db password='se cret' dbname=x", "host=db password=*** dbname=x"),
])
def test_mask_url_hides_every_form_of_password(url, masked):
    assert mask_url(url) == masked
