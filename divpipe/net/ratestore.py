"""Where the per-host rate-limit state lives: this process, PostgreSQL or Redis.

A store does one thing: an atomic read-modify-write of one host's small
`ratelimit.State`, with `update(key, fn)` where `fn(state) -> (new_state,
result)`. The algorithm itself is divpipe.net.ratelimit's, once, so every
store behaves alike (the tests run the same cases on all three).

Times in the state are Unix seconds from the callers' clocks: processes on
one machine share it, and cluster workers keep theirs in sync to a few
milliseconds, far below the intervals we limit to.

- `ProcessStore`: a dict under a lock; nothing is shared beyond the process.
- `PostgresStore`: table `rate_limits` (migration 004), one row per host,
  locked by `SELECT ... FOR UPDATE` for the read-modify-write; two round
  trips per call on the process's own small connection.
- `RedisStore`: one JSON value per host under RATE_LIMIT_REDIS_PREFIX,
  changed with WATCH/MULTI (optimistic: retried when another client wrote
  in between); values expire after a week unused.

`default_store()` picks one for this process: Redis when
RATE_LIMIT_REDIS_URL is set, PostgreSQL once the process has connected to
the pipeline's database (every job does before fetching anything), else the
process store.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
from collections.abc import Callable
from dataclasses import asdict, astuple
from typing import Any
from urllib.parse import urlsplit

from divpipe.config import get_settings
from divpipe.net.ratelimit import State

_FIELDS = tuple(State.__dataclass_fields__)
REDIS_TTL_SECONDS = 7 * 24 * 3600


def describe_error(err: BaseException) -> str:
    """One line for a log: the error's first line, any password in a URL masked."""
    text = (str(err).strip().splitlines() or [type(err).__name__])[0]
    return re.sub(r"(://[^:/@\s]*:)[^@\s]*@", r"\1***@", text)


class ProcessStore:
    name = "this process"
    errors: tuple[type[BaseException], ...] = ()

    def __init__(self):
        self._lock = threading.Lock()
        self._states: dict[str, State] = {}

    def update(self, key: str, fn: Callable[[State], tuple[State, Any]]):
        with self._lock:
            new, result = fn(self._states.get(key, State()))
            self._states[key] = new
            return result

    def read(self, key: str) -> State:
        with self._lock:
            return self._states.get(key, State())

    def close(self) -> None:
        pass


class PostgresStore:
    name = "PostgreSQL"

    def __init__(self, url: str):
        import psycopg2

        self.errors = (psycopg2.Error, OSError)
        self._url = url
        self._lock = threading.Lock()
        self._conn = None
        self._pid = 0
        # Connections inherited through fork(): closing one from the child
        # would end the parent's session, so they are only kept referenced.
        self._inherited: list[Any] = []

    def _connection(self):
        import psycopg2

        if self._conn is not None and self._pid != os.getpid():
            self._inherited.append(self._conn)
            self._conn = None
        if self._conn is None or self._conn.closed:
            conn = psycopg2.connect(self._url, connect_timeout=10, application_name="divpipe rate limit")
            # Autocommit, with BEGIN and COMMIT sent inside our own statements:
            # a read-modify-write is then two round trips, not four.
            conn.autocommit = True
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    def update(self, key: str, fn: Callable[[State], tuple[State, Any]]):
        columns = ", ".join(_FIELDS)
        with self._lock:
            conn = self._connection()
            try:
                with conn.cursor() as cur:
                    select = f"SELECT {columns} FROM rate_limits WHERE key = %s FOR UPDATE"
                    cur.execute(f"BEGIN; {select}", (key,))
                    row = cur.fetchone()
                    if row is None:
                        # A host's first request: create its row (or wait for
                        # the process creating it at the same moment), then
                        # lock it like any other.
                        cur.execute(f"INSERT INTO rate_limits (key) VALUES (%s) ON CONFLICT (key) DO NOTHING; "
                                    f"{select}", (key, key))
                        row = cur.fetchone()
                    state = State(*row)
                    new, result = fn(state)
                    values = astuple(new)
                    if new != state:
                        cur.execute(
                            "UPDATE rate_limits SET " + ", ".join(f"{c} = %s" for c in _FIELDS)
                            + ", updated_at = now() WHERE key = %s; COMMIT", (*values, key))
                    else:
                        cur.execute("COMMIT")
                return result
            except BaseException:
                self._abort(conn)
                raise

    def read(self, key: str) -> State:
        with self._lock:
            conn = self._connection()
            try:
                with conn.cursor() as cur:
                    cur.execute(f"SELECT {', '.join(_FIELDS)} FROM rate_limits WHERE key = %s", (key,))
                    row = cur.fetchone()
            except BaseException:
                self._abort(conn)
                raise
            return State(*row) if row else State()

    def _abort(self, conn) -> None:
        try:
            if not conn.closed:
                with conn.cursor() as cur:
                    cur.execute("ROLLBACK")
        except Exception:  # noqa: BLE001 - the connection is gone: open a new one next time
            conn.close()
            self._conn = None

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None


