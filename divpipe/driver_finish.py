"""The end of a driver run: report, run history, summary JSON, exit code.

Called by the drivers as `python -m divpipe.runs finish ...` once every task
has stopped and the task logs are merged. Prints the ⚡ PERFORMANCE
BREAKDOWN and 📊 DATA COMPLETENESS sections (the driver appends them to the
main log), writes `$LOG_DIR/summary_<run_id>.json`, records the run in
pipeline_runs and task_runs, and returns the run's exit code.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import psycopg2

from divpipe.atomic import write_text_atomically
from divpipe.config import Settings, get_settings
from divpipe.db.failures import first_line, rollback_quietly
from divpipe.driver_completeness import (
    figures,
    measure,
    report_lines,
    rows_written,
    worst_level,
    write_counters,
)
from divpipe.driver_gate import last_completed_session
from divpipe.driver_report import decide_outcome, duration_alerts, performance_breakdown
from divpipe.driver_state import TaskResult, phase_spans, read_phases, read_tasks, to_datetime
from divpipe.errors import DivpipeError
from divpipe.net import requestlog

log = logging.getLogger(__name__)

COUNTERS_FILE = "counters_before.json"
STATUS_ICON = {"success": "✅", "warning": "⚠️", "failed": "❌", "interrupted": "❌", "skipped": "⏭"}


@dataclass(frozen=True)
class FinishRequest:
    run_id: str
    driver: str
    state_dir: Path
    started_at: float
    main_log: str
    summary_path: Path
    strict: bool = False
    schedule: str = "phases"  # or "overlap"
    as_of: date | None = None
    rerun_of: str | None = None
    interrupted: str | None = None
    skipped: str | None = None


def _connect(settings: Settings):
    from divpipe.db.connect import connect

    return connect(settings)


def _rows_written(conn, request: FinishRequest) -> dict[str, dict[str, int]] | None:
    before_path = request.state_dir / COUNTERS_FILE
    if not before_path.exists():
        return None
    return rows_written(json.loads(before_path.read_text()), write_counters(conn))


def _completeness(conn, written, settings: Settings, measure_figures: bool):
    """(lines, level, figures as dicts)."""
    session = last_completed_session(datetime.now(UTC))
    if not measure_figures:
        lines = report_lines([], written, session)
        lines.insert(1, "  coverage not measured: the main update did not run")
        return lines, "n/a", []
    counts = measure(conn, session)
    found = figures(counts, settings)
    level = "warning" if counts["tracked"] == 0 else worst_level([f.level for f in found])
    return report_lines(found, written, session), level, [f.as_dict() for f in found]


def _task_dict(t: TaskResult, run_started: float) -> dict:
    return {
        "name": t.name,
        "phase": t.phase,
        "critical": t.critical,
        "status": t.status,
        "exit_code": t.exit_code,
        "started_at": _iso(to_datetime(t.started)),
        "finished_at": _iso(to_datetime(t.finished)),
        "start_offset_seconds": None if t.started is None else round(t.started - run_started, 3),
        "seconds": round(t.seconds, 3),
        "needs": list(t.needs),
        "log_path": t.log_path,
        "note": t.note or None,
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _write_json_atomically(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomically(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def _draw_timeline(summary: dict, summary_path: Path) -> str:
    """timeline_<run id>.png beside the summary; a picture that fails costs only a ⚠️ line."""
    from divpipe.timeline import draw

    out = summary_path.with_name(f"timeline_{summary['run_id']}.png")
    try:
        draw(summary, out)
    except Exception as err:  # noqa: BLE001 - the run's outcome never depends on its picture
        return f"⚠️ timeline not drawn: {type(err).__name__}: {err}"
    return f"🖼️ timeline: {out}"


def record_run(conn, summary: dict) -> None:
    """Upsert the run's pipeline_runs row and its task_runs rows in one transaction."""
    with conn, conn.cursor() as cur:
        cur.execute(
            """
            INSERT INTO pipeline_runs (run_id, driver, started_at, finished_at, status, exit_code,
                                       rows_written, log_path, error, as_of, rerun_of)
            VALUES (%(run_id)s, %(driver)s, %(started_at)s, %(finished_at)s, %(status)s,
                    %(exit_code)s, %(rows_written_total)s, %(log_path)s, %(error)s, %(as_of)s, %(rerun_of)s)
            ON CONFLICT (run_id) DO UPDATE SET
                driver = EXCLUDED.driver, started_at = EXCLUDED.started_at,
                finished_at = EXCLUDED.finished_at, status = EXCLUDED.status,
                exit_code = EXCLUDED.exit_code, rows_written = EXCLUDED.rows_written,
                log_path = EXCLUDED.log_path, error = EXCLUDED.error, as_of = EXCLUDED.as_of,
                rerun_of = EXCLUDED.rerun_of
            """,
            {**summary, "error": "; ".join(summary["reasons"]) or None},
        )
        for task in summary["tasks"]:
            cur.execute(
                """
                INSERT INTO task_runs (run_id, task, driver, phase, critical, started_at, finished_at,
                                       status, exit_code, rows_written, log_path, error)
                VALUES (%(run_id)s, %(name)s, %(driver)s, %(phase)s, %(critical)s, %(started_at)s,
                        %(finished_at)s, %(status)s, %(exit_code)s, NULL, %(log_path)s, %(note)s)
                ON CONFLICT (run_id, task) DO UPDATE SET
                    driver = EXCLUDED.driver, phase = EXCLUDED.phase, critical = EXCLUDED.critical,
                    started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at,
                    status = EXCLUDED.status, exit_code = EXCLUDED.exit_code,
                    log_path = EXCLUDED.log_path, error = EXCLUDED.error
                """,
                {**task, "run_id": summary["run_id"], "driver": summary["driver"]},
            )


