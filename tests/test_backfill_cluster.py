"""`--mode backfill --scheduler tcp://...` on a LocalCluster of 2 worker processes.

Against the PostgreSQL server on 127.0.0.1:5432 (a scratch database per
run; the workers are other processes, so the embedded test server will not
do), and the simulator in this process, which every worker reaches through
the settings the worker plugin hands them.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import threading
import time
import uuid

import psycopg2
import pytest

from divpipe.config import reset_settings
from divpipe.jobs.backfill_plan import sessions_between
from divpipe.net import yahoo as net_yahoo
from divpipe.net.hosts import source_for_host
from tests.test_backfill_e2e import DIVIDENDS, PRICES, SPLITS, backfill, truth
from tests.test_update_e2e import SIM_TODAY, stored

pytestmark = pytest.mark.slow

SERVER = os.environ.get("BACKFILL_TEST_SERVER", "postgresql://postgres@127.0.0.1:5432/test")
RATE, BURST = 6, 2
# Three weeks that ended a week before the simulator's today: every bar exists.
END = SIM_TODAY - dt.timedelta(days=7)
START = END - dt.timedelta(days=20)
WINDOW = ["--start", START.isoformat(), "--end", END.isoformat()]


def _admin():
    conn = psycopg2.connect(SERVER, connect_timeout=5)
    conn.autocommit = True
    return conn


@pytest.fixture
def server_db(monkeypatch):
    """Factory: a scratch database on the server; the last one made is DATABASE_URL. Dropped afterwards."""
    made = []

    def make() -> str:
        name = f"divpipe_bf_{uuid.uuid4().hex[:10]}"
        admin = _admin()
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        admin.close()
        made.append(name)
        url = SERVER.rsplit("/", 1)[0] + "/" + name
        monkeypatch.setenv("DATABASE_URL", url)
        reset_settings()
        return url

    yield make
    admin = _admin()
    with admin.cursor() as cur:
        for name in made:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=2, processes=True, dashboard_address=":0") as local:
        yield local
        # The runs pointed the root logger at a test's captured stderr, closed by now: the
        # scheduler's closing lines would each print a logging error.
        for handler in list(logging.root.handlers):
            logging.root.removeHandler(handler)


def rows(url: str) -> tuple[set, set, set]:
    conn = psycopg2.connect(url)
    try:
        return stored(conn, PRICES), stored(conn, DIVIDENDS), stored(conn, SPLITS)
    finally:
        conn.close()


def yahoo_per_second(sim) -> dict[int, int]:
    """Requests to every Yahoo host (they share one limit) in each second."""
    total: dict[int, int] = {}
    for host, seconds in sim.stats()["per_second"].items():
        if source_for_host(host) == "yahoo":
            for second, n in seconds.items():
                total[int(second)] = total.get(int(second), 0) + n
    return total


def test_cluster_stores_what_threads_store_and_holds_the_global_rate_limit(make_sim, server_db, cluster,
                                                                         capsys, monkeypatch):
    sim = make_sim(n_symbols=60, seed=7, today=SIM_TODAY, client_rate=RATE)
    monkeypatch.setenv("RATE_LIMIT_BURST", str(BURST))
    symbols = [c.symbol for c in sim.universe.listed()][:24]
    argv = ["--tickers", ",".join(symbols), *WINDOW]

    threads_db = server_db()
    code, err = backfill(capsys, *argv, "--workers", "4")
    assert code == 0, err

    cluster_db = server_db()
    net_yahoo.reset_yfinance_state()
    sim.reset_stats()
    # A 429 wave on whichever worker meets it first: the pause goes through the shared store.
    sim.inject(*["429"] * 3, path_prefix="/v8/finance/chart/")
    code, err = backfill(capsys, *argv, "--scheduler", cluster.scheduler_address)
    assert code == 0, err
    assert sim.stats()["faults"].get("429") == 3
    conn = psycopg2.connect(cluster_db)
    try:
        # Every cool-down bumps the shared state's generation: the other worker's sleepers re-queue on it.
        assert stored(conn, "SELECT generation > 0 FROM rate_limits WHERE key = 'yahoo'") == {(True,)}
    finally:
        conn.close()
    assert f"Dask scheduler {cluster.scheduler_address}, dashboard http" in err
    assert "24 ok, 0 failed, 0 waited" in err
    assert rows(cluster_db) == rows(threads_db)
    prices = rows(cluster_db)[0]
    assert {s for s, *_ in prices} == set(symbols) and len(prices) == 24 * len(sessions_between(START, END))

    # Both worker processes sent requests, and together they kept to ONE limit: any second holds at
    # most RATE slots plus the BURST (and half a second of slack for a late arrival on a busy machine).
    per_second = yahoo_per_second(sim)
    assert sum(per_second.values()) >= 24
    assert max(per_second.values()) <= RATE + BURST + RATE // 2, per_second
    seconds = max(per_second) - min(per_second) + 1
    assert sum(per_second.values()) <= BURST + RATE * seconds, per_second


def test_a_killed_worker_loses_nothing_reported_stored_and_a_rerun_completes(make_sim, server_db, cluster,
                                                                            capsys, monkeypatch):
    from distributed import Client

    # Slow enough that the run is still going when a worker dies.
    sim = make_sim(n_symbols=60, seed=7, today=SIM_TODAY, client_rate=RATE, latency_ms=200)
    symbols = [c.symbol for c in sim.universe.listed()][:24]
    argv = ["--tickers", ",".join(symbols), *WINDOW, "--scheduler", cluster.scheduler_address]
    url = server_db()
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["code"] = backfill_uncaptured(argv)
        except BaseException as exc:  # reported by the assertion below
            outcome["error"] = exc

    worker = threading.Thread(target=run)
    worker.start()
    conn = psycopg2.connect(url)
    conn.autocommit = True
    try:
        deadline = time.monotonic() + 120
        while True:
            done = stored(conn, "SELECT count(DISTINCT symbol) FROM raw_stock_prices").pop()[0] if _ready(conn) else 0
            if done >= 3:
                break
            assert time.monotonic() < deadline and worker.is_alive(), outcome
            time.sleep(0.05)
        with Client(cluster.scheduler_address) as client:
            victim = next(iter(client.run(os.getpid).values()))
            os.kill(victim, signal.SIGKILL)
        worker.join(timeout=300)
        assert not worker.is_alive()
    finally:
        conn.close()
    err = capsys.readouterr().err
    # The dead worker's tasks were rescheduled, or the run failed for them: either way it ended.
    assert outcome.get("code") == 0 or "error" in outcome, outcome

    # Every symbol the run reported stored has its whole window, exactly.
    reported = [s for s in symbols if f"] divpipe.jobs.backfill: {s}: stored " in err]
    assert reported, err
    prices, dividends, _ = rows(url)
    want = truth(sim.universe, reported, START, END)
    assert {r for r in prices if r[0] in reported} == want[0]
    assert {r for r in dividends if r[0] in reported} == want[1]

    # A re-run fetches what is left (nothing, if the cluster rescheduled the dead worker's tasks) and
    # the database then holds the whole window of every symbol.
    net_yahoo.reset_yfinance_state()
    code, err = backfill(capsys, *argv)
    assert code == 0, err
    assert rows(url)[:2] == truth(sim.universe, symbols, START, END)[:2]


def _ready(conn) -> bool:
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass('raw_stock_prices') IS NOT NULL")
        return cur.fetchone()[0]


def backfill_uncaptured(argv) -> int:
    from divpipe.jobs.modes import main

    return main(["--mode", "backfill", *argv])
