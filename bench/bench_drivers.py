"""v2 (one task at a time) against v3 (phases in parallel), on the real task list.

    python bench/bench_drivers.py                      # defaults below
    python bench/bench_drivers.py --symbols 200 --latency-ms 150 --rate 20

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
from pathlib import Path

import psycopg2

from divpipe.sources import registry

ROOT = Path(__file__).resolve().parent.parent
SOURCES = registry.NAMES


def start_simulator(tmp: Path, args) -> tuple[subprocess.Popen, str]:
    port_file = tmp / "sim.port"
    proc = subprocess.Popen(
        [sys.executable, "-m", "divpipe", "sim", "--port", "0", "--port-file", str(port_file),
         "--symbols", str(args.symbols), "--seed", str(args.seed), "--latency-ms", str(args.latency_ms)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not (port_file.exists() and port_file.read_text().strip()):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("❌ the simulator did not start")
        time.sleep(0.1)
    return proc, f"http://127.0.0.1:{port_file.read_text().strip()}"


def with_database(url: str, name: str) -> str:
    from divpipe.db.embedded import with_database as swap

    return swap(url, name)


def run_driver(script: str, env: dict[str, str], tmp: Path) -> tuple[float, dict]:
    started = time.monotonic()
    result = subprocess.run([str(ROOT / script), "--force", "--discovery"], cwd=tmp, env=env,
                            capture_output=True, text=True, timeout=3600)
    wall = time.monotonic() - started
    line = next((x for x in result.stdout.splitlines() if x.startswith("📄 summary: ")), None)
    if line is None:
        raise SystemExit(f"❌ {script} wrote no summary (exit {result.returncode}):\n{result.stdout[-2000:]}")
    summary = json.loads(Path(line.removeprefix("📄 summary: ")).read_text())
    failed = [t["name"] for t in summary["tasks"] if t["status"] != "success"]
    if failed:
        print(f"  ⚠️ {script}: tasks not successful: {', '.join(failed)}")
    return wall, summary


def lower_bound(summary: dict) -> tuple[float, list[str]]:
    total, chain = 0.0, []
    for phase in ("discovery", "phase1", "step2", "phase2"):
        tasks = [t for t in summary["tasks"] if t["phase"] == phase]
        if tasks:
            slowest = max(tasks, key=lambda t: t["seconds"])
            total += slowest["seconds"]
            chain.append(f"{slowest['name']} {slowest['seconds']:.1f}s")
    return total, chain


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=200)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--latency-ms", type=float, default=150)
    parser.add_argument("--rate", type=float, default=20, help="client requests/s per source")
    args = parser.parse_args()
    admin_url = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")

    with tempfile.TemporaryDirectory(prefix="bench_drivers_") as tmp_name:
        tmp = Path(tmp_name)
        sim, sim_url = start_simulator(tmp, args)
        admin = psycopg2.connect(admin_url)
        admin.autocommit = True
        names = {d: f"bench_{d}_{uuid.uuid4().hex[:8]}" for d in ("v2", "v3")}
        results = {}
        try:
            with admin.cursor() as cur:
                for name in names.values():
                    cur.execute(f'CREATE DATABASE "{name}"')
            for driver, script in (("v2", "daily_update_v2.sh"), ("v3", "daily_update_v3_parallel.sh")):
                env = {
                    **os.environ,
                    "DATABASE_URL": with_database(admin_url, names[driver]),
                    "DIVPIPE_SIMULATOR_URL": sim_url,
                    "DIVPIPE_ENV_FILE": os.devnull,
                    "DIVPIPE_DATA_DIR": str(tmp / driver / "data"),
                    "LOG_DIR": str(tmp / driver / "logs"),
                    "BACKUP_DIR": str(tmp / driver / "backups"),
                    **{f"{s.upper()}_RATE_LIMIT": str(args.rate) for s in SOURCES},
                }
                print(f"running {script} ...", flush=True)
                results[driver] = run_driver(script, env, tmp)
        finally:
            sim.terminate()
            sim.wait(timeout=30)
            with admin.cursor() as cur:
                for name in names.values():
                    cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.close()

    (v2_wall, v2), (v3_wall, v3) = results["v2"], results["v3"]
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
