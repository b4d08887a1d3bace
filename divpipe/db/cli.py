"""`python -m divpipe db migrate|status|url|hold`."""

from __future__ import annotations

import argparse
import signal
import sys

from divpipe.config import get_settings
from divpipe.db import migrate as migrations
from divpipe.db.connect import connect, database_url, mask_url
from divpipe.entry import ArgumentParser, run, setup_logging, stop_when_orphaned


def _parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="python -m divpipe db", description="database commands")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply pending migrations (safe to run concurrently)")
    sub.add_parser("status", help="server, database and applied migrations")
    url = sub.add_parser("url", help="print the connection URL, password masked")
    url.add_argument(
        "--raw",
        action="store_true",
        help="print it unmasked (for pipes into tools; never into logs)",
    )
    sub.add_parser(
        "hold",
        help="keep the embedded server up until this process is signalled or its parent dies (used by the drivers)",
    )
    return parser


def _main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    setup_logging()
    settings = get_settings()
    url = database_url(settings)
    if args.command == "url":
        print(url if args.raw else mask_url(url))
        return 0
    if args.command == "migrate":
        names = migrations.migrate(url)
        print(f"✅ applied {len(names)} migration(s)" + (f": {', '.join(names)}" if names else ""))
        return 0
    if args.command == "status":
        where = "DATABASE_URL" if settings.database_url else f"embedded ({settings.embedded_pgdata})"
        conn = connect(settings, migrate=False)
        with conn, conn.cursor() as cur:
            cur.execute("SELECT current_setting('server_version')")
            version = cur.fetchone()[0]
        conn.close()
        print(f"database: {mask_url(url)} [{where}], PostgreSQL {version}")
        for migration, done in migrations.status(url):
            print(f"  {'applied' if done else 'PENDING'}  {migration.name}")
        return 0
    # hold: the server stays up while this process lives (pgserver counts handles).
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