class RedisStore:
    def __init__(self, url: str, prefix: str):
        import redis

        self.errors = (redis.RedisError, OSError)
        parts = urlsplit(url)
        self.name = f"Redis at {parts.hostname or '?'}:{parts.port or 6379}"  # never the password
        self._prefix = prefix
        self._url = url
        self._client = None
        self._pid = 0
        self._lock = threading.Lock()

    def _redis(self):
        import redis

        with self._lock:
            if self._client is None or self._pid != os.getpid():
                # redis-py's pool checks the pid itself and reconnects after a fork.
                self._client = redis.Redis.from_url(self._url, socket_timeout=10, socket_connect_timeout=10)
                self._pid = os.getpid()
            return self._client

    def update(self, key: str, fn: Callable[[State], tuple[State, Any]]):
        import redis

        name = self._prefix + key
        with self._redis().pipeline() as pipe:
            while True:
                try:
                    pipe.watch(name)
                    raw = pipe.get(name)
                    state = State(**json.loads(raw)) if raw else State()
                    new, result = fn(state)
                    pipe.multi()
                    pipe.set(name, json.dumps(asdict(new)), ex=REDIS_TTL_SECONDS)
                    pipe.execute()
                    return result
                except redis.WatchError:
                    continue  # another client changed it between our read and our write

    def read(self, key: str) -> State:
        raw = self._redis().get(self._prefix + key)
        return State(**json.loads(raw)) if raw else State()

    def close(self) -> None:
        with self._lock:
            if self._client is not None and self._pid == os.getpid():
                self._client.close()
            self._client = None


_lock = threading.Lock()
_stores: dict[tuple[str, ...], Any] = {}
_process = ProcessStore()


def _cached(key: tuple[str, ...], make: Callable[[], Any]):
    with _lock:
        store = _stores.get(key)
        if store is None:
            store = _stores[key] = make()
        return store


def from_settings(*, database_url: str | None = None, redis_url: str | None = None):
    """A shared store: Redis when `redis_url` (or RATE_LIMIT_REDIS_URL) is set, else PostgreSQL.

    For any process that should share the night's limits, a cluster worker
    say: `ratelimit.configure(ratestore.from_settings())`. PostgreSQL is
    `database_url`, or the pipeline's database (migrated if need be).
    """
    settings = get_settings()
    redis_url = redis_url or settings.rate_limit_redis_url
    if redis_url:
        prefix = settings.rate_limit_redis_prefix
        return _cached(("redis", redis_url, prefix), lambda: RedisStore(redis_url, prefix))
    if database_url is None:
        from divpipe.db.connect import connect

        connect().close()  # the migrations create the table
        database_url = _connected_url()
    return _cached(("postgres", database_url), lambda: PostgresStore(database_url))


def _connected_url() -> str | None:
    # Not imported means not connected: a dry run never loads the database code.
    connect = sys.modules.get("divpipe.db.connect")
    return connect.migrated_url() if connect is not None else None


def default_store():
    """Redis if configured; the database this process connected to; else this process."""
    settings = get_settings()
    if settings.rate_limit_redis_url:
        return from_settings()
    url = _connected_url()
    if url:
        return _cached(("postgres", url), lambda: PostgresStore(url))
    return _process


def close_all() -> None:
    """Close the shared stores' connections and forget every store (tests; settings changed)."""
    global _process
    with _lock:
        stores = list(_stores.values())
        _stores.clear()
        _process = ProcessStore()
    for store in stores:
        store.close()
