"""The end of a run's log: the performance breakdown, duration alerts, and the
run's status and exit code. Pure functions of the tasks' results.

The first lines of the breakdown keep the format users of the replaced
system grep for:

    ⚡ PERFORMANCE BREAKDOWN:
      Phase 1 (Parallel Scrapers): 312s
      Step 2 (Main Update): 1847s
      Phase 2 (Parallel Post-Tasks): 598s

    Total execution time: 48m 23s
"""

from __future__ import annotations

from dataclasses import dataclass, field

from divpipe.driver_state import PHASES, PhaseTiming, TaskResult
from divpipe.errors import EXIT_FAILURE, EXIT_OK

PHASE_LABELS = {
    "phase1": "Phase 1 (Parallel Scrapers)",
    "step2": "Step 2 (Main Update)",
    "phase2": "Phase 2 (Parallel Post-Tasks)",
}
SIGNAL_EXIT = {"INT": 130, "TERM": 143}
MARK = {"success": "✅", "failed": "❌", "timeout": "⏱️", "skipped": "⏭", "interrupted": "❌"}


def minutes_seconds(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 60}m {whole % 60}s"


@dataclass(frozen=True)
class CriticalPath:
    tasks: list[tuple[str, float]]

    @property
    def seconds(self) -> float:
        return sum(seconds for _, seconds in self.tasks)


def critical_path(tasks: list[TaskResult], schedule: str = "phases") -> CriticalPath:
    """The chain of tasks that decided the run's length under its schedule.

    phases: the slowest task of each phase, since phases run one after
    another. overlap: the longest chain of needs (`longest_chain`).
    """
    if schedule == "overlap":
        return longest_chain(tasks)
    chain = []
    for phase in PHASES:
        ran = [t for t in tasks if t.phase == phase and t.started is not None]
        if ran:
            slowest = max(ran, key=lambda t: t.seconds)
            chain.append((slowest.name, slowest.seconds))
    return CriticalPath(chain)


def longest_chain(tasks: list[TaskResult]) -> CriticalPath:
    """The longest chain of `needs` through the tasks that ran, by their durations.

    With no limit on parallelism no schedule of these tasks can finish sooner:
    it is the dependency bound, and --overlap's critical path.
    """
    ran = {t.name: t for t in tasks if t.started is not None}
    best: dict[str, tuple[float, list[tuple[str, float]]]] = {}

    def chain_to(name: str) -> tuple[float, list[tuple[str, float]]]:
        if name not in best:
            task = ran[name]
            before = [chain_to(dep) for dep in task.needs if dep in ran]
            total, path = max(before, key=lambda found: found[0], default=(0.0, []))
            best[name] = (total + task.seconds, [*path, (name, task.seconds)])
        return best[name]

    chains = [chain_to(name) for name in ran]
    return CriticalPath(max(chains, key=lambda found: found[0])[1] if chains else [])


def _chain_text(path: CriticalPath) -> str:
    return " → ".join(f"{name} {seconds:.1f}s" for name, seconds in path.tasks) + f" = {path.seconds:.1f}s"


