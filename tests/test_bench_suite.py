"""The benchmark suite (`python -m bench`): it runs and prints rows. No timing is asserted.

The whole `--quick` suite is CI's smoke test (.ci/run); here only its cheapest
benchmark (a simulated universe, no database) and the pure functions.
"""

import subprocess
import sys
from pathlib import Path

from bench import suite
from bench.bench_drivers import dependencies, dependency_bound

ROOT = Path(__file__).resolve().parent.parent


def test_quick_only_sim_prints_one_row_with_its_command_and_machine():
    result = subprocess.run([sys.executable, "-m", "bench", "--quick", "--only", "sim"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [line for line in result.stdout.splitlines() if line.startswith("| sim |")]
    assert len(rows) == 1
    assert "`.venv/bin/python -m bench --only sim --quick`" in rows[0]
    assert f"{suite.machine()['cores']} cores" in rows[0]


def test_dependency_bound_is_the_longest_path_through_the_graph():
    durations = {"discovery": 2.0, "cboe": 10.0, "nasdaq": 1.0, "main_update": 6.0, "holdings": 3.0,
                 "future_div": 0.5, "backup": 1.0}
    needs = {"cboe": ["discovery"], "nasdaq": ["discovery"], "main_update": ["discovery"],
             "holdings": ["main_update"], "future_div": ["cboe", "nasdaq"],
             "backup": ["cboe", "nasdaq", "main_update", "holdings", "future_div"]}
    seconds, chain = dependency_bound(durations, needs)
    assert seconds == 2.0 + 10.0 + 0.5 + 1.0
    assert [c.split()[0] for c in chain] == ["discovery", "cboe", "future_div", "backup"]


def test_dependencies_come_from_the_summary_or_not_at_all():
    assert dependencies({"tasks": [{"name": "a"}, {"name": "b"}]}) is None
    summary = {"tasks": [{"name": "a", "needs": []}, {"name": "b", "needs": ["a"]}]}
    assert dependencies(summary) == {"a": [], "b": ["a"]}


def test_markdown_row_keeps_a_pipe_in_a_cell_from_splitting_it():
    row = suite.Row("x", "a | b", 1.5, "s", [1.0, 1.5, 2.0], command="python -m bench --only x")
    table = suite.markdown([row])
    assert table.splitlines()[2].count(" | ") == 9
    assert "1.50 s" in table


def test_the_wrapped_scripts_full_sizes_are_their_defaults():
    from bench import bench_backfill, bench_ratelimit_shared

    for name in ("sim_load", "scrapers", "ratelimit_shared", "export", "backfill", "polygon"):
        assert name in suite.BENCHMARKS
    full = {k: v[0] for k, v in suite.BENCHMARKS["backfill"].params.items()}
    defaults = vars(bench_backfill.parse_args([]))
    assert {k: defaults[k] for k in full} == full
    full = {k: v[0] for k, v in suite.BENCHMARKS["ratelimit_shared"].params.items()}
    defaults = vars(bench_ratelimit_shared.parse_args([]))
    assert {k: defaults[k] for k in full} == full
