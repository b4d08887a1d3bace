
"""Run history and the drivers' Python helpers: gate, report, completeness, history table."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta

import pytest

from divpipe import runs
from divpipe.config import load_settings
from divpipe.driver_completeness import Figure, figures, measure, rows_written, write_counters
from divpipe.driver_gate import decide, is_trading_day, last_completed_session
from divpipe.driver_report import (
    critical_path,
    decide_outcome,
    duration_alerts,
    longest_chain,
    performance_breakdown,
)
from divpipe.driver_state import PhaseTiming, TaskResult, phase_spans, read_phases, read_tasks
from divpipe.market_time import exchange_today

MONDAY, SATURDAY, SUNDAY = date(2026, 11, 23), date(2026, 11, 21), date(2026, 11, 22)


def task(name, phase, seconds, status="success", critical=False, code=0, start=1000.0, needs=()):
    return TaskResult(name, phase, critical, status, code, start, start + seconds, f"/logs/{name}.log",
                      needs=tuple(needs))


# --- gate ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("day", "trading", "force", "discovery", "empty", "expected"), [
    (MONDAY, True, False, False, False, "full 0 2026-11-23 -"),
    (MONDAY, True, False, True, False, "full 1 2026-11-23 asked"),
    (MONDAY, True, False, False, True, "full 1 2026-11-23 no-symbols"),
    (SATURDAY, False, False, False, False, "skip 0 2026-11-21 -"),
    (SATURDAY, False, False, False, True, "discovery-only 1 2026-11-21 no-symbols"),
    (SATURDAY, False, True, False, False, "full 0 2026-11-21 -"),
    (SUNDAY, False, False, False, False, "discovery-only 1 2026-11-22 sunday"),
    (SUNDAY, False, True, False, True, "full 1 2026-11-22 sunday"),
    (date(2026, 11, 26), False, False, True, False, "discovery-only 1 2026-11-26 asked"),
])
def test_gate_decision(day, trading, force, discovery, empty, expected):
    assert decide(day, trading, force=force, discovery=discovery, nothing_tracked=empty).as_line() == expected


def test_the_gate_uses_the_nyse_calendar_and_new_york_dates():
    assert is_trading_day(MONDAY)
    assert not is_trading_day(date(2026, 11, 26))  # Thanksgiving, a Thursday
    assert is_trading_day(date(2026, 11, 27))  # the half day after it
    assert not is_trading_day(SATURDAY)
    # 01:00 UTC on Saturday is still Friday evening in New York.
    assert exchange_today(datetime(2026, 11, 21, 1, 0, tzinfo=UTC)) == date(2026, 11, 20)


def test_last_completed_session_waits_for_the_close():
    before_close = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)  # 15:00 in New York
    after_close = datetime(2026, 11, 23, 21, 30, tzinfo=UTC)
    assert last_completed_session(before_close) == date(2026, 11, 20)
    assert last_completed_session(after_close) == MONDAY
    assert last_completed_session(datetime(2026, 11, 27, 12, 0, tzinfo=UTC)) == date(2026, 11, 25)


# --- report ------------------------------------------------------------------------------------

def night(start_of_phase2=2165.0):
    """A v3 night, as the seed system's figures describe it, with the real needs."""
    return [task("discovery", "discovery", 5, critical=True, start=0),
            task("nasdaq", "phase1", 300, start=5, needs=["discovery"]),
            task("cboe", "phase1", 312, start=5, needs=["discovery"]),
            task("main_update", "step2", 1847, critical=True, start=318, needs=["discovery"]),
            task("backup", "phase2", 598, start=start_of_phase2,
                 needs=["nasdaq", "cboe", "main_update", "holdings"]),
            task("holdings", "phase2", 100, start=start_of_phase2, needs=["main_update"])]


