"""v2 (one task at a time) against v3 (phases in parallel), on the real task list.

    python bench/bench_drivers.py                      # defaults below
    python bench/bench_drivers.py --symbols 200 --latency-ms 150 --rate 20

(`python -m bench --only night` runs the same nights, v3 --overlap too, as
the median of several runs: bench/suite.py.)

One simulator (`python -m divpipe sim`, with latency so that tasks take
seconds, not milliseconds) serves both runs; each driver gets a fresh
database on the PostgreSQL server of DATABASE_URL (default: the local server)
and runs `--force --discovery`, so every task runs. Reported:

- v2's and v3's wall time (the drivers' processes, start to exit) and ratio;
- the lower bound: discovery + slowest scraper + main update + slowest
  phase-2 task, from the task durations of the v2 run (each task measured
  alone, without competition from its siblings); and v3's distance to it.
  The target is v3 within 15 % of that bound.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg2

from divpipe.sources import registry

ROOT = Path(__file__).resolve().parent.parent
SOURCES = registry.NAMES


def start_simulator(tmp: Path, symbols: int, seed: int, latency_ms: float) -> tuple[subprocess.Popen, str]:
    port_file = tmp / "sim.port"
    proc = subprocess.Popen(
        [sys.executable, "-m", "divpipe", "sim", "--port", "0", "--port-file", str(port_file),
         "--symbols", str(symbols), "--seed", str(seed), "--latency-ms", str(latency_ms)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not (port_file.exists() and port_file.read_text().strip()):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("❌ the simulator did not start")
        time.sleep(0.1)
    return proc, f"http://127.0.0.1:{port_file.read_text().strip()}"


DRIVERS = {"v2": ("daily_update_v2.sh", ()), "v3": ("daily_update_v3_parallel.sh", ()),
           "v3 --overlap": ("daily_update_v3_parallel.sh", ("--overlap",))}


def with_database(url: str, name: str) -> str:
    from divpipe.db.embedded import with_database as swap

    return swap(url, name)


def run_driver(script: str, env: dict[str, str], tmp: Path, *extra: str) -> tuple[float, dict, Path]:
    """One night: (wall seconds, summary, summary path)."""
    started = time.monotonic()
    result = subprocess.run([str(ROOT / script), "--force", "--discovery", *extra], cwd=tmp, env=env,
                            capture_output=True, text=True, timeout=3600)
    wall = time.monotonic() - started
    line = next((x for x in result.stdout.splitlines() if x.startswith("📄 summary: ")), None)
    if line is None:
        raise SystemExit(f"❌ {script} wrote no summary (exit {result.returncode}):\n{result.stdout[-2000:]}")
    path = Path(line.removeprefix("📄 summary: "))
    summary = json.loads(path.read_text())
    failed = [t["name"] for t in summary["tasks"] if t["status"] != "success"]
    if failed:
        print(f"  ⚠️ {script} {' '.join(extra)}: tasks not successful: {', '.join(failed)}", flush=True)
    return wall, summary, path


def _bound(path) -> tuple[float, list[str]]:
    return path.seconds, [f"{name} {seconds:.1f}s" for name, seconds in path.tasks]


def lower_bound(summary: dict) -> tuple[float, list[str]]:
    """The phase bound: the slowest task of each phase, one phase after another (the report's own rule)."""
    from divpipe.driver_report import critical_path
    from divpipe.timeline import tasks_of

    return _bound(critical_path(tasks_of(summary), "phases"))


def serial_bound(summary: dict) -> float:
    """v2's own bound: every task one after another, with no gap between them."""
    return sum(t["seconds"] for t in summary["tasks"])


def dependencies(summary: dict) -> dict[str, list[str]] | None:
    """{task: the tasks it needs} as a driver's summary records them, or None when it does not."""
    if any("needs" in t for t in summary["tasks"]):
        return {t["name"]: list(t.get("needs") or []) for t in summary["tasks"]}
    return None


def dependency_bound(durations: dict[str, float], needs: dict[str, list[str]]) -> tuple[float, list[str]]:
    """The longest path through the task graph: no driver can finish the night sooner.

    durations: each task's seconds measured alone (from a v2 run); needs: the graph.
    The report's own rule (divpipe.driver_report.longest_chain) on those figures.
    """
    from divpipe.driver_report import longest_chain
    from divpipe.driver_state import TaskResult

    tasks = [TaskResult(name, "", False, "success", 0, 0.0, seconds, "", needs=tuple(needs.get(name, [])))
             for name, seconds in durations.items()]
    return _bound(longest_chain(tasks))


def run_nights(variants: list[str], *, symbols: int, seed: int, latency_ms: float, rate: float, admin_url: str,
               runs: int = 1, extra_env: dict[str, str] | None = None,
               on_run: Callable[[int, str, float, dict, Path], None] | None = None,
               before_run: Callable[[], None] | None = None) -> list[dict[str, tuple[float, dict]]]:
    """`runs` repetitions of every variant (side by side: v2, v3, ... then again), each night on a
    fresh database and against one simulator. Returns, per repetition, {variant: (wall, summary)}."""
    out: list[dict[str, tuple[float, dict]]] = []
    with tempfile.TemporaryDirectory(prefix="bench_drivers_") as tmp_name:
        tmp = Path(tmp_name)
        sim, sim_url = start_simulator(tmp, symbols, seed, latency_ms)
        admin = psycopg2.connect(admin_url)
        admin.autocommit = True
        try:
            for rep in range(runs):
                results = {}
                for variant in variants:
                    script, extra = DRIVERS[variant]
                    name = f"bench_night_{uuid.uuid4().hex[:8]}"
                    slug = variant.replace(" --", "_")
                    with admin.cursor() as cur:
                        cur.execute(f'CREATE DATABASE "{name}"')
                    try:
                        run_dir = tmp / f"{slug}_{rep}"
                        env = {
                            **os.environ,
                            "DATABASE_URL": with_database(admin_url, name),
                            "DIVPIPE_SIMULATOR_URL": sim_url,
                            "DIVPIPE_ENV_FILE": os.devnull,
                            "DIVPIPE_DATA_DIR": str(run_dir / "data"),
                            "LOG_DIR": str(run_dir / "logs"),
                            "BACKUP_DIR": str(run_dir / "backups"),
                            **{f"{s.upper()}_RATE_LIMIT": str(rate) for s in SOURCES},
                            **(extra_env or {}),
                        }
                        print(f"  night {rep + 1}/{runs}: {script} {' '.join(extra)} ...", flush=True)
                        if before_run:
                            before_run()
                        wall, summary, path = run_driver(script, env, tmp, *extra)
                        results[variant] = (wall, summary)
                        if on_run:
                            on_run(rep, variant, wall, summary, path)
                    finally:
                        with admin.cursor() as cur:
                            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                out.append(results)
        finally:
            sim.terminate()
            sim.wait(timeout=30)
            admin.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=200)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--latency-ms", type=float, default=150)
    parser.add_argument("--rate", type=float, default=20, help="client requests/s per source")
    args = parser.parse_args()
    admin_url = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")

    [night] = run_nights(["v2", "v3"], symbols=args.symbols, seed=args.seed, latency_ms=args.latency_ms,
                         rate=args.rate, admin_url=admin_url)
    (v2_wall, v2), (v3_wall, v3) = night["v2"], night["v3"]
    bound, chain = lower_bound(v2)
    bound_v3, _ = lower_bound(v3)
    print(f"\n{args.symbols} symbols, simulator latency {args.latency_ms:g} ms, "
          f"client rate {args.rate:g} req/s per source, {os.cpu_count()} CPUs")
    print("task durations (v2 alone / v3 in parallel):")
    v3_tasks = {t["name"]: t for t in v3["tasks"]}
    for t in v2["tasks"]:
        print(f"  {t['name']:<12} {t['phase']:<9} {t['seconds']:7.1f}s  {v3_tasks[t['name']]['seconds']:7.1f}s")
    print(f"v2 wall: {v2_wall:.1f}s")
    print(f"v3 wall: {v3_wall:.1f}s")
    print(f"v2 / v3: {v2_wall / v3_wall:.2f}x")
    print(f"lower bound (from v2's task durations): {bound:.1f}s = {' + '.join(chain)}")
    print(f"  (from v3's own task durations: {bound_v3:.1f}s)")
    over = v3_wall / bound - 1
    verdict = "✅ within" if over <= 0.15 else "❌ NOT within"
    print(f"v3 over the bound: {over:+.1%} ({verdict} 15 %)")
    return 0 if over <= 0.15 else 1


if __name__ == "__main__":
    sys.exit(main())
