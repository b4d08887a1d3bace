"""`python -m divpipe sim`: run the simulator until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path

from divpipe.atomic import write_text_atomically
from divpipe.entry import ArgumentParser, run, stop_when_orphaned
from divpipe.sim.faults import RANDOM_KINDS


def _parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="python -m divpipe sim",
                                description="Serve the simulated market on a local port.")
    p.add_argument("--port", type=int, default=0, help="port to listen on (0: any free port)")
    p.add_argument("--port-file", type=Path, help="write the chosen port here once listening")
    p.add_argument("--symbols", type=int, default=200, help="symbols in the universe")
    p.add_argument("--seed", type=int, default=0, help="universe and fault seed")
    p.add_argument("--latency-ms", type=float, default=0.0, help="delay added to every response")
    p.add_argument("--rate-limit", type=float, default=None,
                   help="requests/s per host before answering 429 (default: no limit)")
    p.add_argument("--fault-rate", type=float, default=0.0, help="share of requests that misbehave (0..1)")
    p.add_argument("--fault-kinds", default=",".join(RANDOM_KINDS),
                   help=f"comma-separated subset of {','.join(RANDOM_KINDS)}")
    p.add_argument("--broken-page", action="append", default=[], metavar="HOST[/PATH][?QUERY]",
                   help="answer 500 to every request for this page, for good (repeatable): "
                        "api.nasdaq.com?date=2026-11-20, yieldmaxetfs.com/our-etfs/ulty/")
    return p


def broken_page(text: str) -> dict[str, str | None]:
    """"host/path?query" -> break_pages() arguments: path is a prefix, query a substring."""
    rest, _, query = text.partition("?")
    host, slash, path = rest.partition("/")
    return {"host": host, "path_prefix": f"/{path}" if slash else None, "query": query or None}


def main(argv: list[str]) -> int:
    return run(_main, argv)


def _main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    problems = []
    if not 0 <= args.port <= 65535:
        problems.append("--port must be within 0..65535")
    if args.symbols < 1:
        problems.append("--symbols must be >= 1")
    if not 0.0 <= args.fault_rate <= 1.0:
        problems.append("--fault-rate must be within 0..1")
    if args.rate_limit is not None and args.rate_limit <= 0:
        problems.append("--rate-limit must be > 0")
    if args.latency_ms < 0:
        problems.append("--latency-ms must be >= 0")
    kinds = tuple(k for k in args.fault_kinds.split(",") if k)
    if set(kinds) - set(RANDOM_KINDS) or not kinds:
        problems.append(f"--fault-kinds must be a subset of {','.join(RANDOM_KINDS)}")
    if any(not page.partition("?")[0].partition("/")[0] for page in args.broken_page):
        problems.append("--broken-page needs a host: HOST[/PATH][?QUERY]")
    if args.port_file is not None and not args.port_file.parent.is_dir():
        problems.append(f"--port-file: directory {args.port_file.parent} does not exist")
    if problems:
        print(f"❌ {problems[0]}", file=sys.stderr)
        return 2

    from divpipe.sim.server import SimServer
    from divpipe.sim.universe import Universe

    started = time.monotonic()
    universe = Universe(args.symbols, args.seed)
    server = SimServer(universe, latency_ms=args.latency_ms, rate_limit=args.rate_limit,
                       fault_rate=args.fault_rate, seed=args.seed, fault_kinds=kinds, port=args.port)
    for page in args.broken_page:
        server.break_pages("500", **broken_page(page))
    try:
        server.start()
    except OSError as err:
        print(f"❌ cannot listen on port {args.port}: {err.strerror}", file=sys.stderr)
        return 1
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop_when_orphaned()
    try:
        if args.port_file is not None:
            write_text_atomically(args.port_file, f"{server.port}\n")
        print(f"✅ simulator: {universe.n_symbols} symbols (seed {args.seed}) at {server.url} "
              f"after {time.monotonic() - started:.1f}s", file=sys.stderr, flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
        if args.port_file is not None:
            args.port_file.unlink(missing_ok=True)
    print("✅ simulator stopped", file=sys.stderr)
    return 0