def test_the_breakdown_keeps_the_format_users_grep_for():
    phases = {"discovery": PhaseTiming("discovery", 0, 5), "phase1": PhaseTiming("phase1", 5, 317.4),
              "step2": PhaseTiming("step2", 318, 2165), "phase2": PhaseTiming("phase2", 2165, 2763)}
    lines = performance_breakdown(night(), phases, 48 * 60 + 23, run_started=-1.0)
    assert lines[:6] == [
        "⚡ PERFORMANCE BREAKDOWN:",
        "  Phase 1 (Parallel Scrapers): 312s",
        "  Step 2 (Main Update): 1847s",
        "  Phase 2 (Parallel Post-Tasks): 598s",
        "",
        "Total execution time: 48m 23s",
    ]
    text = "\n".join(lines)
    # Each task with its start after the run's start, then its duration.
    assert any(line.split()[1:7] == ["main_update", "step2", "critical", "+319.0s", "1847.0s", "success"]
               for line in lines), text
    assert ("Critical path: discovery 5.0s → cboe 312.0s → main_update 1847.0s → backup 598.0s = 2762.0s "
            "(slowest task of each phase)") in text
    # What --overlap could give: the main update does not wait for the scrapers.
    assert ("With --overlap the longest chain of needs would be: discovery 5.0s → main_update 1847.0s → "
            "holdings 100.0s → backup 598.0s = 2550.0s") in text
    # serial 3162 s against 2763 s from the first start to the last end
    assert "Time saved vs serial: 399.0s (13%)" in text


def test_an_overlapped_breakdown_names_the_chain_of_needs():
    tasks = night(start_of_phase2=1852.0)  # holdings right after the main update: 5 + 1847
    tasks[4] = task("backup", "phase2", 598, start=1952, needs=["nasdaq", "cboe", "main_update", "holdings"])
    lines = performance_breakdown(tasks, {}, 2550, run_started=0.0, schedule="overlap")
    text = "\n".join(lines)
    assert ("Critical path: discovery 5.0s → main_update 1847.0s → holdings 100.0s → "
            "backup 598.0s = 2550.0s (longest chain of needs)") in text
    assert "With --overlap" not in text
    assert critical_path(tasks, "overlap") == longest_chain(tasks)


def test_overlapped_phases_are_the_spans_of_their_tasks():
    spans = phase_spans(night(start_of_phase2=1852.0))
    assert {p: (s.started, s.finished) for p, s in spans.items()} == {
        "discovery": (0, 5), "phase1": (5, 317), "step2": (318, 2165), "phase2": (1852, 2450)}
    assert phase_spans([TaskResult("c", "phase2", False, "skipped", None, None, None, "")]) == {}


def test_the_longest_chain_ignores_tasks_that_did_not_run_and_follows_needs_not_list_order():
    tasks = [task("a", "phase1", 30), task("d", "discovery", 1),
             task("b", "phase1", 3, needs=["d"]), task("m", "step2", 10, needs=["d", "b"]),
             TaskResult("c", "phase2", False, "skipped", None, None, None, "", needs=("a",)),
             task("e", "phase2", 4, needs=["m", "c"])]
    assert longest_chain(tasks).tasks == [("a", 30.0)]
    tasks[0] = task("a", "phase1", 2)
    assert longest_chain(tasks).tasks == [("d", 1.0), ("b", 3.0), ("m", 10.0), ("e", 4.0)]
    assert longest_chain([]).tasks == []


def test_a_phase_that_did_not_run_shows_zero():
    lines = performance_breakdown([task("main_update", "step2", 3, "failed", True, 1)],
                                  {"step2": PhaseTiming("step2", 0, 3)}, 4)
    assert lines[1:4] == ["  Phase 1 (Parallel Scrapers): 0s (not run)", "  Step 2 (Main Update): 3s",
                          "  Phase 2 (Parallel Post-Tasks): 0s (not run)"]


