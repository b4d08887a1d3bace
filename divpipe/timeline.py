"""A picture of a run: a Gantt chart of its tasks from the run's summary JSON.

    python -m divpipe report RUN_ID|SUMMARY.json --png OUT.png

Bars are coloured by outcome; the tasks of the critical path have a heavy
outline and are named in the title. Below, when the summary has them, the
requests sent to each host per second. The drivers draw `timeline_<run id>.png`
beside each summary. Everything comes from the summary, so any past run can
be drawn again, here or on another machine.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from divpipe.config import get_settings
from divpipe.driver_report import critical_path
from divpipe.driver_state import TaskResult
from divpipe.entry import ArgumentParser, run
from divpipe.errors import ConfigError

COLOURS = {"success": "#2e7d32", "warning": "#f9a825", "failed": "#c62828", "timeout": "#6a1b9a",
           "interrupted": "#ef6c00", "skipped": "#9e9e9e", "running": "#1565c0"}


def _epoch(text: str | None) -> float | None:
    return datetime.fromisoformat(text).timestamp() if text else None


def tasks_of(summary: dict) -> list[TaskResult]:
    return [TaskResult(t["name"], t["phase"], bool(t["critical"]), t["status"], t.get("exit_code"),
                       _epoch(t.get("started_at")), _epoch(t.get("finished_at")), t.get("log_path") or "",
                       t.get("note") or "", tuple(t.get("needs") or ()))
            for t in summary["tasks"]]


def draw(summary: dict, out: Path) -> Path:
    """Write the run's timeline as a PNG at `out` (written to a temporary name, then renamed)."""
    import matplotlib

    matplotlib.use("Agg")  # no display: cron, CI
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    tasks = tasks_of(summary)
    run_start = _epoch(summary["started_at"]) or 0.0
    path = critical_path(tasks, summary.get("schedule", "phases"))
    on_path = {name for name, _ in path.tasks}
    traffic = {host: points for host, points in (summary.get("requests_per_second") or {}).items() if points}
    height = 0.45 * len(tasks) + 1.6
    if traffic:
        fig, (ax, below) = plt.subplots(2, 1, sharex=True, dpi=100, figsize=(10, height + 2.4),
                                        gridspec_kw={"height_ratios": [height, 2.4]})
        _draw_traffic(below, traffic)
    else:
        fig, ax = plt.subplots(figsize=(10, height), dpi=100)
    for row, t in enumerate(tasks):
        colour = COLOURS.get(t.status, "#607d8b")
        if t.started is None:
            ax.text(0, row, f"  {t.status}", va="center", fontsize=8, color=colour)
            continue
        start = t.started - run_start
        ax.barh(row, max(t.seconds, 0.05), left=start, color=colour,
                edgecolor="black" if t.name in on_path else colour,
                linewidth=2.5 if t.name in on_path else 0.5)
        ax.text(start + t.seconds, row, f" {t.seconds:.1f}s", va="center", fontsize=8)
    ax.set_yticks(range(len(tasks)), [t.name for t in tasks])
    ax.invert_yaxis()
    ax.set_xlim(left=0)
    if not traffic:
        ax.set_xlabel("seconds since the run started")
    chain = " → ".join(name for name, _ in path.tasks)
    ax.set_title(f"{summary['run_id']}: {summary['status']} in {summary.get('seconds', 0):.0f}s\n"
                 f"critical path (heavy outline): {chain}", fontsize=9)
    shown = sorted({t.status for t in tasks})
    ax.legend(handles=[Patch(color=COLOURS.get(s, "#607d8b"), label=s) for s in shown],
              loc="lower right", fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    fig.savefig(partial, format="png")
    plt.close(fig)
    partial.replace(out)
    return out


def _draw_traffic(ax, traffic: dict[str, list[list[int]]]) -> None:
    """One step line per host: requests sent in each second (seconds without any are zero)."""
    for host, points in sorted(traffic.items()):
        counts = dict((int(second), int(n)) for second, n in points)
        seconds = range(min(counts), max(counts) + 2)
        ax.step(list(seconds), [counts.get(s, 0) for s in seconds], where="post", linewidth=1, label=host)
    ax.set_ylabel("requests/s")
    ax.set_ylim(bottom=0)
    ax.set_xlabel("seconds since the run started")
    ax.legend(loc="upper right", fontsize=7, ncol=3)
    ax.grid(alpha=0.3)


def find_summary(ref: str) -> Path:
    """A summary JSON path, or a run id looked up in LOG_DIR (and LOG_DIR/simulate)."""
    path = Path(ref)
    if path.suffix == ".json":
        if not path.exists():
            raise ConfigError(f"report: no such summary file: {path}")
        return path
    log_dir = get_settings().log_dir
    for candidate in (log_dir / f"summary_{ref}.json", log_dir / "simulate" / f"summary_{ref}.json"):
        if candidate.exists():
            return candidate
    raise ConfigError(f"report: no summary for run {ref!r} in {log_dir} (give the summary's path instead)")


def load_summary(path: Path) -> dict:
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
        tasks_of(summary)
        return summary
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ConfigError(f"report: {path} is not a run summary ({type(err).__name__}: {err})") from None


def _main(argv: list[str]) -> int:
    parser = ArgumentParser(prog="python -m divpipe report",
                            description="draw a run's timeline (Gantt chart of its tasks) as a PNG")
    parser.add_argument("run", metavar="RUN_ID|SUMMARY.json", help="a run id or the path of its summary JSON")
    parser.add_argument("--png", type=Path, required=True, metavar="OUT.png", help="where to write the picture")
    args = parser.parse_args(argv)
    path = find_summary(args.run)
    out = draw(load_summary(path), args.png)
    print(f"🖼️ timeline of {path.name}: {out}")
    return 0


def main(argv: list[str]) -> int:
    return run(_main, argv)
