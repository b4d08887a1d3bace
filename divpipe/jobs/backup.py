"""The database backup behind `scripts/backup_database.sh [--keep-days N] [--restore-test]`.

    python -m divpipe.jobs.backup [--keep-days N] [--restore-test]

One run:
1. opens a REPEATABLE READ transaction, exports its snapshot and counts
   every table's rows in it, then runs `pg_dump -Fc --snapshot=...`: the
   counts in the manifest are exactly what the dump holds, even while
   phase 2's jobs write;
2. writes to `<name>.dump.partial` and renames only after `pg_restore --list`
   has read the archive and found every table's data in it;
3. compares the guarded tables with the previous good backup's manifest;
4. with --restore-test, restores into a scratch database, compares every
   table's row count with the snapshot's, and drops the scratch database;
5. writes the manifest ("good" or "failed" with the reasons), then deletes
   backups older than --keep-days, never the newest good one.

The process stays connected from start to end, which also keeps the embedded
server up while pg_dump and pg_restore use it. Exit 0 ok, 1 failed, 2 bad usage.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

import psycopg2
from psycopg2 import sql

from divpipe.config import get_settings
from divpipe.db.connect import connect, database_url, mask_url
from divpipe.entry import ArgumentParser, setup_logging
from divpipe.entry import run as run_entry
from divpipe.errors import DatabaseError, DivpipeError
from divpipe.jobs import backup_catalog as catalog
from divpipe.jobs import pgtools

log = logging.getLogger("divpipe.jobs.backup")  # also when run as __main__

STALE_PARTIAL_AGE = dt.timedelta(days=1)

_TABLES_SQL = """
SELECT n.nspname, c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND c.relpersistence <> 't'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'
ORDER BY 1, 2
"""


class BackupFailed(DivpipeError):
    """A step of the backup failed; the message says which and why."""


def table_label(schema: str, name: str) -> str:
    return name if schema == "public" else f"{schema}.{name}"


def count_rows(cur) -> dict[str, int]:
    """Row count of every user table, as seen by the cursor's transaction."""
    cur.execute(_TABLES_SQL)
    counts = {}
    for schema, name in cur.fetchall():
        table = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(name))
        cur.execute(sql.SQL("SELECT count(*) FROM {}").format(table))
        counts[table_label(schema, name)] = cur.fetchone()[0]
    return counts


def _first_lines(text: str, limit: int = 3) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines[:limit]) or "no message"