def test_critical_path_takes_the_slowest_task_of_each_phase():
    path = critical_path([task("a", "phase1", 3), task("b", "phase1", 7), task("m", "step2", 10),
                          TaskResult("c", "phase2", False, "skipped", None, None, None, "")])
    assert path.tasks == [("b", 7.0), ("m", 10.0)] and path.seconds == 17.0


def test_duration_alerts():
    phases = {"phase1": PhaseTiming("phase1", 0, 21 * 60), "phase2": PhaseTiming("phase2", 0, 60)}
    alerts = duration_alerts(phases, 91 * 60, total_minutes=90, phase1_minutes=20, phase2_minutes=25)
    assert alerts == [
        "⚠️ the whole run took 91m 0s, longer than ALERT_TOTAL_MINUTES=90 min",
        "⚠️ Phase 1 (Parallel Scrapers) took 21m 0s, longer than ALERT_PHASE1_MINUTES=20 min",
    ]
    assert duration_alerts(phases, 60, total_minutes=90, phase1_minutes=30, phase2_minutes=25) == []


def outcome(tasks, **kw):
    args = {"interrupted": None, "skipped": None, "strict": False, "completeness_level": "ok",
            "warnings": []}
    return decide_outcome(tasks, **{**args, **kw})


def test_outcomes():
    ok, soft = task("nasdaq", "phase1", 1), task("cboe", "phase1", 1, "failed", False, 3)
    hard = task("main_update", "step2", 1, "failed", True, 1)
    assert (outcome([ok]).status, outcome([ok]).exit_code) == ("success", 0)
    assert (outcome([ok, soft]).status, outcome([ok, soft]).exit_code) == ("warning", 0)
    assert outcome([ok, soft]).reasons == ["cboe failed (exit 3, non-critical)"]
    noted = dataclasses.replace(soft, note="giving up on cboe.com/x: last status 503")
    assert outcome([noted]).reasons == ["cboe failed (exit 3, non-critical): giving up on cboe.com/x: last status 503"]
    assert outcome([ok, soft], strict=True).exit_code == 1
    assert (outcome([hard]).status, outcome([hard]).exit_code) == ("failed", 1)
    assert outcome([ok], completeness_level="critical").exit_code == 1
    assert outcome([ok], completeness_level="warning").status == "warning"
    assert outcome([ok], warnings=["⚠️ slow"]).status == "warning"
    assert outcome([hard], interrupted="TERM").exit_code == 143
    assert outcome([], interrupted="INT").exit_code == 130
    assert (outcome([], skipped="not a trading day").status, outcome([], skipped="x").exit_code) == \
        ("skipped", 0)


# --- state files ------------------------------------------------------------------------------

def test_state_files_are_read_with_either_decimal_mark(tmp_path):
    (tmp_path / "tasks.tsv").write_text(
        "cboe\tphase1\t0\tfailed\t3\t100,5\t102,0\t/l/cboe.log\t\n"
        "companies\tphase2\t0\tskipped\t\t\t\t/l/companies.log\tcritical task main_update failed\n")
    (tmp_path / "phases.tsv").write_text("phase1\t100.5\t102.5\n")
    cboe, companies = read_tasks(tmp_path)
    assert (cboe.exit_code, cboe.seconds, cboe.critical) == (3, 1.5, False)
    assert companies.started is None and companies.note == "critical task main_update failed"
    assert read_phases(tmp_path)["phase1"].seconds == 2.0


# --- completeness -----------------------------------------------------------------------------

def test_figure_levels_at_their_thresholds():
    def price(count):
        return Figure("p", "price", count, 100, 0.8, 0.5, False)

    assert [price(n).level for n in (80, 79, 50, 49)] == ["ok", "warning", "warning", "critical"]

    def stale(count):
        return Figure("s", "stale", count, 100, 0.2, 0.5, True)

    assert [stale(n).level for n in (20, 21, 50, 51)] == ["ok", "warning", "warning", "critical"]
    assert Figure("p", "price", 0, 0, 0.8, 0.5, False).level == "n/a"


