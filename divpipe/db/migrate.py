"""Numbered SQL migrations, applied once, safely when many processes start together."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg2

from divpipe.db.failures import first_line
from divpipe.errors import DatabaseError

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")
# Any constant works; it only has to be the same in every process.
_ADVISORY_KEY = 0x64697670  # "divp"


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path


def available() -> list[Migration]:
    found = []
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise DatabaseError(f"migration file name not of the form NNN_name.sql: {path.name}")
        found.append(Migration(int(match.group(1)), path.name, path))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise DatabaseError("two migration files share a number")
    return found


def applied(cur) -> set[int]:
    cur.execute("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not cur.fetchone()[0]:
        return set()
    cur.execute("SELECT version FROM schema_migrations")
    return {row[0] for row in cur.fetchall()}


def migrate(url: str, *, up_to: int | None = None) -> list[str]:
    """Apply pending migrations in one transaction under an advisory lock; returns their names.

    `up_to`: stop after that version (tests and benchmarks of a later migration build the schema before it).
    """
    try:
        conn = psycopg2.connect(url, connect_timeout=10)
    except psycopg2.Error as err:
        from divpipe.db.connect import mask_url

        raise DatabaseError(f"cannot connect to {mask_url(url)}: {first_line(err)}") from err
    try:
        with conn, conn.cursor() as cur:
            wanted = [m for m in available() if up_to is None or m.version <= up_to]
            pending = [m for m in wanted if m.version not in applied(cur)]
            if not pending:
                return []
            # The lock is released at commit; a process that waited re-reads what is applied.
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_ADVISORY_KEY,))
            cur.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            done = applied(cur)
            names = []
            for migration in wanted:
                if migration.version in done:
                    continue
                cur.execute(migration.path.read_text())
                cur.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                    (migration.version, migration.name),
                )
                names.append(migration.name)
                log.info("applied migration %s", migration.name)
            return names
    except psycopg2.Error as err:
        raise DatabaseError(f"migration failed: {first_line(err)}") from err
    finally:
        conn.close()


def status(url: str) -> list[tuple[Migration, bool]]:
    try:
        conn = psycopg2.connect(url, connect_timeout=10)
    except psycopg2.Error as err:
        from divpipe.db.connect import mask_url

        raise DatabaseError(f"cannot connect to {mask_url(url)}: {first_line(err)}") from err
    try:
        with conn.cursor() as cur:
            done = applied(cur)
        return [(m, m.version in done) for m in available()]
    except psycopg2.Error as err:
        raise DatabaseError(f"reading migrations: {first_line(err)}") from err
    finally:
        conn.close()