def finish(request: FinishRequest, settings: Settings | None = None) -> int:
    settings = settings or get_settings()
    tasks = read_tasks(request.state_dir)
    phases = phase_spans(tasks) if request.schedule == "overlap" else read_phases(request.state_dir)
    finished_at = time.time()
    total = max(0.0, finished_at - request.started_at)
    lines: list[str] = []
    alerts: list[str] = []
    if not request.skipped:
        lines += performance_breakdown(tasks, phases, total, run_started=request.started_at,
                                       schedule=request.schedule)
        alerts = duration_alerts(
            phases,
            total,
            total_minutes=settings.alert_total_minutes,
            phase1_minutes=settings.alert_phase1_minutes,
            phase2_minutes=settings.alert_phase2_minutes,
        )
        lines += alerts

    conn, db_error = None, None
    try:
        conn = _connect(settings)
    except DivpipeError as err:
        db_error = str(err)

    level, found, written, unmeasured = "n/a", [], None, None
    if conn is not None:
        try:
            written = _rows_written(conn, request)
        except psycopg2.Error as err:
            rollback_quietly(conn)
            lines.append(f"⚠️ rows written unknown: {first_line(err)}")
    if not request.skipped and not request.interrupted:
        lines.append("")
        main_update_ran = any(t.phase == "step2" and t.started is not None for t in tasks)
        if conn is None:
            lines += ["📊 DATA COMPLETENESS", f"  ❌ cannot measure: {db_error}"]
            level, unmeasured = "critical", db_error
        else:
            try:
                section, level, found = _completeness(conn, written, settings, main_update_ran)
                lines += section
            except psycopg2.Error as err:
                rollback_quietly(conn)
                unmeasured = f"the database failed: {first_line(err)}"
                lines += ["📊 DATA COMPLETENESS", f"  ❌ cannot measure: {unmeasured}"]
                level = "critical"

    completeness_warnings = []
    if level == "warning":
        completeness_warnings.append("data completeness: " + (
            "no symbols are tracked" if found and found[0]["total"] == 0
            else "a figure is below its warning threshold"))
    outcome = decide_outcome(
        tasks,
        interrupted=request.interrupted,
        skipped=request.skipped,
        strict=request.strict,
        completeness_level=level,
        warnings=alerts + completeness_warnings,
        unmeasured=unmeasured,
    )
    summary = {
        "run_id": request.run_id,
        "driver": request.driver,
        "schedule": request.schedule,
        "as_of": request.as_of.isoformat() if request.as_of else None,
        "rerun_of": request.rerun_of,
        # Every request of a simulated run went to the simulator: its data is not the market's.
        "simulated": bool(settings.divpipe_simulator_url),
        "status": outcome.status,
        "exit_code": outcome.exit_code,
        "reasons": outcome.reasons,
        "started_at": _iso(to_datetime(request.started_at)),
        "finished_at": _iso(to_datetime(finished_at)),
        "seconds": round(total, 3),
        "log_path": request.main_log,
        "phases": {name: round(p.seconds, 3) for name, p in phases.items()},
        "tasks": [_task_dict(t, request.started_at) for t in tasks],
        # Requests each host was sent, per second since the run started (from every task's limiter).
        "requests_per_second": requestlog.per_second_since(requestlog.merge(request.state_dir),
                                                           request.started_at),
        "alerts": alerts,
        "completeness": {"level": level, "figures": found},
        "rows_written": written,
        "rows_written_total": None if written is None else sum(sum(v.values()) for v in written.values()),
    }
    _write_json_atomically(request.summary_path, summary)
    timeline_line = _draw_timeline(summary, request.summary_path)

    if conn is None:
        lines.append(f"⚠️ run history not recorded: {db_error}")
    else:
        try:
            record_run(conn, summary)
        except psycopg2.Error as err:
            lines.append(f"⚠️ run history not recorded: {first_line(err)}")
        finally:
            conn.close()

    icon = STATUS_ICON.get(outcome.status, "?")
    why = f": {'; '.join(outcome.reasons)}" if outcome.reasons else ""
    lines += [
        "",
        timeline_line,
        f"📄 summary: {request.summary_path}",
        f"{icon} run {request.run_id} {outcome.status.upper()} (exit {outcome.exit_code}){why}",
    ]
    print("\n".join(lines), flush=True)
    return outcome.exit_code
