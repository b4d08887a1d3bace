"""`python -m divpipe db migrate|status|url|psql|reset --simulate|hold`."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from psycopg2.extensions import parse_dsn

from divpipe.config import Settings, get_settings
from divpipe.db import migrate as migrations
from divpipe.db.connect import connect, database_url, existing_database_url, mask_url
from divpipe.entry import ArgumentParser, run, setup_logging, stop_when_orphaned
from divpipe.errors import ConfigError, DatabaseError

# libpq reads these from the environment: psql gets the connection this way, so a
# password never shows on its command line (ps, /proc/PID/cmdline).
_LIBPQ_ENV = {
    "host": "PGHOST", "hostaddr": "PGHOSTADDR", "port": "PGPORT", "dbname": "PGDATABASE",
    "user": "PGUSER", "password": "PGPASSWORD", "sslmode": "PGSSLMODE", "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT", "sslkey": "PGSSLKEY", "options": "PGOPTIONS",
    "connect_timeout": "PGCONNECT_TIMEOUT", "application_name": "PGAPPNAME",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
}


def _parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="python -m divpipe db", description="database commands")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply pending migrations (safe to run concurrently)")
    status = sub.add_parser("status", help="server, database and applied migrations")
    url = sub.add_parser("url", help="print the connection URL, password masked")
    url.add_argument(
        "--raw",
        action="store_true",
        help="print it unmasked (for pipes into tools; never into logs)",
    )
    psql = sub.add_parser(
        "psql",
        help="open psql on the database (the embedded server stays up until psql exits)",
    )
    psql.add_argument("-c", "--command", dest="sql", metavar="SQL", help="run this SQL, print the result and exit")
    for command in (status, url, psql):
        command.add_argument("--simulate", action="store_true",
                             help="the database of --simulate runs (DIVPIPE_DATA_DIR/simulate)")
    reset = sub.add_parser(
        "reset",
        help="empty the data tables of the --simulate database (run history kept); never the real one",
    )
    reset.add_argument("--simulate", action="store_true",
                       help="required, unless run by a --simulate driver: only a simulated database is reset")
    sub.add_parser(
        "hold",
        help="keep the embedded server up until this process is signalled or its parent dies (the drivers use it)",
    )
    return parser


def psql_binary(settings: Settings) -> str:
    """The system psql for a server of one's own; pgserver's bundled one for the embedded server."""
    system = shutil.which("psql")
    if settings.database_url and system:
        return system
    from divpipe.db.embedded import import_pgserver

    pgserver, _ = import_pgserver()
    bundled = Path(pgserver.__file__).parent / "pginstall" / "bin" / "psql"
    if bundled.exists():
        return str(bundled)
    if system:
        return system
    raise ConfigError("psql not found: install the PostgreSQL client (e.g. apt-get install postgresql-client)")


def libpq_environment(url: str) -> dict[str, str]:
    """PG* variables that make libpq connect to `url`."""
    try:
        params = parse_dsn(url)
    except Exception as err:
        raise ConfigError(f"DATABASE_URL: not a PostgreSQL connection string ({mask_url(url)})") from err
    return {_LIBPQ_ENV[key]: value for key, value in params.items() if key in _LIBPQ_ENV}


def _psql(settings: Settings, sql: str | None) -> int:
    # The embedded server lives while this process does (pgserver counts our pid),
    # so psql, our child, can use it until it exits.
    url = existing_database_url(settings)
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env.update(libpq_environment(url))
    command = [psql_binary(settings), "-X"]
    if sql is not None:
        command += ["-v", "ON_ERROR_STOP=1", "-c", sql]
    try:
        return subprocess.run(command, env=env, check=False).returncode
    except OSError as err:
        raise DatabaseError(f"cannot start psql: {err}") from err


# Run history and bookkeeping survive a reset: `runs --simulate` keeps showing past trials.
KEPT_BY_RESET = ("schema_migrations", "pipeline_runs", "task_runs")


def reset_data_tables(settings: Settings) -> list[str]:
    """TRUNCATE every data table, in one statement (one transaction)."""
    conn = connect(settings)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                        "AND NOT (tablename = ANY(%s)) ORDER BY tablename", (list(KEPT_BY_RESET),))
            tables = [name for (name,) in cur.fetchall()]
            if tables:
                cur.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in tables))
        return tables
    finally:
        conn.close()


def _main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    setup_logging()
    settings = get_settings()
    if getattr(args, "simulate", False):
        settings = settings.for_simulation()
    if args.command == "psql":
        return _psql(settings, args.sql)
    if args.command == "reset":
        # Inside a --simulate driver the settings already are the trial's (simulator URL, no DATABASE_URL).
        in_trial = bool(settings.divpipe_simulator_url) and not settings.database_url
        if not (args.simulate or in_trial):
            raise ConfigError("db reset: only the simulated database can be emptied: add --simulate")
        tables = reset_data_tables(settings)
        print(f"🧪 emptied {len(tables)} tables of the simulated database {mask_url(database_url(settings))}")
        return 0
    if args.command == "url":
        url = existing_database_url(settings)
        print(url if args.raw else mask_url(url))
        return 0
    if args.command == "migrate":
        names = migrations.migrate(database_url(settings))
        print(f"✅ applied {len(names)} migration(s)" + (f": {', '.join(names)}" if names else ""))
        return 0
    if args.command == "status":
        where = "DATABASE_URL" if settings.database_url else f"embedded ({settings.embedded_pgdata})"
        conn = connect(settings, migrate=False, create=False)
        with conn, conn.cursor() as cur:
            cur.execute("SELECT current_setting('server_version')")
            version = cur.fetchone()[0]
        conn.close()
        url = existing_database_url(settings)
        print(f"database: {mask_url(url)} [{where}], PostgreSQL {version}")
        for migration, done in migrations.status(url):
            print(f"  {'applied' if done else 'PENDING'}  {migration.name}")
        return 0
    # hold: the server stays up while this process lives (pgserver counts handles).
    url = database_url(settings)
    print(f"holding {mask_url(url)}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    stop_when_orphaned()
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    return 0


def main(argv: list[str]) -> int:
    return run(_main, argv)
