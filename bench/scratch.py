"""A scratch database for a benchmark: on DATABASE_URL's server, or an embedded one.

    with scratch_database() as url:
        ...

The database is created empty (or migrated), and dropped afterwards even when
the benchmark fails.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg2

from divpipe.db import embedded
from divpipe.db.migrate import migrate


def admin_url() -> str:
    """DATABASE_URL, or a fresh embedded server in a temporary data directory."""
    return os.environ.get("DATABASE_URL") or embedded.start_or_join(Path(tempfile.mkdtemp()) / "pg")


@contextmanager
def scratch_database(*, migrated: bool = True) -> Iterator[str]:
    admin = admin_url()
    name = f"divpipe_bench_{uuid.uuid4().hex[:8]}"
    conn = psycopg2.connect(admin)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        url = embedded.with_database(admin, name)
        if migrated:
            migrate(url)
        yield url
    finally:
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()
