"""What a driver hands to `python -m divpipe.runs finish`: its tasks and phases.

The driver writes two tab-separated files into its state directory:

- tasks.tsv: name, phase, critical (0/1), status, exit code, start, end,
  log path, note, needs (space-separated task names); one line per task
  scheduled in this run, in the task list's order;
- phases.tsv: phase, start, end; one line per phase that ran (not with
  --overlap, where phases are no unit of the schedule: `phase_spans`).

Times are epoch seconds from bash's $EPOCHREALTIME (either decimal mark).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

PHASES = ("discovery", "phase1", "step2", "phase2")


@dataclass(frozen=True)
class TaskResult:
    name: str
    phase: str
    critical: bool
    status: str  # success, failed, timeout, skipped, interrupted
    exit_code: int | None
    started: float | None
    finished: float | None
    log_path: str
    note: str = ""
    needs: tuple[str, ...] = ()

    @property
    def seconds(self) -> float:
        if self.started is None or self.finished is None:
            return 0.0
        return max(0.0, self.finished - self.started)


@dataclass(frozen=True)
class PhaseTiming:
    phase: str
    started: float
    finished: float

    @property
    def seconds(self) -> float:
        return max(0.0, self.finished - self.started)


def epoch(raw: str) -> float | None:
    raw = raw.strip().replace(",", ".")
    return float(raw) if raw else None


def to_datetime(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, tz=UTC)


def _rows(path: Path, width: int) -> list[list[str]]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        fields = line.split("\t")
        fields += [""] * (width - len(fields))
        rows.append(fields[:width])
    return rows


def read_tasks(state_dir: Path) -> list[TaskResult]:
    tasks = []
    for name, phase, critical, status, code, start, end, log_path, note, needs in _rows(
        state_dir / "tasks.tsv", 10
    ):
        tasks.append(
            TaskResult(
                name=name,
                phase=phase,
                critical=critical == "1",
                status=status,
                exit_code=int(code) if code.strip() else None,
                started=epoch(start),
                finished=epoch(end),
                log_path=log_path,
                note=note,
                needs=tuple(needs.split()),
            )
        )
    return tasks


def read_phases(state_dir: Path) -> dict[str, PhaseTiming]:
    timings = {}
    for phase, start, end in _rows(state_dir / "phases.tsv", 3):
        started, finished = epoch(start), epoch(end)
        if started is not None and finished is not None:
            timings[phase] = PhaseTiming(phase, started, finished)
    return timings


def phase_spans(tasks: list[TaskResult]) -> dict[str, PhaseTiming]:
    """Each phase as the span of its tasks that ran: first start to last end.

    Under --overlap phases are not run one after another, but the breakdown's
    phase lines and the duration alerts still speak of them.
    """
    spans = {}
    for phase in PHASES:
        ran = [t for t in tasks if t.phase == phase and t.started is not None]
        if ran:
            spans[phase] = PhaseTiming(phase, min(t.started for t in ran),
                                       max(t.finished or t.started for t in ran))
    return spans
