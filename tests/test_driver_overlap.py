"""The task graph: `needs` in the task list, v3 --overlap, and the failure rule on the graph.

Fake tasks (tests/plugins/fake_pipeline.py) on a real database, so each run takes seconds.
"""

from __future__ import annotations

import itertools
import subprocess

from tests.plugins.fake_pipeline import ROOT, V2, V3

NIGHT = [
    ("discovery", "discovery", "critical"),
    ("yieldmax", "phase1", "noncritical"),
    ("cboe", "phase1", "noncritical"),
    ("main_update", "step2", "critical"),
    ("companies", "phase2", "noncritical"),
    ("future_div", "phase2", "noncritical"),
    ("backup", "phase2", "noncritical"),
]
NEEDS = {
    "yieldmax": ["discovery"],
    "cboe": ["discovery"],
    "main_update": ["discovery"],
    "companies": ["main_update"],
    "future_div": ["yieldmax", "cboe"],
    "backup": ["yieldmax", "cboe", "main_update", "companies", "future_div"],
}


def by_name(summary: dict) -> dict[str, dict]:
    return {t["name"]: t for t in summary["tasks"]}


def assert_needs_were_honoured(summary: dict) -> None:
    tasks = by_name(summary)
    for task in tasks.values():
        for need in task["needs"]:
            if task["started_at"] is not None:
                assert tasks[need]["finished_at"] <= task["started_at"], (task["name"], need)


