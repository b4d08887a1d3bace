"""Run history: one row per pipeline run (pipeline_runs) and per task (task_runs).

    python -m divpipe runs [--last N] [--simulate]   recent runs as a table

The nightly drivers call the other subcommands; they are not meant for users:

    python -m divpipe.runs plan [--date D] [--force] [--discovery]
        prints "WHICH DISCOVERY DATE": full | discovery-only | skip, 0|1, the day
    python -m divpipe.runs rerun-plan [--run-id ID]
        for --rerun-failed: "RUN_ID AS_OF", then "TASK STATUS" for each task
        of that run (default: the last one) that failed, timed out, was skipped or
        interrupted
    python -m divpipe.runs start --run-id ID --driver v3 --log-path P --state-dir D
        [--as-of DAY] [--rerun-of ID]
        records the run as running; keeps the database's write counters
    python -m divpipe.runs finish --run-id ID --driver v3 --state-dir D --started-at T
        --main-log P --summary S [--strict] [--interrupted TERM|INT] [--skipped WHY]
        prints the report, writes the summary and history, exits with the run's code
"""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path

from divpipe.config import get_settings
from divpipe.entry import ArgumentParser, run
from divpipe.errors import ConfigError, DivpipeError
from divpipe.market_time import exchange_today

STATUS_ICON = {"success": "✅", "warning": "⚠️", "failed": "❌", "interrupted": "❌",
               "skipped": "⏭", "running": "⏳"}


