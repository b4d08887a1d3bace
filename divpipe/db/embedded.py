"""The embedded PostgreSQL server (pgserver), shared safely by concurrent processes.

pgserver keeps, inside the data directory, a list of the PIDs using the
server and stops it when the last of them exits (`cleanup_mode='stop'`),
all under one inter-process file lock. Two things it does not do, and we add:

- A process killed with SIGKILL never removes its PID, so the server would
  never be stopped again. Before joining, we drop PIDs that no longer exist,
  under pgserver's own lock.
- It only knows the `postgres` database; we create ours on first use.
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psutil

from divpipe.errors import DatabaseError

log = logging.getLogger(__name__)

DATABASE = "divpipe"
_HANDLE_LIST = ".handle_pids.json"


def import_pgserver():
    # platformdirs warns at import when XDG_RUNTIME_DIR is unset (cron, CI);
    # pgserver then uses /tmp/runtime-<uid>, which is what we want.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver
        from pgserver.postgres_server import PostgresServer
    return pgserver, PostgresServer


def prune_dead_handles(pgdata: Path) -> list[int]:
    """Remove PIDs of processes that died without cleaning up. Returns the removed PIDs."""
    _, server_cls = import_pgserver()
    path = pgdata / _HANDLE_LIST
    with server_cls._lock:
        if not path.exists():
            return []
        try:
            pids = json.loads(path.read_text() or "[]")
        except json.JSONDecodeError:
            pids = []
        alive = [pid for pid in pids if psutil.pid_exists(pid)]
        dead = [pid for pid in pids if pid not in alive]
        if dead or len(alive) != len(pids):
            path.write_text(json.dumps(alive))
    if dead:
        log.info("embedded PostgreSQL: dropped handles of dead processes %s", dead)
    return dead


def start_or_join(pgdata: Path) -> str:
    """Start the embedded server under `pgdata`, or join the one running there.

    Returns the libpq URI of the `postgres` maintenance database. The server
    stays up while any process that joined it is alive.
    """
    pgserver, _ = import_pgserver()
    pgdata = pgdata.expanduser().resolve()
    try:
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        if pgdata.exists():
            prune_dead_handles(pgdata)
        server = pgserver.get_server(pgdata, cleanup_mode="stop")
        return server.get_uri()
    except Exception as err:
        raise DatabaseError(f"embedded PostgreSQL under {pgdata} did not start: {err}") from err


def with_database(uri: str, database: str) -> str:
    """The same server and credentials, another database (socket and TCP URIs alike)."""
    return urlunsplit(urlsplit(uri)._replace(path=f"/{database}"))
