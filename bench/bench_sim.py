"""Simulator benchmarks: universe build time and small requests per second.

    python bench/bench_sim.py                # both, defaults below
    python bench/bench_sim.py --symbols 10000 --duration 10 --clients 4

Requests/s are measured from OTHER processes against a simulator started with
`python -m divpipe sim` (as tests and --simulate runs use it): `wrk` when it
is installed (apt-get install wrk), and always a pure-Python load generator
(processes x threads, keep-alive http.client connections) so the number can be
reproduced without extra tools. The path is a small Yahoo crumb request
(tiny body, routed through the full fault/limit/route pipeline).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PATH = "/v1/test/getcrumb"
HOST = "query1.finance.yahoo.com"


def bench_universe(n: int, repeats: int) -> list[float]:
    from divpipe.sim.calendar import sessions
    from divpipe.sim.universe import Universe

    times = []
    for _ in range(repeats):
        sessions.cache_clear()  # count the trading-calendar build too
        start = time.perf_counter()
        Universe(n, seed=1)
        times.append(time.perf_counter() - start)
    return times


def _client(url: str, duration: float, threads: int, out) -> None:
    # http.client rather than requests: a lighter client leaves more of the
    # two shared cores to the server being measured.
    import http.client
    from urllib.parse import urlsplit

    host, port = urlsplit(url).hostname, urlsplit(url).port
    counts = [0] * threads

    def run(i: int) -> None:
        conn = http.client.HTTPConnection(host, port, timeout=10)
        deadline = time.monotonic() + duration
        while time.monotonic() < deadline:
            conn.request("GET", PATH, headers={"X-Original-Host": HOST})
            r = conn.getresponse()
            r.read()
            if r.status == 200:
                counts[i] += 1

    ts = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    out.put(sum(counts))


def python_load(url: str, duration: float, clients: int, threads: int) -> float:
    q: mp.Queue = mp.Queue()
    procs = [mp.Process(target=_client, args=(url, duration, threads, q)) for _ in range(clients)]
    for p in procs:
        p.start()
    total = sum(q.get() for _ in procs)
    for p in procs:
        p.join()
    return total / duration


def wrk_load(url: str, duration: float) -> float | None:
    if not shutil.which("wrk"):
        return None
    out = subprocess.run(["wrk", "-t2", "-c16", f"-d{int(duration)}s", "-H", f"X-Original-Host: {HOST}",
                          url + PATH], capture_output=True, text=True, check=True).stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise SystemExit(f"wrk saw {errors.group(1)} error responses")
    return float(m.group(1)) if m else None


def start_sim(symbols: int) -> tuple[subprocess.Popen, str, Path]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-sim-"))
    port_file = tmp / "port"
    proc = subprocess.Popen([sys.executable, "-m", "divpipe", "sim", "--port", "0", "--port-file", str(port_file),
                             "--symbols", str(symbols), "--seed", "1"], cwd=ROOT,
                            env={**os.environ, "DIVPIPE_ENV_FILE": os.devnull})
    while not port_file.exists():
        if proc.poll() is not None:
            raise SystemExit("simulator did not start")
        time.sleep(0.05)
    return proc, f"http://127.0.0.1:{int(port_file.read_text())}", tmp


def load(duration: float, clients: int, threads: int, symbols: int = 200) -> dict[str, float | None]:
    """Requests/s against a `python -m divpipe sim` of `symbols`: {"wrk": None without wrk, "python": ...}."""
    proc, url, tmp = start_sim(symbols)
    try:
        return {"wrk": wrk_load(url, duration), "python": python_load(url, duration, clients, threads)}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--symbols", type=int, default=10_000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--clients", type=int, default=2, help="client processes of the Python load generator")
    p.add_argument("--threads", type=int, default=4, help="threads per client process")
    args = p.parse_args()

    times = bench_universe(args.symbols, args.repeats)
    print(f"universe {args.symbols} symbols: min {min(times):.2f}s median {statistics.median(times):.2f}s "
          f"over {args.repeats} builds")

    rates = load(args.duration, args.clients, args.threads)
    if rates["wrk"] is not None:
        print(f"wrk -t2 -c16 -d{int(args.duration)}s: {rates['wrk']:.0f} requests/s")
    print(f"python load ({args.clients} processes x {args.threads} threads, keep-alive): "
          f"{rates['python']:.0f} requests/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