def _day(raw: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ConfigError(f"--date: expected YYYY-MM-DD, got {raw!r}") from None


def _positive(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"--last: expected a whole number, got {raw!r}") from None
    if value < 1:
        raise ConfigError(f"--last: must be at least 1, got {value}")
    return value


# --- history table ---------------------------------------------------------------------------

_RECENT_SQL = """
SELECT r.run_id, r.driver, r.started_at, r.finished_at, r.status, r.exit_code, r.rows_written,
       (SELECT string_agg(t.task || ' ' || t.status, ', ' ORDER BY t.started_at NULLS LAST, t.task)
        FROM task_runs t WHERE t.run_id = r.run_id AND t.status IN ('failed', 'timeout', 'interrupted')),
       r.rerun_of
FROM pipeline_runs r
ORDER BY r.started_at DESC
LIMIT %s
"""


def recent_runs(conn, last: int) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(_RECENT_SQL, (last,))
        return cur.fetchall()


def _duration(started, finished) -> str:
    if finished is None:
        return "-"
    whole = round((finished - started).total_seconds())
    return f"{whole // 60}m {whole % 60:02d}s"


def format_table(rows: list[tuple]) -> str:
    if not rows:
        return "no runs recorded yet"
    header = ("RUN ID", "DRIVER", "STARTED", "TOOK", "STATUS", "EXIT", "ROWS", "PROBLEMS")
    body = []
    for run_id, driver, started, finished, status, exit_code, rows_written, problems, rerun_of in rows:
        if rerun_of:
            problems = f"rerun of {rerun_of}" + (f"; {problems}" if problems else "")
        body.append((
            run_id,
            driver,
            started.astimezone().strftime("%Y-%m-%d %H:%M:%S"),
            _duration(started, finished),
            f"{STATUS_ICON.get(status, '?')} {status}",
            "-" if exit_code is None else str(exit_code),
            "-" if rows_written is None else str(rows_written),
            problems or "",
        ))
    widths = [max(len(str(r[i])) for r in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in [header, *body]]
    return "\n".join(lines)


def _table(argv: list[str]) -> int:
    parser = ArgumentParser(prog="python -m divpipe runs",
                                     description="recent pipeline runs, newest first")
    parser.add_argument("--last", type=_positive, default=10, help="how many runs (default 10)")
    parser.add_argument("--simulate", action="store_true",
                        help="the runs of --simulate, kept apart in their own database")
    args = parser.parse_args(argv)
    from divpipe.db.connect import connect

    settings = get_settings()
    if args.simulate:
        settings = settings.for_simulation()
    conn = connect(settings, create=False)
    try:
        print(format_table(recent_runs(conn, args.last)))
    finally:
        conn.close()
    return 0


# --- driver helpers --------------------------------------------------------------------------

def _plan(argv: list[str]) -> int:
    from divpipe.driver_gate import plan_for

    parser = ArgumentParser(prog="python -m divpipe.runs plan")
    parser.add_argument("--date", type=_day, default=None)
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--discovery", action="store_true")
    args = parser.parse_args(argv)
    get_settings()  # a bad setting stops the run here, with exit 2, before any task starts
    print(plan_for(args.date, force=args.force, discovery=args.discovery).as_line())
    return 0


RERUN_STATUSES = ("failed", "timeout", "skipped", "interrupted")


def rerun_plan(conn, run_id: str | None) -> tuple[str, date, list[tuple[str, str]]]:
    """(run id, its as-of date, [(task, status)]) for --rerun-failed.

    The run is the one named, or the last one that started. Its tasks to run
    again are those that failed, timed out, were skipped or interrupted.
    """
    with conn.cursor() as cur:
        if run_id is None:
            cur.execute("SELECT run_id FROM pipeline_runs ORDER BY started_at DESC LIMIT 1")
            row = cur.fetchone()
            if row is None:
                raise ConfigError("--rerun-failed: no run is recorded yet, so there is nothing to run again")
            run_id = row[0]
        cur.execute("SELECT status, as_of, started_at FROM pipeline_runs WHERE run_id = %s", (run_id,))
        row = cur.fetchone()
        if row is None:
            raise ConfigError(f"--rerun-failed: no run {run_id} in pipeline_runs (see python -m divpipe runs)")
        status, as_of, started_at = row
        cur.execute("SELECT task, status FROM task_runs WHERE run_id = %s AND status = ANY(%s) "
                    "ORDER BY started_at NULLS LAST, task", (run_id, list(RERUN_STATUSES)))
        tasks = cur.fetchall()
    if status == "running":
        # Its driver was killed (no EXIT trap): the tasks' outcomes were never recorded.
        raise DivpipeError(f"--rerun-failed: run {run_id} has no recorded end (its driver died): "
                           "run the whole night again, without --rerun-failed")
    as_of = as_of or exchange_today(started_at)
    return run_id, as_of, tasks


def _rerun_plan(argv: list[str]) -> int:
    from divpipe.db.connect import connect

    parser = ArgumentParser(prog="python -m divpipe.runs rerun-plan")
    parser.add_argument("--run-id", default=None)
    args = parser.parse_args(argv)
    conn = connect(get_settings(), create=False)
    try:
        run_id, as_of, tasks = rerun_plan(conn, args.run_id)
    finally:
        conn.close()
    print(run_id, as_of.isoformat())
    for task, status in tasks:
        print(task, status)
    return 0


def _start(argv: list[str]) -> int:
    from divpipe.db.connect import connect
    from divpipe.driver_completeness import write_counters
    from divpipe.driver_finish import COUNTERS_FILE

    parser = ArgumentParser(prog="python -m divpipe.runs start")
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--driver", required=True)
    parser.add_argument("--log-path", required=True)
    parser.add_argument("--state-dir", required=True, type=Path)
    parser.add_argument("--as-of", type=_day, default=None)
    parser.add_argument("--rerun-of", default=None)
    args = parser.parse_args(argv)
    conn = connect(get_settings())
    try:
        (args.state_dir / COUNTERS_FILE).write_text(json.dumps(write_counters(conn)))
        with conn, conn.cursor() as cur:
            # We hold the lock: a run still marked running died without recording its end
            # (SIGKILL, power loss).
            cur.execute(
                "UPDATE pipeline_runs SET status = 'failed', "
                "error = 'the driver died before recording the end of the run' "
                "WHERE status = 'running' AND run_id <> %s",
                (args.run_id,),
            )
            cur.execute(
                "INSERT INTO pipeline_runs (run_id, driver, started_at, status, log_path, as_of, rerun_of) "
                "VALUES (%s, %s, now(), 'running', %s, %s, %s) ON CONFLICT (run_id) DO NOTHING",
                (args.run_id, args.driver, args.log_path, args.as_of, args.rerun_of),
            )
    finally:
        conn.close()
    return 0


def _finish(argv: list[str]) -> int:
    from divpipe.driver_finish import FinishRequest, finish

    parser = ArgumentParser(prog="python -m divpipe.runs finish")
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--driver", required=True)
    parser.add_argument("--state-dir", required=True, type=Path)
    parser.add_argument("--started-at", required=True, type=lambda s: float(s.replace(",", ".")))
    parser.add_argument("--main-log", required=True)
    parser.add_argument("--summary", required=True, type=Path)
    parser.add_argument("--strict", action="store_true")
    parser.add_argument("--schedule", choices=["phases", "overlap"], default="phases")
    parser.add_argument("--as-of", type=_day, default=None)
    parser.add_argument("--rerun-of", default=None)
    parser.add_argument("--interrupted", choices=["TERM", "INT"])
    parser.add_argument("--skipped")
    args = parser.parse_args(argv)
    return finish(FinishRequest(
        run_id=args.run_id,
        driver=args.driver,
        state_dir=args.state_dir,
        started_at=args.started_at,
        main_log=args.main_log,
        summary_path=args.summary,
        strict=args.strict,
        schedule=args.schedule,
        as_of=args.as_of,
        rerun_of=args.rerun_of,
        interrupted=args.interrupted,
        skipped=args.skipped,
    ))


def _timeouts(argv: list[str]) -> int:
    """`timeouts TASK...`: each task's limit for the driver, as "TASK MICROSECONDS" lines."""
    parser = ArgumentParser(prog="python -m divpipe.runs timeouts")
    parser.add_argument("tasks", nargs="*")
    args = parser.parse_args(argv)
    settings = get_settings()
    for task in args.tasks:
        print(task, round(settings.task_timeout_seconds(task) * 1_000_000))
    return 0


SUBCOMMANDS = {"plan": _plan, "rerun-plan": _rerun_plan, "start": _start, "finish": _finish,
               "timeouts": _timeouts}


def _main(argv: list[str]) -> int:
    if argv and argv[0] in SUBCOMMANDS:
        return SUBCOMMANDS[argv[0]](argv[1:])
    return _table(argv)


def main(argv: list[str]) -> int:
    return run(_main, argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