def performance_breakdown(
    tasks: list[TaskResult],
    phases: dict[str, PhaseTiming],
    total_seconds: float,
    *,
    run_started: float | None = None,
    schedule: str = "phases",
) -> list[str]:
    lines = ["⚡ PERFORMANCE BREAKDOWN:"]
    for phase, label in PHASE_LABELS.items():
        timing = phases.get(phase)
        suffix = "" if timing else " (not run)"
        lines.append(f"  {label}: {round(timing.seconds) if timing else 0}s{suffix}")
    lines += ["", f"Total execution time: {minutes_seconds(total_seconds)}", ""]

    ran = [t for t in tasks if t.started is not None]
    origin = run_started if run_started is not None else min((t.started for t in ran), default=0.0)
    lines.append("  Task durations (start: seconds after the run started):")
    for t in tasks:
        kind = "critical" if t.critical else "non-critical"
        exit_code = "" if t.exit_code is None else f" (exit {t.exit_code})"
        took = f"{t.seconds:.1f}s" if t.started is not None else "-"
        start = f"+{t.started - origin:.1f}s" if t.started is not None else "-"
        note = f": {t.note}" if t.note and t.status != "success" else ""
        lines.append(
            f"    {MARK.get(t.status, '?')} {t.name:<12} {t.phase:<9} {kind:<12} {start:>9} {took:>9}  "
            f"{t.status}{exit_code}{note}"
        )
    path = critical_path(tasks, schedule)
    if path.tasks:
        how = "longest chain of needs" if schedule == "overlap" else "slowest task of each phase"
        lines.append(f"  Critical path: {_chain_text(path)} ({how})")
    if schedule != "overlap" and any(t.needs for t in ran):
        bound = longest_chain(tasks)
        lines.append(f"  With --overlap the longest chain of needs would be: {_chain_text(bound)}")
    serial = sum(t.seconds for t in ran)
    # From the first start to the last end: with --overlap, phases overlap and do not add up.
    wall = max((t.finished or t.started) for t in ran) - min(t.started for t in ran) if ran else 0.0
    # v2's span is a little longer than its tasks (process start-up): no negative saving.
    saved = max(0.0, serial - wall)
    share = f" ({saved / serial:.0%})" if serial > 0 else ""
    lines.append(
        f"  Time saved vs serial: {saved:.1f}s{share} "
        f"(tasks one after another: {serial:.1f}s; the tasks spanned {wall:.1f}s)"
    )
    return lines


def duration_alerts(
    phases: dict[str, PhaseTiming],
    total_seconds: float,
    *,
    total_minutes: float,
    phase1_minutes: float,
    phase2_minutes: float,
) -> list[str]:
    """⚠️ lines for the run and the phases that took longer than their threshold."""
    alerts = []
    checks = [
        ("the whole run", total_seconds, total_minutes, "ALERT_TOTAL_MINUTES"),
        (PHASE_LABELS["phase1"], phases["phase1"].seconds if "phase1" in phases else 0.0,
         phase1_minutes, "ALERT_PHASE1_MINUTES"),
        (PHASE_LABELS["phase2"], phases["phase2"].seconds if "phase2" in phases else 0.0,
         phase2_minutes, "ALERT_PHASE2_MINUTES"),
    ]
    for what, seconds, limit_minutes, setting in checks:
        if seconds > limit_minutes * 60:
            alerts.append(
                f"⚠️ {what} took {minutes_seconds(seconds)}, longer than "
                f"{setting}={limit_minutes:g} min"
            )
    return alerts


@dataclass
class Outcome:
    status: str  # success, warning, failed, interrupted, skipped
    exit_code: int
    reasons: list[str] = field(default_factory=list)


def decide_outcome(
    tasks: list[TaskResult],
    *,
    interrupted: str | None,
    skipped: str | None,
    strict: bool,
    completeness_level: str,
    warnings: list[str],
    unmeasured: str | None = None,
) -> Outcome:
    """The run's status and exit code from everything that happened.

    completeness_level: "ok", "warning" or "critical" (or "n/a" when not measured).
    unmeasured: why completeness could not be measured at all (the database
    is down, say): that fails the run too, but says so instead of blaming a figure.
    """
    if interrupted:
        return Outcome("interrupted", SIGNAL_EXIT.get(interrupted, EXIT_FAILURE),
                       [f"interrupted by SIG{interrupted}"])
    if skipped:
        return Outcome("skipped", EXIT_OK, [skipped])
    failures, soft = [], []
    for t in tasks:
        if t.status not in ("failed", "timeout"):
            continue
        kind = "" if t.critical else ", non-critical"
        # A timeout follows the same critical/non-critical rule as a failure.
        if t.status == "timeout":
            what = f"{t.name} timed out" + ("" if t.critical else " (non-critical)")
        else:
            what = f"{t.name} failed (exit {t.exit_code}{kind})"
        what += f": {t.note}" if t.note else ""
        (failures if t.critical else soft).append(what)
    if strict and soft:
        failures += [f"{s} (--strict)" for s in soft]
        soft = []
    if unmeasured:
        failures.append(f"data completeness not measured: {unmeasured}")
    elif completeness_level == "critical":
        failures.append("a data completeness figure is below its critical threshold")
    if failures:
        return Outcome("failed", EXIT_FAILURE, failures + soft)
    if soft or warnings or completeness_level == "warning":
        return Outcome("warning", EXIT_OK, soft + warnings)
    return Outcome("success", EXIT_OK, [])