def _run_tool(argv: list[str], env: Mapping[str, str], what: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv, env=dict(env), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        # libpq and pg_dump never print the password; their first lines say what went wrong.
        raise BackupFailed(f"{what} exited {proc.returncode}: {_first_lines(proc.stderr)}")
    return proc


def archive_tables(listing: str) -> set[str]:
    """Tables whose data an archive holds, from `pg_restore --list` output."""
    tables = set()
    for line in listing.splitlines():
        if line.startswith(";") or " TABLE DATA " not in line:
            continue
        fields = line.split(" TABLE DATA ", 1)[1].split()
        if len(fields) >= 2:
            tables.add(table_label(fields[0], fields[1]))
    return tables


def dump_snapshot(conn, tools: pgtools.PgTools, env: Mapping[str, str], target: Path) -> dict[str, int]:
    """Dump the database to `target` from one snapshot; returns that snapshot's row counts."""
    conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
    try:
        with conn.cursor() as cur:
            # A long dump keeps this transaction idle, and counting a big table takes a
            # while: server-side timeouts must not end either.
            cur.execute("SET LOCAL idle_in_transaction_session_timeout = 0")
            cur.execute("SET LOCAL statement_timeout = 0")
            cur.execute("SELECT pg_export_snapshot()")
            snapshot = cur.fetchone()[0]
            counts = count_rows(cur)
            _run_tool(
                [str(tools.pg_dump), "--format=custom", "--no-password",
                 f"--snapshot={snapshot}", f"--file={target}"],
                env, "pg_dump",
            )
    finally:
        conn.rollback()
        conn.set_session(isolation_level="DEFAULT", readonly=False)
    return counts


def verify_archive(tools: pgtools.PgTools, env: Mapping[str, str], dump: Path, tables: set[str]) -> None:
    listing = _run_tool([str(tools.pg_restore), "--list", str(dump)], env, "pg_restore --list").stdout
    missing = sorted(tables - archive_tables(listing))
    if missing:
        raise BackupFailed(f"pg_restore --list: no data for table(s) {', '.join(missing)} in {dump}")


def restore_test(url: str, tools: pgtools.PgTools, env: Mapping[str, str], dump: Path,
                 expected: dict[str, int]) -> list[str]:
    """Restore into a scratch database and compare every table's rows; returns the mismatches."""
    scratch = f"divpipe_restore_test_{os.getpid()}_{dt.datetime.now(dt.UTC):%H%M%S}"
    log.info("restore test: restoring %s into scratch database %s", dump.name, scratch)
    admin = psycopg2.connect(url)
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            try:
                cur.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(scratch)))
            except psycopg2.Error as err:
                reason = _first_lines(str(err), 1)
                raise BackupFailed(f"restore test: cannot create a scratch database: {reason}") from err
        try:
            _run_tool(
                [str(tools.pg_restore), "--no-password", "--no-owner", "--no-privileges",
                 "--exit-on-error", f"--dbname={scratch}", str(dump)],
                env, "restore test: pg_restore",
            )
            try:
                restored_conn = psycopg2.connect(url, dbname=scratch)
                try:
                    with restored_conn, restored_conn.cursor() as cur:
                        restored = count_rows(cur)
                finally:
                    restored_conn.close()
            except psycopg2.Error as err:
                raise BackupFailed(f"restore test: counting restored rows: {_first_lines(str(err), 1)}"
                                   ) from err
        finally:
            with admin.cursor() as cur:
                cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(scratch)))
    finally:
        admin.close()
    return compare_restored(expected, restored)


def compare_restored(expected: dict[str, int], restored: dict[str, int]) -> list[str]:
    problems = []
    for table in sorted(set(expected) | set(restored)):
        want, got = expected.get(table), restored.get(table)
        if want != got:
            problems.append(
                f"restore test: {table} has {'no table' if got is None else got} rows restored,"
                f" {'no table' if want is None else want} in the database"
            )
    return problems


def apply_retention(backup_dir: Path, now: dt.datetime, keep_days: int) -> int:
    backups = catalog.list_backups(backup_dir)
    old = catalog.expired(backups, now, keep_days)
    for backup in old:
        catalog.delete(backup)
    for partial in catalog.stale_partials(backup_dir, now, STALE_PARTIAL_AGE):
        partial.unlink(missing_ok=True)
    keep = catalog.newest_good(backups)
    if old:
        log.info("retention: deleted %d backup(s) older than %d days; newest good backup: %s",
                 len(old), keep_days, keep.dump.name if keep else "none")
    return len(old)


def run_backup(keep_days: int, with_restore_test: bool) -> int:
    """One backup (see the module docstring); files are private to the user whatever the caller's umask."""
    previous_umask = os.umask(0o077)
    try:
        return _backup(keep_days, with_restore_test)
    except OSError as err:
        # A full disk or an unwritable BACKUP_DIR: one line, not a traceback.
        where = f"{err.filename}: " if err.filename else ""
        raise BackupFailed(f"backup failed: {where}{err.strerror or err}") from err
    finally:
        os.umask(previous_umask)