def test_the_real_task_list_writes_down_the_real_dependencies():
    listing = subprocess.run(
        ["bash", "-c", 'task() { :; }; needs() { echo "$*"; }; EXPORT_TARGET=s3://lake source scripts/tasks.sh'],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.splitlines()
    needs: dict[str, set[str]] = {}
    for line in listing:
        name, *deps = line.split()
        needs.setdefault(name, set()).update(deps)
    from divpipe.sources import registry

    scrapers = {spec.task for spec in registry.SPECS if spec.task}
    # Discovery reads every scraped table, so no scraper writes before it has read them.
    assert {s for s in scrapers if needs.get(s) == {"discovery"}} == scrapers
    assert needs["main_update"] == {"discovery"}
    assert needs["companies"] == needs["holdings"] == {"main_update"}
    assert needs["future_div"] == scrapers
    writers = scrapers | {"main_update", "companies", "holdings", "future_div"}
    assert needs["export"] == writers
    assert needs["backup"] == writers | {"export"}


def test_overlap_starts_a_task_when_its_needs_finish_not_when_its_phase_does(fake):
    # cboe holds phase 1 open until the company refresh, two steps later, has run:
    # only a driver that follows the needs instead of the phases gets there.
    fake.define(NIGHT, NEEDS, cboe=f'for _ in $(seq 200); do [[ -e "{fake.markers}/companies" ]] && exit 0; '
                                  'sleep 0.05; done; echo "❌ companies never ran"; exit 1')
    result = fake.run(V3, "--force", "--discovery", "--overlap")
    assert result.returncode == 0, result.stdout + result.stderr
    summary = fake.summary(result)
    assert summary["schedule"] == "overlap"
    assert {t["status"] for t in summary["tasks"]} == {"success"}, result.stdout
    assert_needs_were_honoured(summary)
    tasks = by_name(summary)
    assert tasks["main_update"]["started_at"] < tasks["cboe"]["finished_at"]
    assert tasks["backup"]["needs"] == NEEDS["backup"]
    assert tasks["discovery"]["start_offset_seconds"] <= tasks["cboe"]["start_offset_seconds"]
    out = result.stdout
    assert "━━ Overlapped tasks (--overlap" in out
    assert "Critical path: discovery " in out and "(longest chain of needs)" in out
    # The phases' lines users grep for are still there, each the span of its tasks.
    assert "  Phase 1 (Parallel Scrapers): " in out and "  Phase 2 (Parallel Post-Tasks): " in out


def test_overlap_a_failed_critical_task_skips_its_dependents_and_nothing_else(fake):
    fake.define(NIGHT, NEEDS, main_update="exit 1", cboe="exit 3")
    result = fake.run(V3, "--force", "--discovery", "--overlap")
    assert result.returncode == 1, result.stdout + result.stderr
    tasks = by_name(fake.summary(result))
    status = {name: t["status"] for name, t in tasks.items()}
    assert status == {"discovery": "success", "yieldmax": "success", "cboe": "failed", "main_update": "failed",
                      "companies": "skipped", "future_div": "success", "backup": "skipped"}
    # A non-critical failure (cboe) skips nothing: future_div ran on what the others wrote.
    assert tasks["companies"]["note"] == "critical task main_update failed (exit 1)"
    assert tasks["backup"]["note"] == "critical task main_update failed (exit 1)"
    assert fake.ran() == {"discovery", "yieldmax", "cboe", "main_update", "future_div"}
    assert "❌ skipping companies, backup: critical task main_update failed (exit 1)" in result.stdout


def test_overlap_a_failed_discovery_skips_everything_after_it(fake):
    fake.define(NIGHT, NEEDS, discovery="exit 1")
    result = fake.run(V3, "--force", "--discovery", "--overlap")
    assert result.returncode == 1
    assert fake.ran() == {"discovery"}
    assert {t["status"] for t in fake.summary(result)["tasks"] if t["name"] != "discovery"} == {"skipped"}


def test_without_overlap_v3_keeps_its_phases_and_honours_needs_inside_a_phase(fake):
    fake.define(NIGHT, {"backup": ["companies"]}, companies="sleep 1")
    result = fake.run(V3, "--force", "--discovery")
    assert result.returncode == 0, result.stdout + result.stderr
    summary = fake.summary(result)
    assert summary["schedule"] == "phases"
    tasks = by_name(summary)
    assert_needs_were_honoured(summary)
    # future_div has no needs: it still runs beside companies, as phase 2 always did.
    assert tasks["future_div"]["started_at"] < tasks["companies"]["finished_at"]
    assert "━━ Phase 2 (Parallel Post-Tasks): companies future_div backup" in result.stdout


def test_v2_stays_serial_and_refuses_overlap(fake):
    result = fake.run(V2, "--force", "--overlap")
    assert result.returncode == 2
    assert result.stderr.strip() == ("❌ daily_update_v2.sh: --overlap: v2 runs one task at a time; "
                                     "use daily_update_v3_parallel.sh --overlap (try --help)")
    fake.define(NIGHT, NEEDS)
    # The setting is v3's: v2, the driver users roll back to, ignores it.
    result = fake.run(V2, "--force", "--discovery", DRIVER_OVERLAP="true")
    assert result.returncode == 0, result.stdout + result.stderr
    summary = fake.summary(result)
    assert summary["schedule"] == "phases"
    spans = sorted((t["started_at"], t["finished_at"]) for t in summary["tasks"])
    assert all(end <= next_start for (_, end), (next_start, _) in itertools.pairwise(spans))
    result = fake.run(V3, "--force", DRIVER_OVERLAP="true")
    assert result.returncode == 0 and fake.summary(result)["schedule"] == "overlap"


def test_a_need_that_is_not_an_earlier_task_is_a_bad_task_list(fake):
    for needs, message in (
        ({"cboe": ["nosuch"]}, "task list: cboe needs nosuch, which is not a task listed before it"),
        ({"yieldmax": ["cboe"]}, "task list: yieldmax needs cboe, which is not a task listed before it"),
    ):
        fake.define(NIGHT, needs)
        result = fake.run(V3, "--force")
        assert result.returncode == 2
        assert result.stderr.strip() == f"❌ daily_update_v3_parallel.sh: {message} (try --help)"
    # An earlier task in a later phase: without --overlap it could never finish first.
    fake.define([("a", "phase2", "noncritical"), ("b", "phase1", "noncritical")], {"b": ["a"]})
    result = fake.run(V3, "--force")
    assert result.returncode == 2 and "b (phase1) needs a, which runs in a later phase (phase2)" in result.stderr
    assert fake.ran() == set()
