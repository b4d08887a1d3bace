"""How closely the per-host token bucket holds its rate under concurrent callers.

    python bench/bench_ratelimit.py [--seconds 5] [--threads 8] [--rates 5,20,50]

For each rate, `--threads` threads send requests through `divpipe.net.client`
to one host of an in-process simulator for `--seconds`; the script prints
the requests the simulator saw in that window against the ideal
(rate x seconds + burst), and how many 429s the simulator (limit 1.5 x rate)
served: it should be none.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def run(rate: float, seconds: float, threads: int, burst: int) -> tuple[int, int]:
    from divpipe import config, net
    from divpipe.sim.server import SimServer
    from divpipe.sim.universe import Universe

    with SimServer(Universe(20, 1), rate_limit=rate * 1.5) as server:
        os.environ.update({"DIVPIPE_SIMULATOR_URL": server.url, "NYSE_RATE_LIMIT": str(rate),
                           "RATE_LIMIT_BURST": str(burst), "DIVPIPE_ENV_FILE": os.devnull})
        config.reset_settings()
        net.reset()
        http = net.client("nyse")
        start = time.monotonic()
        deadline = start + seconds

        def worker() -> None:
            while time.monotonic() < deadline:
                http.get("https://www.nyse.com/ex-date-dividends")

        pool = [threading.Thread(target=worker) for _ in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        seen = sum(1 for t in server.arrivals("www.nyse.com") if start <= t < deadline)
        return seen, server.stats()["faults"].get("429", 0)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--burst", type=int, default=2)
    p.add_argument("--rates", default="5,20,50")
    args = p.parse_args()
    print(f"{'rate/s':>7} {'ideal':>6} {'seen':>6} {'429s':>5}")
    for rate in (float(r) for r in args.rates.split(",")):
        seen, limited = run(rate, args.seconds, args.threads, args.burst)
        ideal = rate * args.seconds + args.burst
        print(f"{rate:>7g} {ideal:>6g} {seen:>6} {limited:>5}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