def _backup(keep_days: int, with_restore_test: bool) -> int:
    settings = get_settings()
    backup_dir: Path = settings.backup_dir
    url = database_url(settings)
    conn = connect(settings, migrate=False)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT current_setting('server_version_num')::int,"
                        " current_setting('server_version')")
            version_num, server_version = cur.fetchone()
        conn.rollback()
        tools = pgtools.find_tools(version_num // 10000)
        log.info("backing up %s (PostgreSQL %s) with %s", mask_url(url), server_version, tools.describe())

        now, dump = _free_dump_path(backup_dir)
        dump.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        partial = dump.with_name(f"{dump.name}.{os.getpid()}{catalog.PARTIAL_SUFFIX}")
        with pgtools.libpq_environment(url) as env:
            try:
                counts = dump_snapshot(conn, tools, env, partial)
                verify_archive(tools, env, partial, set(counts))
                os.chmod(partial, 0o600)
                try:
                    os.link(partial, dump)  # unlike rename, never replaces a backup of the same second
                except FileExistsError:
                    raise BackupFailed(f"{dump} already exists: another backup ran in the same second"
                                       ) from None
            finally:
                partial.unlink(missing_ok=True)
            problems = _check(backup_dir, dump, counts)
            restore = "not run"
            if with_restore_test:
                try:
                    mismatches = restore_test(url, tools, env, dump, counts)
                except BackupFailed as err:
                    mismatches = [str(err)]
                problems += mismatches
                restore = "failed" if mismatches else "exact"
    except psycopg2.Error as err:
        raise DatabaseError(f"backup: {_first_lines(str(err), 1)}") from err
    finally:
        conn.close()

    size = dump.stat().st_size
    try:
        _write_manifest(dump, now, size, url, server_version, tools, problems, restore, counts)
    except BaseException:
        # A dump without its manifest can never be trusted as a baseline: do not leave it to look like one.
        dump.unlink(missing_ok=True)
        raise
    apply_retention(backup_dir, now, keep_days)
    if problems:
        for problem in problems:
            log.error("❌ %s", problem)
        log.error("❌ backup %s failed its checks: kept, but not marked good", dump)
        return 1
    restore_note = "; restore test exact" if restore == "exact" else ""
    log.info("✅ backup %s: %.1f MB, %d tables, %d rows, pg_dump %s%s", dump, size / 1e6, len(counts),
             sum(counts.values()), tools.version, restore_note)
    return 0


def _write_manifest(dump: Path, now: dt.datetime, size: int, url: str, server_version: str,
                    tools: pgtools.PgTools, problems: list[str], restore: str, counts: dict[str, int]) -> None:
    catalog.write_manifest(catalog.manifest_path(dump), {
        "status": "failed" if problems else "good",
        "problems": problems,
        "dump": dump.name,
        "taken_at": now.isoformat(),
        "size_bytes": size,
        "database": mask_url(url),
        "server_version": server_version,
        "pg_dump": {"path": str(tools.pg_dump), "version": tools.version},
        "restore_test": restore,
        "tables": counts,
    })


def _free_dump_path(backup_dir: Path) -> tuple[dt.datetime, Path]:
    """This second's dump name, or the next second's when a backup already took it."""
    now = dt.datetime.now(dt.UTC)
    dump = catalog.dump_path(backup_dir, now)
    if dump.exists():
        time.sleep(1 - now.microsecond / 1e6)
        now = dt.datetime.now(dt.UTC)
        dump = catalog.dump_path(backup_dir, now)
    return now, dump


def _check(backup_dir: Path, dump: Path, counts: dict[str, int]) -> list[str]:
    baseline = catalog.newest_good(catalog.list_backups(backup_dir), exclude=dump)
    if baseline is None:
        log.info("no previous good backup: row counts not compared")
        return []
    drops = catalog.find_drops(baseline.manifest.get("tables", {}), counts)
    return [drop.message(baseline.dump.name) for drop in drops]


def _keep_days(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of days, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--keep-days", type=_keep_days, default=None,
                        help="delete backups older than this many days, never the newest good one"
                             " (default BACKUP_KEEP_DAYS, 14)")
    parser.add_argument("--restore-test", action="store_true",
                        help="restore into a scratch database and compare every table's row count")


def _main(argv: list[str]) -> int:
    parser = ArgumentParser(
        prog="backup_database.sh",
        description="pg_dump -Fc of the pipeline's database into $BACKUP_DIR/YYYYMMDD/, checked",
    )
    add_arguments(parser)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    keep_days = args.keep_days or get_settings().backup_keep_days
    return run_backup(keep_days, args.restore_test)


def main(argv: list[str] | None = None) -> int:
    return run_entry(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
