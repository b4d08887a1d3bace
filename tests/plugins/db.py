"""Database fixtures: every test gets a fresh, migrated PostgreSQL database.

The server is the one in DATABASE_URL when the suite starts with it set (CI
runs the suite once that way), otherwise an embedded server in a temporary
directory. Each test database is cloned from a migrated template, which
costs a few tens of milliseconds.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path

import psycopg2
import pytest

from divpipe.config import reset_settings
from divpipe.db import connect as connect_module
from divpipe.db import embedded
from divpipe.db.migrate import migrate

EXTERNAL_URL = os.environ.get("DATABASE_URL")


def _admin(url: str):
    conn = psycopg2.connect(url)
    conn.autocommit = True
    return conn


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch, tmp_path):
    """No test reads the developer's .env, data, logs or backups, or a leftover simulator URL."""
    monkeypatch.setenv("DIVPIPE_ENV_FILE", os.devnull)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("DIVPIPE_SIMULATOR_URL", raising=False)
    monkeypatch.setenv("DIVPIPE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.setenv("BACKUP_DIR", str(tmp_path / "backups"))
    # The database an earlier test connected to is gone: the HTTP layer must
    # not keep its rate-limit state there.
    monkeypatch.setattr(connect_module, "_last_migrated", None)
    reset_settings()
    yield
    reset_settings()


@pytest.fixture
def embedded_data_dir():
    """A DIVPIPE_DATA_DIR for tests that start the embedded server themselves.

    It is outside pytest's basetemp on purpose: a pytest session starting on the
    same machine resets /tmp/pytest-of-<user> to mode 0700, which locks the
    server's own user (pgserver, when we are root) out of its data directory.
    """
    path = Path(tempfile.mkdtemp(prefix="divpipe-test-data-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_admin_url():
    """URL of a database on the test server from which databases can be created."""
    if EXTERNAL_URL:
        yield EXTERNAL_URL
        return
    # Not under pytest's basetemp: pytest prunes old numbered directories, and a
    # concurrent pytest session would prune the data directory of a live server.
    pgserver, _ = embedded.import_pgserver()
    server = pgserver.get_server(Path(tempfile.mkdtemp(prefix="divpipe-test-pg-")), cleanup_mode="delete")
    yield server.get_uri()


@pytest.fixture(scope="session")
def template_db(pg_admin_url):
    name = f"divpipe_tpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    conn = _admin(pg_admin_url)
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    migrate(embedded.with_database(pg_admin_url, name))
    yield name
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


def _new_database(pg_admin_url: str, template: str) -> str:
    name = f"divpipe_t_{uuid.uuid4().hex[:12]}"
    conn = _admin(pg_admin_url)
    try:
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    finally:
        conn.close()
    return name


def _drop_database(pg_admin_url: str, name: str) -> None:
    conn = _admin(pg_admin_url)
    try:
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        conn.close()


@pytest.fixture
def make_db(pg_admin_url, template_db):
    """Factory: a new migrated database URL per call, dropped after the test."""
    created: list[str] = []

    def make() -> str:
        name = _new_database(pg_admin_url, template_db)
        created.append(name)
        return embedded.with_database(pg_admin_url, name)

    yield make
    for name in created:
        _drop_database(pg_admin_url, name)


@pytest.fixture
def db_url(make_db, monkeypatch):
    """A fresh database; in-process code (get_settings, connect) uses it too."""
    url = make_db()
    monkeypatch.setenv("DATABASE_URL", url)
    reset_settings()
    return url


@pytest.fixture
def db_env(db_url):
    """Environment for subprocesses: this test's database, data, logs and backups."""
    return dict(os.environ)


@pytest.fixture
def conn(db_url):
    connection = psycopg2.connect(db_url)
    yield connection
    connection.close()


def wait_until_blocked(url: str, backend_pid: int, timeout: float = 30.0) -> None:
    """Return once the backend `backend_pid` waits for a lock that another holds.

    Tests of lock waits use this instead of sleeping and hoping the waiter got
    there: pg_locks shows the ungranted request itself.
    """
    import time

    probe = psycopg2.connect(url)
    probe.autocommit = True
    try:
        deadline = time.monotonic() + timeout
        with probe.cursor() as cur:
            while True:
                cur.execute("SELECT EXISTS (SELECT 1 FROM pg_locks WHERE pid = %s AND NOT granted)", (backend_pid,))
                if cur.fetchone()[0]:
                    return
                if time.monotonic() > deadline:
                    raise AssertionError(f"backend {backend_pid} never waited for a lock")
                time.sleep(0.01)
    finally:
        probe.close()
