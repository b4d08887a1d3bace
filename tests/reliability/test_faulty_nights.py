"""Whole nights through the driver against a misbehaving simulator.

- one request in ten fails (5xx, resets, truncated, garbled and slow answers):
  after two nights the data is exactly a clean night's;
- Yahoo answers a large share of requests with 429 all night: the night
  finishes and no symbol is reported failed for having only waited.
"""

from __future__ import annotations

from pathlib import Path

import psycopg2
import pytest

from tests.night import ROOT, V3, assert_same_tables, driver_env, run_driver

pytestmark = pytest.mark.slow

FAST = {"HISTORY_YEARS": "1"}


def test_a_tenth_of_requests_failing_leaves_exact_data_after_two_nights(make_sim, make_db, tmp_path):
    clean_sim = make_sim(n_symbols=24, seed=6)
    faulty_sim = make_sim(n_symbols=24, seed=6, fault_rate=0.1)
    clean_url, faulty_url = make_db(), make_db()
    clean_env = {**driver_env(tmp_path, "clean", clean_url), **FAST, "DIVPIPE_SIMULATOR_URL": clean_sim.url}
    faulty_env = {**driver_env(tmp_path, "faulty", faulty_url), **FAST, "DIVPIPE_SIMULATOR_URL": faulty_sim.url}

    clean = run_driver(V3, clean_env, tmp_path, "--force")
    assert clean["_returncode"] == 0, clean["_stdout"]
    for night in (1, 2):
        faulty = run_driver(V3, faulty_env, tmp_path, "--force")
        assert faulty["_returncode"] in (0, 1), (night, faulty["_stdout"])
    assert sum(faulty_sim.stats()["faults"].values()) >= 15  # the faults really happened, of every kind
    assert set(faulty_sim.stats()["faults"]) == {"500", "reset", "truncated", "malformed", "slow"}
    # The second night ran the whole pipeline and came out clean.
    assert faulty["_returncode"] == 0 and faulty["status"] == "success", faulty["_stdout"]
    assert_same_tables(faulty_url, clean_url)


def _main_update_only(path: Path) -> Path:
    """The real main-update line of scripts/tasks.sh, alone."""
    (line,) = [x for x in (ROOT / "scripts/tasks.sh").read_text().splitlines() if x.startswith("task main_update ")]
    path.write_text(line + "\n")
    return path


def test_a_429_storm_all_night_finishes_and_fails_no_symbol_for_waiting(make_sim, make_db, tmp_path):
    # A quarter of Yahoo requests are refused, whatever the rate: 429s all night long, on every
    # kind of request (cookie, crumb, chart, quoteSummary, quote, timeseries).
    sim = make_sim(n_symbols=8, seed=5, fault_rate=0.25, fault_kinds=("429",), retry_after=0.2)
    url = make_db()
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.executemany("INSERT INTO raw_stocks (symbol) VALUES (%s)", [(s,) for s in sim.universe.symbols])
    conn.close()
    env = {**driver_env(tmp_path, "storm", url), **FAST, "YAHOO_WORKERS": "4",
           "DIVPIPE_TASKS_FILE": str(_main_update_only(tmp_path / "tasks.sh"))}

    night = run_driver(V3, env, tmp_path, "--force")

    stats = sim.stats()
    yahoo = sum(sum(paths.values()) for host, paths in stats["requests"].items() if host.endswith("yahoo.com"))
    assert stats["faults"].get("429", 0) >= 0.2 * yahoo
    assert night["_returncode"] == 0, night["_stdout"]
    assert {t["name"]: t["status"] for t in night["tasks"]} == {"main_update": "success"}
    log = "".join(p.read_text() for p in Path(env["LOG_DIR"]).glob("main_update_*.log"))
    assert "rate limited (YFRateLimitError" in log  # some refusals reached the fan-out, not only net
    symbols = sim.universe.symbols
    assert all(not c.delisted for c in sim.universe.companies)
    assert f"update: {len(symbols)} ok, 0 failed, 0 skipped of {len(symbols)} symbols" in log, log
    assert "company data not updated" not in log and "left for the next run" not in log, log
    # Each symbol waited its turn and then got everything: a year of prices and its company data.
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT s.symbol, count(p.date), s.company_updated_at IS NOT NULL FROM raw_stocks s "
                    "LEFT JOIN raw_stock_prices p USING (symbol) GROUP BY s.symbol, s.company_updated_at")
        stored = {symbol: (prices > 200, company) for symbol, prices, company in cur.fetchall()}
    conn.close()
    assert stored == {s: (True, True) for s in symbols}
