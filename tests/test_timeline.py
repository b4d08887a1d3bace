"""A run's timeline picture, from its summary JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from divpipe.timeline import tasks_of

PROJECT = Path(__file__).resolve().parent.parent


def _summary() -> dict:
    def task(name, phase, start, end, status="success", critical=False):
        return {"name": name, "phase": phase, "critical": critical, "status": status, "exit_code": 0,
                "started_at": start and f"2026-12-01T23:30:{start:02d}+00:00",
                "finished_at": end and f"2026-12-01T23:30:{end:02d}+00:00",
                "seconds": (end or 0) - (start or 0), "log_path": f"/logs/{name}.log", "note": None}
    return {"run_id": "20261201T233000Z-v3-1", "status": "warning", "seconds": 40.0,
            "started_at": "2026-12-01T23:30:00+00:00",
            "tasks": [task("cboe", "phase1", 1, 9, "failed"), task("nasdaq", "phase1", 1, 4),
                      task("main_update", "step2", 10, 30, critical=True), task("backup", "phase2", 31, 39),
                      task("holdings", "phase2", None, None, "skipped")]}


def test_tasks_come_back_from_the_summary_with_their_times():
    tasks = {t.name: t for t in tasks_of(_summary())}
    assert tasks["main_update"].seconds == 20 and tasks["main_update"].critical
    assert tasks["holdings"].started is None and tasks["holdings"].status == "skipped"


def test_report_draws_a_png_from_a_summary_file(tmp_path):
    summary = tmp_path / "summary_20261201T233000Z-v3-1.json"
    summary.write_text(json.dumps(_summary()))
    out = tmp_path / "out" / "timeline.png"
    done = subprocess.run([sys.executable, "-m", "divpipe", "report", str(summary), "--png", str(out)],
                          cwd=PROJECT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(out.parent.glob("*.partial"))


def test_report_of_an_unknown_run_or_a_broken_file_is_one_line_and_exit_2(tmp_path):
    broken = tmp_path / "summary_x.json"
    broken.write_text("{not json")
    for ref in ("20990101T000000Z-v3-9", str(broken)):
        done = subprocess.run([sys.executable, "-m", "divpipe", "report", ref, "--png", str(tmp_path / "o.png")],
                              cwd=PROJECT, capture_output=True, text=True, timeout=120,
                              env={"LOG_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"})
        assert done.returncode == 2, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and done.stderr.startswith("❌ report:")
    assert not (tmp_path / "o.png").exists()


def test_the_requests_per_second_of_each_host_go_below_the_tasks(tmp_path):
    import matplotlib.image

    from divpipe.timeline import draw

    plain = draw(_summary(), tmp_path / "plain.png")
    summary = {**_summary(), "requests_per_second": {"yahoo": [[10, 4], [11, 4], [13, 2]],
                                                     "www.cboe.com": [[1, 2]], "idle.example": []}}
    with_traffic = draw(summary, tmp_path / "traffic.png")
    # A second panel under the same time axis: a taller picture, as wide.
    height, width = matplotlib.image.imread(plain).shape[:2]
    taller, same_width = matplotlib.image.imread(with_traffic).shape[:2]
    assert taller > height + 150 and same_width == width