def test_thresholds_come_from_settings():
    settings = load_settings({"PRICE_COVERAGE_WARN": "0.95", "PRICE_COVERAGE_CRIT": "0.9"}, dotenv=False)
    counts = {"tracked": 100, "priced": 93, "with_dividend": 50, "stale": 0, "no_company": 0}
    price = figures(counts, settings)[0]
    assert (price.warn, price.crit, price.level) == (0.95, 0.9, "warning")


def test_rows_written_is_the_difference_of_the_counters():
    before = {"raw_stocks": {"inserted": 5, "updated": 1, "deleted": 0}}
    after = {"raw_stocks": {"inserted": 7, "updated": 4, "deleted": 0},
             "raw_dividends": {"inserted": 3, "updated": 0, "deleted": 0},
             "raw_splits": {"inserted": 0, "updated": 0, "deleted": 0}}
    assert rows_written(before, after) == {"raw_stocks": {"inserted": 2, "updated": 3, "deleted": 0},
                                           "raw_dividends": {"inserted": 3, "updated": 0, "deleted": 0}}


def test_completeness_counts_on_a_real_database(conn):
    session = date(2026, 11, 20)
    now = datetime.now(UTC)
    with conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO raw_stocks (symbol, company, prices_updated_at) VALUES "
            "('AAA', 'A Inc', %(now)s), ('BBB', NULL, %(old)s), ('CCC', '  ', NULL), ('XXX', 'Gone', NULL)",
            {"now": now, "old": now - timedelta(hours=49)})
        cur.execute("INSERT INTO raw_excluded_symbols (symbol, excluded) VALUES ('XXX', TRUE)")
        cur.execute("INSERT INTO raw_stock_prices (symbol, date, close) VALUES "
                    "('AAA', '2026-11-20', 1), ('BBB', '2026-11-19', 1), ('XXX', '2026-11-20', 1)")
        cur.execute("INSERT INTO raw_dividends (symbol, ex_date, amount) VALUES "
                    "('AAA', '2026-06-01', 0.1), ('BBB', '2025-06-01', 0.1)")
    assert measure(conn, session) == {"tracked": 3, "priced": 1, "with_dividend": 1, "stale": 2,
                                      "no_company": 2}
    counters = write_counters(conn)
    assert "pipeline_runs" not in counters and "rate_limits" not in counters and "raw_stocks" in counters


# --- the history table ------------------------------------------------------------------------

def test_runs_lists_recent_runs_newest_first(conn, capsys):
    with conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO pipeline_runs (run_id, driver, started_at, finished_at, status, exit_code, "
            "rows_written) VALUES ('r1', 'v2', '2026-11-20 22:00Z', '2026-11-20 22:48:23Z', 'success', 0, 10),"
            "('r2', 'v3', '2026-11-21 22:00Z', NULL, 'running', NULL, NULL),"
            "('r3', 'v3', '2026-11-19 22:00Z', '2026-11-19 22:01Z', 'failed', 1, 0)")
        cur.execute("INSERT INTO task_runs (run_id, task, driver, phase, critical, status, exit_code) "
                    "VALUES ('r3', 'main_update', 'v3', 'step2', TRUE, 'failed', 1)")
    assert runs.main(["--last", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["RUN", "ID", "DRIVER", "STARTED", "TOOK", "STATUS", "EXIT", "ROWS", "PROBLEMS"]
    assert [line.split()[0] for line in lines[1:]] == ["r2", "r1"]
    assert "48m 23s" in lines[2] and "⏳ running" in lines[1]
    assert runs.main(["--last", "5"]) == 0
    assert "main_update failed" in capsys.readouterr().out.splitlines()[-1]


def test_runs_rejects_a_bad_count(capsys):
    assert runs.main(["--last", "0"]) == 2
    assert capsys.readouterr().err.startswith("❌ --last")
