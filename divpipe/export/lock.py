"""One export per lake at a time: the night's task and a manual run must not interleave their renames."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from divpipe.config import Settings
from divpipe.db.connect import connect
from divpipe.errors import ExportError


@contextmanager
def exclusive(settings: Settings, lake: Path) -> Iterator[None]:
    """Hold a PostgreSQL advisory lock named after the lake; fail at once if another export holds it.

    The lock lives in the database every export of this pipeline already
    talks to, and goes away with the holder's connection, even after kill -9.
    """
    conn = connect(settings)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (f"divpipe-export:{lake}",))
            if not cur.fetchone()[0]:
                raise ExportError(f"export: another export to {lake} is running; try again when it has finished")
        yield
    finally:
        conn.close()
