"""One way to reach the database: DATABASE_URL if set, the embedded server otherwise."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import psycopg2.errors

from divpipe.config import Settings, get_settings
from divpipe.db import embedded
from divpipe.errors import DatabaseError

log = logging.getLogger(__name__)

_migrated: set[str] = set()


def mask_url(url: str) -> str:
    """The URL with any password replaced by ***, safe for logs and terminals."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def database_url(settings: Settings | None = None) -> str:
    """The libpq URL of the pipeline's database, starting the embedded server if needed."""
    settings = settings or get_settings()
    if settings.database_url:
        return settings.database_url
    admin = embedded.start_or_join(settings.embedded_pgdata)
    _ensure_database(admin, embedded.DATABASE)
    return embedded.with_database(admin, embedded.DATABASE)


def _ensure_database(admin_url: str, name: str) -> None:
    conn = _connect_raw(admin_url)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone():
                return
            try:
                cur.execute(f'CREATE DATABASE "{name}"')
            except (psycopg2.errors.DuplicateDatabase, psycopg2.errors.UniqueViolation):
                pass  # another process created it between our check and our CREATE
    finally:
        conn.close()


def _connect_raw(url: str):
    try:
        return psycopg2.connect(url, connect_timeout=10)
    except psycopg2.Error as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DatabaseError(f"cannot connect to {mask_url(url)}: {reason}") from err


def connect(settings: Settings | None = None, *, migrate: bool = True):
    """A psycopg2 connection to the pipeline's database, migrations applied."""
    url = database_url(settings)
    if migrate and url not in _migrated:
        from divpipe.db.migrate import migrate as apply_migrations

        apply_migrations(url)
        _migrated.add(url)
    return _connect_raw(url)


@contextmanager
def transaction(settings: Settings | None = None):
    """A connection whose work is committed on success and rolled back on any error."""
    conn = connect(settings)
    try:
        yield conn
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    finally:
        conn.close()
