"""The benchmark suite: one command for every figure of BENCHMARKS.md.

    .venv/bin/python -m bench                      # everything, full sizes (see each benchmark's defaults)
    .venv/bin/python -m bench --quick              # tiny sizes, one run each: a smoke test (CI), < 3 min
    .venv/bin/python -m bench --only upsert        # one benchmark (repeatable)
    .venv/bin/python -m bench --runs 5 --set throughput.symbols=500 --markdown out.md --json out.json
    .venv/bin/python -m bench --list               # the benchmarks and their parameters

Every row carries the command that reproduces it, the machine (cores,
memory, CPU model), the date and the load average (1 minute, sampled before
each run: min-max) it was measured under. Variants are measured side by side
in one run (v2, v3, v2, v3, ...), each row is the median of `--runs` runs
(default 3; 1 with --quick) and compares as a ratio. Nothing here asserts a
time: the verdict column only says whether a goal was met on this machine.

Databases: scratch databases on `--database-url` (default DATABASE_URL, else
the local server postgresql://postgres@127.0.0.1:5432/test), dropped afterwards.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import re
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager, redirect_stdout
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


# -- rows, machine, context ---------------------------------------------------


@dataclass
class Row:
    bench: str
    case: str
    median: float | None  # None: not measured (see note)
    unit: str
    runs: list[float] = field(default_factory=list)
    ratio: str = ""
    goal: str = ""
    verdict: str = ""  # ✅, ❌ or "" (no goal); "n/a" when not available
    note: str = ""
    command: str = ""
    machine: str = ""
    date: str = ""
    load: str = ""


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = None
    try:
        kb = re.search(r"MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text())
        memory = int(kb.group(1)) / 1024 / 1024 if kb else None
    except OSError:
        pass
    return {"cores": os.cpu_count(), "memory_gib": round(memory, 1) if memory else None, "cpu": cpu,
            "python": platform.python_version(), "system": f"{platform.system()} {platform.release()}"}


def machine_text(m: dict) -> str:
    memory = f"{m['memory_gib']:.0f} GiB" if m["memory_gib"] else "? GiB"
    return f"{m['cores']} cores, {memory}, {m['cpu']}, Python {m['python']}"


def fmt(value: float | None, digits: int | None = None) -> str:
    if value is None:
        return "-"
    if digits is None:
        digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2
    return f"{value:,.{digits}f}"


class Context:
    """What a benchmark gets: its parameters, the run count, a database, a work directory, the load log."""

    def __init__(self, args: argparse.Namespace, name: str, defaults: dict[str, tuple], work: Path):
        self.quick = args.quick
        self.name = name
        self.runs = args.runs if args.runs is not None else (1 if args.quick else 3)
        self.database_url = args.database_url
        self.figures: Path | None = args.figures
        self.work = work
        self.loads: list[float] = []
        overrides = {k.split(".", 1)[1]: v for k, v in args.set if k.startswith(f"{name}.")}
        unknown = set(overrides) - set(defaults)
        if unknown:
            raise SystemExit(f"--set {name}.{sorted(unknown)[0]}: {name} has no such parameter "
                             f"(it has {', '.join(defaults)})")
        self.params = {}
        for key, (full, quick, _about) in defaults.items():
            value = quick if args.quick else full
            if key in overrides:
                value = type(full)(overrides[key])
            self.params[key] = value
        self.overrides = overrides

    def __getitem__(self, key: str):
        return self.params[key]

    def sample_load(self) -> None:
        self.loads.append(os.getloadavg()[0])

    def load_text(self) -> str:
        if not self.loads:
            return ""
        low, high = min(self.loads), max(self.loads)
        return f"{low:.1f}" if f"{low:.1f}" == f"{high:.1f}" else f"{low:.1f}-{high:.1f}"

    def repeat(self, fn: Callable[[int], None]) -> None:
        """Call fn(run) `runs` times, sampling the load average before each."""
        for run in range(self.runs):
            self.sample_load()
            fn(run)

    def figure(self, name: str) -> Path | None:
        if self.figures is None:
            return None
        self.figures.mkdir(parents=True, exist_ok=True)
        return self.figures / name


def median(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def verdict(ok: bool | None) -> str:
    return "" if ok is None else "✅" if ok else "❌"


@contextmanager
def environ_kept():
    """Benchmarks that configure divpipe in-process leave os.environ as they found it."""
    saved = dict(os.environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
        from divpipe import config

        config.reset_settings()


# -- the registry ---------------------------------------------------------------


@dataclass
class Benchmark:
    name: str
    about: str
    fn: Callable[[Context], list[Row]]
    params: dict[str, tuple]  # key: (full, quick, what it is)


BENCHMARKS: dict[str, Benchmark] = {}


def benchmark(name: str, about: str, **params: tuple):
    def register(fn):
        BENCHMARKS[name] = Benchmark(name, about, fn, params)
        return fn

    return register


# -- the whole night: v2, v3, v3 --overlap against their bounds ------------------


@benchmark("night", "the whole night: v2, v3 and v3 --overlap, each against its own bound",
           symbols=(1000, 30, "symbols in the simulated universe"),
           latency_ms=(50.0, 0.0, "simulator latency per response"),
           rate=(20.0, 200.0, "client requests/s per scraped source"),
           yahoo_rate=(100.0, 200.0, "YAHOO_RATE_LIMIT, requests/s"),
           yahoo_workers=(16, 8, "YAHOO_WORKERS (discovery's validation and the main update)"),
           history_years=(1, 1, "HISTORY_YEARS of the main update's initial load"),
           seed=(3, 3, "universe seed"))
def night(ctx: Context) -> list[Row]:
    from bench import bench_drivers as bd

    variants = ["v2", "v3", "v3 --overlap"]
    figure = ctx.figure("timeline_overlap.png")
    last = "v3 --overlap"

    def keep_timeline(rep: int, variant: str, _wall: float, _summary: dict, path: Path) -> None:
        png = path.with_name(path.name.replace("summary_", "timeline_").replace(".json", ".png"))
        if figure is not None and variant == last and rep == ctx.runs - 1 and png.exists():
            shutil.copyfile(png, figure)

    nights = bd.run_nights(variants, symbols=ctx["symbols"], seed=ctx["seed"], latency_ms=ctx["latency_ms"],
                           rate=ctx["rate"], admin_url=ctx.database_url, runs=ctx.runs, on_run=keep_timeline,
                           extra_env={"YAHOO_RATE_LIMIT": str(ctx["yahoo_rate"]),
                                      "YAHOO_WORKERS": str(ctx["yahoo_workers"]),
                                      "HISTORY_YEARS": str(ctx["history_years"])},
                           before_run=ctx.sample_load)
    walls = {v: [n[v][0] for n in nights] for v in variants}
    # Each task measured alone: the v2 run of the same repetition.
    serial = [bd.serial_bound(n["v2"][1]) for n in nights]
    phase = [bd.lower_bound(n["v2"][1])[0] for n in nights]
    _, phase_chain = bd.lower_bound(nights[-1]["v2"][1])
    setup = (f"{ctx['symbols']:,} symbols, {ctx['latency_ms']:g} ms latency, scrapers {ctx['rate']:g} req/s, "
             f"Yahoo {ctx['yahoo_rate']:g} req/s x {ctx['yahoo_workers']} workers, "
             f"{ctx['history_years']} year(s) of history, --force --discovery")
    rows = [
        Row("night", f"v2 (one task at a time): wall; bound = its tasks back to back; {setup}",
            median(walls["v2"]), "s", walls["v2"],
            ratio=f"{median([w / b - 1 for w, b in zip(walls['v2'], serial, strict=True)]):+.1%} over its bound "
                  f"({fmt(median(serial))} s)"),
        Row("night", "v3 (phases in parallel): wall; bound = slowest task of each phase, from v2's tasks "
            f"({' + '.join(phase_chain)})",
            median(walls["v3"]), "s", walls["v3"],
            ratio=f"{median([w / b - 1 for w, b in zip(walls['v3'], phase, strict=True)]):+.1%} over its bound "
                  f"({fmt(median(phase))} s); "
                  f"{median([a / b for a, b in zip(walls['v2'], walls['v3'], strict=True)]):.2f}x faster than v2"),
    ]
    # Every driver's summary records each task's needs.
    needs = bd.dependencies(nights[-1]["v3 --overlap"][1])
    over = walls["v3 --overlap"]
    speedup = [a / b for a, b in zip(walls["v2"], over, strict=True)]
    speed = median(speedup)
    deps = []
    for n in nights:
        durations = {t["name"]: t["seconds"] for t in n["v2"][1]["tasks"] if t.get("started_at")}
        deps.append(bd.dependency_bound(durations, needs))
    within = median([w / b[0] - 1 for w, b in zip(over, deps, strict=True)])
    rows.append(Row("night", f"v3 --overlap (each task once its dependencies are done): wall; bound = longest "
                    f"path through the task graph, from v2's tasks ({' → '.join(deps[-1][1])})",
                    median(over), "s", over,
                    ratio=f"{within:+.1%} over its bound ({fmt(median([b[0] for b in deps]))} s); "
                          f"{speed:.2f}x faster than v2",
                    goal="within 10 % of its bound; >= 1.4x faster than v2",
                    verdict=verdict(within <= 0.10 and speed >= 1.4)))
    return rows


# -- the main update: throughput against workers, requests per symbol -------------


_prepared: dict[tuple, tuple] = {}


def prepared_update(ctx: Context, symbols: int):
    """(scratch, template database, universe, data dir): a database after the initial load, once per suite."""
    from bench import bench_update as bu
    from divpipe.market_time import exchange_today
    from divpipe.sim.server import SimServer
    from divpipe.sim.universe import Universe

    key = (ctx.database_url, symbols)
    if key not in _prepared:
        os.environ["DATABASE_URL"] = ctx.database_url
        scratch = bu.Scratch()
        universe = Universe(symbols, seed=1, today=exchange_today() - dt.timedelta(days=1))
        base, url = scratch.create()
        bu.track(url, universe.symbols)
        data_dir = ctx.work / f"update_{symbols}"
        with SimServer(universe) as sim:  # no limit, no latency: the initial load is not what is measured
            bu.run_update(url, sim, data_dir, {"YAHOO_RATE_LIMIT": "100000", "RATE_LIMIT_BURST": "100",
                                               "YAHOO_WORKERS": "8"}, "--history-years", "1")
        _prepared[key] = (scratch, base, universe, data_dir)
    return _prepared[key]


def cleanup_prepared() -> None:
    for scratch, *_ in _prepared.values():
        scratch.drop_all()
    _prepared.clear()


@benchmark("throughput", "main update: symbols/s against workers, as a fraction of the rate limit",
           symbols=(1000, 60, "symbols (initial load of 1 year done first, not measured)"),
           workers=("1,2,4,8,16,32", "1,8", "worker counts"),
           latency_ms=(50.0, 20.0, "simulator latency per response"),
           rate=(50.0, 50.0, "rate limit: simulator's and YAHOO_RATE_LIMIT, requests/s"))
def throughput(ctx: Context) -> list[Row]:
    from bench import bench_update as bu
    from divpipe.sim.server import SimServer

    scratch, base, universe, data_dir = prepared_update(ctx, ctx["symbols"])
    workers = [int(w) for w in ctx["workers"].split(",") if w]
    rate = ctx["rate"]
    limits = {"YAHOO_RATE_LIMIT": str(rate), "HTTP_BACKOFF": "0.25"}
    results: dict[int, list[dict]] = {w: [] for w in workers}
    with SimServer(universe, latency_ms=ctx["latency_ms"], rate_limit=rate) as sim:
        def one(_run: int) -> None:
            for w in workers:  # side by side: every worker count in each run
                name, url = scratch.create(template=base)
                results[w].append(bu.run_update(url, sim, data_dir, {**limits, "YAHOO_WORKERS": str(w)}))
                scratch.drop(name)
        ctx.repeat(one)
    rows = []
    for w in workers:
        sps = [r["symbols_per_s"] for r in results[w]]
        req = [r["fetch_requests_per_s"] for r in results[w]]
        share = median(sps) / rate
        rows.append(Row(
            "throughput", f"{w} worker{'s' if w > 1 else ''}: symbols/s ({ctx['symbols']:,} symbols, nightly, "
            f"{ctx['latency_ms']:g} ms latency, limit {rate:g}/s)", median(sps), "symbols/s", sps,
            ratio=f"{share:.0%} of the limit (requests {median(req) / rate:.0%}); "
                  f"{median(sps) / median([r['symbols_per_s'] for r in results[workers[0]]]):.1f}x {workers[0]} "
                  f"worker{'s' if workers[0] > 1 else ''}",
            goal=">= 90 % of the limit" if w >= 8 else "",
            verdict=verdict(share >= 0.9) if w >= 8 else "",
            note=f"429s: {sum(r['429'] for r in results[w])}"))
    path = ctx.figure("throughput_workers.png")
    if path is not None:
        draw_throughput(path, workers, results, rate, ctx)
    return rows


def draw_throughput(path: Path, workers: list[int], results: dict[int, list[dict]], rate: float,
                    ctx: Context) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    sps = [median([r["symbols_per_s"] for r in results[w]]) for w in workers]
    req = [median([r["fetch_requests_per_s"] for r in results[w]]) for w in workers]
    for w in workers:
        ax.scatter([w] * len(results[w]), [r["symbols_per_s"] for r in results[w]], color="#90caf9", s=12, zorder=2)
    ax.plot(workers, sps, marker="o", color="#1565c0", label=f"symbols/s (median of {ctx.runs})", zorder=3)
    ax.plot(workers, req, marker="s", ls="--", color="#2e7d32", label="requests/s of the fan-out", zorder=3)
    ax.axhline(rate, color="#c62828", lw=1, label=f"rate limit {rate:g}/s")
    ax.axhline(0.9 * rate, color="#c62828", lw=1, ls=":", label="90 % of the limit (goal)")
    ax.set_xscale("log", base=2)
    ax.set_xticks(workers, [str(w) for w in workers])
    ax.set_ylim(bottom=0, top=rate * 1.15)
    ax.set_xlabel("YAHOO_WORKERS")
    ax.set_ylabel("per second")
    ax.set_title(f"main update, {ctx['symbols']:,} symbols, nightly, {ctx['latency_ms']:g} ms latency\n"
                 f"{machine_text(machine())}, load {ctx.load_text()}, {dt.date.today()}", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


@benchmark("requests", "requests per symbol on an incremental night: ours against yf.download(threads=True)",
           symbols=(1000, 60, "symbols (the same for both)"),
           latency_ms=(50.0, 20.0, "simulator latency per response"),
           workers=(16, 8, "our YAHOO_WORKERS"))
def requests_per_symbol(ctx: Context) -> list[Row]:
    from bench import bench_update as bu
    from divpipe.sim.server import SimServer

    scratch, base, universe, data_dir = prepared_update(ctx, ctx["symbols"])
    ours, theirs, ours_s, theirs_s, hosts = [], [], [], [], {}
    n = len(universe.symbols)
    start = universe.today - dt.timedelta(days=7)
    with SimServer(universe, latency_ms=ctx["latency_ms"]) as sim:
        def one(_run: int) -> None:
            name, url = scratch.create(template=base)
            r = bu.run_update(url, sim, data_dir, {"YAHOO_RATE_LIMIT": "100000", "RATE_LIMIT_BURST": "100",
                                                   "YAHOO_WORKERS": str(ctx["workers"])})
            hosts["ours"] = sim.stats()["requests"]
            scratch.drop(name)
            ours.append(r["requests"] / n)
            ours_s.append(r["wall_s"])
            d = bu.run_download(sim, data_dir, universe.symbols, start)
            hosts["yf"] = sim.stats()["requests"]
            theirs.append(d["requests"] / n)
            theirs_s.append(d["wall_s"])
        ctx.repeat(one)

    def per_host(requests: dict) -> str:
        return ", ".join(f"{h} {sum(p.values()):,}" for h, p in requests.items())

    ratio = median([a / b for a, b in zip(ours, theirs, strict=True)])
    return [
        Row("requests", f"ours (`--mode update`, {ctx['workers']} workers): requests per symbol, {n:,} symbols, "
            f"incremental night", median(ours), "requests/symbol", ours,
            ratio=f"{ratio:.2f}x yf.download's", goal="<= 1.1x yf.download's", verdict=verdict(ratio <= 1.1),
            note=f"per host: {per_host(hosts['ours'])}; wall {fmt(median(ours_s))} s"),
        Row("requests", "yf.download(tickers, start=today-7d, threads=True, actions=True): requests per symbol, "
            "same symbols, same timezone cache", median(theirs), "requests/symbol", theirs,
            note=f"per host: {per_host(hosts['yf'])}; wall {fmt(median(theirs_s))} s; stores nothing"),
    ]


# -- bulk upsert ---------------------------------------------------------------


@benchmark("upsert", "bulk upsert against pandas to_sql(method='multi') and row-by-row INSERT ... ON CONFLICT",
           rows=(1_000_000, 5_000, "price rows (the same rows for every method)"))
def upsert(ctx: Context) -> list[Row]:
    import pandas as pd
    import psycopg2

    from bench import bench_upsert as bu
    from bench.scratch import scratch_database

    n = ctx["rows"]
    rows = list(bu.price_rows(n))
    frame = pd.DataFrame(rows, columns=bu.COLUMNS)
    took: dict[str, list[float]] = {k: [] for k in ("bulk", "multi", "row", "bulk again", "row again")}
    os.environ["DATABASE_URL"] = ctx.database_url
    with scratch_database() as url:
        conn = psycopg2.connect(url)
        try:
            def one(_run: int) -> None:
                bu.empty(conn)
                took["bulk"].append(bu.bulk(conn, rows))
                took["bulk again"].append(bu.bulk(conn, rows))
                bu.empty(conn)
                took["multi"].append(bu.to_sql_multi(url, frame))
                bu.empty(conn)
                took["row"].append(bu.row_by_row(conn, rows))
                took["row again"].append(bu.row_by_row(conn, rows))
            ctx.repeat(one)
        finally:
            conn.close()
    rate = {k: [n / s for s in v] for k, v in took.items()}

    def vs(k: str, base: str) -> str:
        return f"{median([a / b for a, b in zip(rate[k], rate[base], strict=True)]):.1f}x"

    what = f"{n:,} rows of raw_stock_prices"
    return [
        Row("upsert", f"bulk_upsert into an empty table, {what}", median(rate["bulk"]), "rows/s", rate["bulk"],
            ratio=f"{vs('bulk', 'multi')} to_sql(multi), {vs('bulk', 'row')} row by row",
            goal=">= 100,000 rows/s", verdict=verdict(median(rate["bulk"]) >= 100_000)),
        Row("upsert", f'pandas to_sql(method="multi", chunksize={bu.TO_SQL_CHUNK}) into an empty table, {what}',
            median(rate["multi"]), "rows/s", rate["multi"], note="SQLAlchemy 2 + psycopg2; cannot upsert"),
        Row("upsert", f"row by row, INSERT ... ON CONFLICT DO UPDATE, into an empty table, {what}",
            median(rate["row"]), "rows/s", rate["row"], note="one statement per row, one transaction"),
        Row("upsert", f"bulk_upsert, the same rows again (all conflict, none changed), {what}",
            median(rate["bulk again"]), "rows/s", rate["bulk again"],
            ratio=f"{vs('bulk again', 'row again')} row by row", goal=">= 100,000 rows/s",
            verdict=verdict(median(rate["bulk again"]) >= 100_000)),
        Row("upsert", f"row by row, the same rows again (all conflict), {what}", median(rate["row again"]),
            "rows/s", rate["row again"]),
    ]


# -- scale ---------------------------------------------------------------------


@benchmark("scale", "main update at growing universes: peak RSS flat, wall time linear with the rate limit's slope",
           sizes=("1000,5000,10000", "100,300", "universe sizes"),
           rate=(50.0, 200.0, "YAHOO_RATE_LIMIT and the simulator's limit x 1.5, requests/s"),
           workers=(8, 8, "YAHOO_WORKERS"),
           latency_ms=(20.0, 0.0, "simulator latency per response"))
def scale(ctx: Context) -> list[Row]:
    from bench import bench_update as bu
    from divpipe.market_time import exchange_today
    from divpipe.sim.server import SimServer
    from divpipe.sim.universe import Universe

    os.environ["DATABASE_URL"] = ctx.database_url
    sizes = [int(s) for s in ctx["sizes"].split(",") if s]
    rate = ctx["rate"]
    today = exchange_today() - dt.timedelta(days=1)
    scratch = bu.Scratch()
    out: dict[int, list[dict]] = {s: [] for s in sizes}
    universes = {s: Universe(s, seed=2, today=today) for s in sizes}
    try:
        def one(_run: int) -> None:
            for size in sizes:
                universe = universes[size]
                with SimServer(universe, latency_ms=ctx["latency_ms"], rate_limit=rate * 1.5) as sim:
                    name, url = scratch.create()
                    bu.track(url, universe.symbols)
                    # A night's shape without an initial load: one chart request per symbol, a week of bars.
                    r = bu.run_update(url, sim, ctx.work / f"scale_{size}",
                                      {"YAHOO_RATE_LIMIT": str(rate), "YAHOO_WORKERS": str(ctx["workers"])},
                                      "--prices-only", "--from-date", (today - dt.timedelta(days=7)).isoformat())
                    scratch.drop(name)
                    out[size].append(r)
        ctx.repeat(one)
    finally:
        scratch.drop_all()
    rows = []
    small = sizes[0]
    rss_small = median([r["peak_rss_mb"] for r in out[small]])
    for size in sizes:
        rss = [r["peak_rss_mb"] for r in out[size]]
        wall = [r["wall_s"] for r in out[size]]
        job = [r["job_s"] for r in out[size]]
        ideal = size / rate
        rows.append(Row("scale", f"{size:,} symbols: peak RSS of the update process ({ctx['workers']} workers, "
                        f"--prices-only, one week)", median(rss), "MB", rss,
                        ratio=f"{median(rss) / rss_small:.2f}x at {small:,} symbols",
                        goal="flat" if size != small else "", verdict=""))
        rows.append(Row("scale", f"{size:,} symbols: wall time (job {fmt(median(job))} s), limit {rate:g}/s",
                        median(wall), "s", wall,
                        ratio=f"{median(job) / ideal:.2f}x symbols ÷ limit ({fmt(ideal)} s); "
                              f"{median(job) * 1000 / size:.1f} s per 1,000 symbols",
                        goal="linear, slope 1 / limit" if size != small else ""))
    if len(sizes) >= 2:
        big = sizes[-1]
        slope = (median([r["job_s"] for r in out[big]]) - median([r["job_s"] for r in out[small]])) / (big - small)
        rss_big = median([r["peak_rss_mb"] for r in out[big]])
        rows.append(Row("scale", f"slope of the job's time from {small:,} to {big:,} symbols", slope * 1000,
                        "s per 1,000 symbols", ratio=f"{slope * rate:.2f}x 1 / limit ({1000 / rate:g} s per 1,000)",
                        goal="<= 1.1x 1 / limit; peak RSS within +25 %",
                        verdict=verdict(slope * rate <= 1.1 and rss_big <= 1.25 * rss_small)))
    return rows


# -- existing scripts, now in the suite -----------------------------------------


@benchmark("sim", "simulator: build a universe",
           symbols=(10_000, 1_000, "symbols"))
def sim(ctx: Context) -> list[Row]:
    from bench import bench_sim

    times: list[float] = []
    ctx.repeat(lambda _run: times.extend(bench_sim.bench_universe(ctx["symbols"], 1)))
    return [Row("sim", f"build a {ctx['symbols']:,}-symbol universe", median(times), "s", times,
                goal="< 5 s", verdict=verdict(median(times) < 5))]


@benchmark("ratelimit", "per-host token bucket accuracy under 8 threads (bench_ratelimit.py)",
           rates=("5,20,50", "20", "rates, requests/s"),
           seconds=(5.0, 2.0, "seconds per rate"))
def ratelimit(ctx: Context) -> list[Row]:
    from bench import bench_ratelimit

    rows = []
    for rate in [float(r) for r in ctx["rates"].split(",")]:
        seen: list[float] = []
        refused: list[int] = []

        def one(_run: int, rate: float = rate, seen: list = seen, refused: list = refused) -> None:
            with environ_kept():
                s, r = bench_ratelimit.run(rate, ctx["seconds"], 8, 2)
            seen.append(s)
            refused.append(r)
        ctx.repeat(one)
        ideal = rate * ctx["seconds"] + 2
        rows.append(Row("ratelimit", f"{rate:g}/s, 8 threads, {ctx['seconds']:g} s, burst 2: requests the "
                        "simulator saw", median(seen), "requests", seen,
                        ratio=f"{median(seen) / ideal:.0%} of ideal {ideal:g}", goal="<= ideal, no 429",
                        verdict=verdict(median(seen) <= ideal and not any(refused)),
                        note=f"429s: {sum(refused)}"))
    return rows


@benchmark("future_dividends", "future-dividends consolidation (bench_future_dividends.py)",
           per_source=(40_000, 2_000, "scraped rows per source table"))
def future_dividends(ctx: Context) -> list[Row]:
    import psycopg2

    from bench import bench_future_dividends as bf
    from bench.scratch import scratch_database

    first: list[float] = []
    again: list[float] = []
    os.environ["DATABASE_URL"] = ctx.database_url

    def one(_run: int) -> None:
        with scratch_database() as url:
            db = psycopg2.connect(url)
            try:
                bf.fill(db, ctx["per_source"])
                first.append(bf.timed("first build", db))
                again.append(bf.timed("re-run, nothing changed", db))
            finally:
                db.close()
    ctx.repeat(one)
    what = f"{len(bf.fd.SOURCES)} x {ctx['per_source']:,} scraped rows"
    return [Row("future_dividends", f"first build, {what}", median(first), "s", first),
            Row("future_dividends", f"re-run with nothing changed, {what}", median(again), "s", again,
                ratio=f"{median(again) / median(first):.2f}x the first build")]


@benchmark("migration_002", "migration 002 on 3 scraped tables filled under the old schema (bench_migration_002.py)",
           rows=(200_000, 5_000, "rows per table"))
def migration_002(ctx: Context) -> list[Row]:
    from bench import bench_migration_002 as bm

    os.environ["DATABASE_URL"] = ctx.database_url
    took: list[float] = []
    ctx.repeat(lambda _run: took.append(bm.run(ctx["rows"])[1]))
    return [Row("migration_002", f"migrate() from 001 on 3 tables x {ctx['rows']:,} rows", median(took), "s", took)]


@benchmark("backup", "backup steps of a database of N price rows (bench_backup.py)",
           rows=(1_000_000, 20_000, "price rows"))
def backup(ctx: Context) -> list[Row]:
    from bench import bench_backup as bb

    os.environ["DATABASE_URL"] = ctx.database_url
    steps: list[dict[str, float]] = []
    ctx.repeat(lambda _run: steps.append(bb.main(["--rows", str(ctx["rows"])])))
    rows = []
    for label in steps[0]:
        took = [s[label] for s in steps]
        rows.append(Row("backup", f"{label}, {ctx['rows']:,} price rows", median(took), "s", took))
    return rows


@benchmark("sim_load", "simulator: small requests/s served to other processes, wrk and the Python load "
           "generator (bench_sim.py)",
           duration=(10.0, 2.0, "seconds of load per generator"),
           clients=(2, 2, "processes of the Python load generator"),
           threads=(4, 4, "threads per process of the Python load generator"))
def sim_load(ctx: Context) -> list[Row]:
    from bench import bench_sim

    wrk: list[float] = []
    python: list[float] = []

    def one(_run: int) -> None:
        rates = bench_sim.load(ctx["duration"], ctx["clients"], ctx["threads"])
        if rates["wrk"] is not None:
            wrk.append(rates["wrk"])
        python.append(rates["python"])
    ctx.repeat(one)
    what = f"Yahoo crumb through the full limit/fault/route path, {ctx['duration']:g} s"
    gen = f"{ctx['clients']} processes x {ctx['threads']} threads, keep-alive http.client"
    rows = []
    if wrk:
        rows.append(Row("sim_load", f"wrk -t2 -c16: requests/s served, {what}", median(wrk), "requests/s", wrk,
                        ratio=f"{median(wrk) / median(python):.1f}x the Python load generator",
                        goal=">= 1,000", verdict=verdict(median(wrk) >= 1000)))
    else:
        rows.append(Row("sim_load", f"wrk -t2 -c16: requests/s served, {what}", None, "requests/s",
                        goal=">= 1,000", verdict="n/a", note="not measured: wrk not installed (apt-get install wrk)"))
    rows.append(Row("sim_load", f"Python load generator ({gen}): requests/s served, {what}", median(python),
                    "requests/s", python, goal=">= 1,000", verdict=verdict(median(python) >= 1000)))
    return rows


@benchmark("scrapers", "dividend scrapers: parse speed per page type, whole runs against the simulator "
           "(bench_scrapers.py)",
           symbols=(2000, 100, "symbols in the simulated universe"))
def scrapers(ctx: Context) -> list[Row]:
    from bench import bench_scrapers as bs

    os.environ["DATABASE_URL"] = ctx.database_url
    results: list[tuple[dict, dict]] = []
    ctx.repeat(lambda _run: results.append(bs.run(ctx["symbols"])))
    rows = []
    for kind, (pages, records, _took) in results[0][0].items():
        speed = [r[0][kind][0] / r[0][kind][2] for r in results]
        per_record = [r[0][kind][1] / r[0][kind][2] for r in results]
        rows.append(Row("scrapers", f"parse {kind} pages in-process: {pages:,} pages, {records:,} records "
                        f"({ctx['symbols']:,}-symbol universe)", median(speed), "pages/s", speed,
                        ratio=f"{fmt(median(per_record))} records/s"))
    for source in results[0][1]:
        first = [r[1][source]["first"] for r in results]
        again = [r[1][source]["again"] for r in results]
        requests = results[0][1][source]["requests"]
        polite = results[0][1][source]["polite"]
        rows.append(Row("scrapers", f"{source}: first run (subprocess, client limits 200/s), {requests:,} "
                        "requests", median(first), "s", first,
                        ratio=f"default politeness alone: {fmt(polite)} s "
                              f"({polite / median(first):.0f}x the run)"))
        rows.append(Row("scrapers", f"{source}: re-run, writes nothing", median(again), "s", again,
                        ratio=f"{median([a / f for a, f in zip(again, first, strict=True)]):.2f}x the first run"))
    return rows


@benchmark("ratelimit_shared", "one rate limit per host across processes: acquire cost per store, what the host "
           "sees from several processes (bench_ratelimit_shared.py)",
           acquires=(2000, 200, "acquires per timed run (nobody waits)"),
           processes=(3, 2, "OS processes sending to one host"),
           each=(40, 5, "requests per process"),
           rate=(10.0, 10.0, "client limit, requests/s"),
           burst=(2, 2, "RATE_LIMIT_BURST"),
           server_limit=(4.0, 4.0, "the stricter server's limit, requests/s (429 + Retry-After: 1 beyond)"))
def ratelimit_shared(ctx: Context) -> list[Row]:
    from bench import bench_ratelimit_shared as brs

    os.environ["DATABASE_URL"] = ctx.database_url
    args = brs.parse_args(["--acquires", str(ctx["acquires"]), "--processes", str(ctx["processes"]),
                           "--each", str(ctx["each"]), "--rate", str(ctx["rate"]), "--burst", str(ctx["burst"]),
                           "--runs", str(ctx.runs), "--server-limit", str(ctx["server_limit"])])
    ctx.sample_load()  # acquire cost: median of `runs` runs; the processes' parts: one run, as the script does
    out = brs.run(args)
    labels = {"process": "this process only (the old behaviour)", "postgres": "PostgreSQL (rate_limits, UNLOGGED)",
              "redis": "Redis"}
    rows = []
    base = median(out["acquire"]["process"])
    for store, runs in out["acquire"].items():
        rows.append(Row("ratelimit_shared", f"one acquire() when nobody waits, {labels[store]} "
                        f"({ctx['acquires']:,} from one thread)", median(runs), "µs", runs,
                        ratio="" if store == "process" else f"{median(runs) / base:.0f}x this process only"))
    setup = f"{ctx['processes']} processes x {ctx['each']} requests, limit {ctx['rate']:g}/s burst {ctx['burst']}"
    for store, r in out["shared"].items():
        shared = store != "process"
        rows.append(Row("ratelimit_shared", f"{setup}, {labels[store]}: most requests the simulator counted in "
                        "one second", r["max/s"], "requests/s",
                        ratio=f"mean {fmt(r['mean/s (whole seconds)'])}/s over whole seconds; "
                              f"{r['max/s'] / ctx['rate']:.1f}x the limit",
                        goal=f"<= limit + burst ({ctx['rate'] + ctx['burst']:g})" if shared else "",
                        verdict=verdict(r["max/s"] <= ctx["rate"] + ctx["burst"]) if shared else "",
                        note="one run" + ("" if shared else "; each process has its own budget")))
    for store, r in out["strict"].items():
        rows.append(Row("ratelimit_shared", f"{setup}, server allows only {ctx['server_limit']:g}/s, "
                        f"{labels[store]}: 429s served", r["429s"], "429s",
                        ratio=f"wall {fmt(r['wall s'])} s, {r['given up']} given up", note="one run"))
    for store, why in out["skipped"].items():
        rows.append(Row("ratelimit_shared", f"{labels[store]}: acquire cost and {setup}", None, "",
                        verdict="n/a", note=f"skipped: {why}"))
    return rows


@benchmark("export", "Parquet export of N price rows, incremental nights, upload to a local SeaweedFS "
           "(bench_export.py)",
           rows=(1_000_000, 20_000, "price rows (800 symbols x rows/800 weekdays)"),
           files=(2000, 40, "files uploaded per worker count"),
           file_kb=(64, 16, "KiB per uploaded file"),
           workers=("1,4,8,16,32", "1,4", "upload worker counts"))
def export(ctx: Context) -> list[Row]:
    from bench import bench_export as be
    from bench.scratch import scratch_database

    os.environ["DATABASE_URL"] = ctx.database_url
    workers = [int(w) for w in ctx["workers"].split(",") if w]
    exports: list[dict] = []
    uploads: list[dict[int, float]] = []
    missing = ""

    def one(_run: int) -> None:
        nonlocal missing
        with scratch_database() as url:
            exports.append(be.bench_export(url, ctx["rows"]))
        if missing:
            return
        try:
            from tests.plugins.s3 import weed_binary

            weed_binary()
        except RuntimeError as err:
            missing = str(err)
            return
        uploads.append(be.bench_upload(ctx["files"], ctx["file_kb"], workers))
    ctx.repeat(one)
    e0 = exports[0]
    speed = [e["rows"] / e["seconds"] for e in exports]
    parquet = [e["parquet_bytes"] / 1e6 for e in exports]
    dump = median([e["dump_bytes"] / 1e6 for e in exports])
    rows = [
        Row("export", f"full export of {e0['rows']:,} price rows to {e0['files']} Parquet files (zstd)",
            median(speed), "rows/s", speed, ratio=f"{fmt(median([e['seconds'] for e in exports]))} s"),
        Row("export", "bytes on disk: Parquet against pg_dump -Fc -t raw_stock_prices", median(parquet), "MB",
            parquet, ratio=f"{median(parquet) / dump:.2f}x pg_dump's {fmt(dump)} MB "
                           f"({fmt(median([e['dump_seconds'] for e in exports]))} s)"),
        Row("export", "a night with nothing changed (fingerprint scan only)",
            median([e["unchanged"]["seconds"] for e in exports]), "s",
            [e["unchanged"]["seconds"] for e in exports],
            ratio=f"{e0['unchanged']['written']} files written, {e0['unchanged']['unchanged']} unchanged"),
        Row("export", f"a night after one new day of prices ({e0['new_day']['rows']} rows)",
            median([e["new_day"]["seconds"] for e in exports]), "s", [e["new_day"]["seconds"] for e in exports],
            ratio=f"{e0['new_day']['written']} file(s) rewritten, {e0['new_day']['unchanged']} unchanged"),
    ]
    what = f"{ctx['files']:,} files of {ctx['file_kb']} KiB to a local SeaweedFS (weed mini), HEAD-verified"
    if missing:
        rows.append(Row("export", f"upload of {what}", None, "files/s", verdict="n/a",
                        note=f"not measured: {missing}"))
        return rows
    mb = ctx["files"] * ctx["file_kb"] * 1024 / 1e6
    base = [ctx["files"] / u[workers[0]] for u in uploads]
    for w in workers:
        rate = [ctx["files"] / u[w] for u in uploads]
        rows.append(Row("export", f"upload of {what}, {w} worker{'s' if w > 1 else ''}", median(rate), "files/s",
                        rate, ratio=f"{fmt(median(rate) * mb / ctx['files'])} MB/s; "
                                    f"{median([a / b for a, b in zip(rate, base, strict=True)]):.1f}x {workers[0]} "
                                    f"worker{'s' if workers[0] > 1 else ''}"))
    return rows


@benchmark("backfill", "backfill (--mode backfill, Dask): sequential, threads, a LocalCluster; then a binding "
           "limit (bench_backfill.py)",
           symbols=(500, 20, "universe size (its listed symbols are backfilled)"),
           days=(252, 20, "sessions of history"),
           latency_ms=(100.0, 20.0, "simulator latency per request"),
           workers=("4,8,16", "4", "thread worker counts (the last one also under the binding limit)"),
           cluster_threads=(8, 0, "threads per LocalCluster process (2 processes); 0: no cluster case"),
           binding_rate=(5.0, 5.0, "binding limit, requests/s at the client and the simulator"),
           binding_symbols=(200, 10, "symbols under the binding limit"))
def backfill(ctx: Context) -> list[Row]:
    from bench import bench_backfill as bb

    args = bb.parse_args(["--symbols", str(ctx["symbols"]), "--days", str(ctx["days"]),
                          "--latency-ms", str(ctx["latency_ms"]), "--workers", ctx["workers"],
                          "--cluster-threads", str(ctx["cluster_threads"]),
                          "--binding-rate", str(ctx["binding_rate"]),
                          "--binding-symbols", str(ctx["binding_symbols"])])
    results: list[dict] = []
    ctx.repeat(lambda _run: results.append(bb.run(args, ctx.database_url)))
    failed = [c["case"] for r in results for c in r["unlimited"] + r["binding"] if c["code"] != 0]
    if failed:
        raise RuntimeError(f"backfill case(s) exited non-zero: {', '.join(failed)}")
    n = results[0]["symbols"]
    rows = []
    seq = [r["unlimited"][0]["job"] for r in results]
    for i, case in enumerate(results[0]["unlimited"]):
        job = [r["unlimited"][i]["job"] for r in results]
        wall = [r["unlimited"][i]["wall"] for r in results]
        rows.append(Row("backfill", f"{case['case']}: job, {n} symbols x {ctx['days']} sessions, "
                        f"{ctx['latency_ms']:g} ms latency, limit not binding", median(job), "s", job,
                        ratio=f"{median([s / j for s, j in zip(seq, job, strict=True)]):.1f}x sequential",
                        note=f"wall {fmt(median(wall))} s; {case['rows']:,} price rows"))
    limit = ctx["binding_rate"]
    for i, case in enumerate(results[0]["binding"]):
        job = [r["binding"][i]["job"] for r in results]
        busiest = max(r["binding"][i]["busiest"] for r in results)
        rows.append(Row("backfill", f"binding limit {limit:g}/s, {case['case']}: job, "
                        f"{min(ctx['binding_symbols'], n)} symbols", median(job), "s", job,
                        ratio=f"{case['charts']} chart requests; busiest second {busiest} (all Yahoo hosts)",
                        note=f"429s: {sum(r['binding'][i]['429'] for r in results)}"))
    return rows


@benchmark("polygon", "Polygon/Massive at the free tier (5/min): bulk window against a per-ticker loop "
           "(bench_polygon.py)",
           symbols=(5000, 100, "tickers in the simulated universe"))
def polygon(ctx: Context) -> list[Row]:
    from bench import bench_polygon as bp

    results: list[list[tuple]] = []
    ctx.repeat(lambda _run: results.append(bp.run(ctx["symbols"])))
    night = median([r[0][4] for r in results])
    rows = []
    for i, (label, requests, refused, work, _wall) in enumerate(results[0]):
        walls = [r[i][4] for r in results]
        measured = "simulated clock" if math.isnan(work) else \
            f"measured {fmt(median([r[i][3] for r in results]))} s with raised limits"
        rows.append(Row("polygon", f"{label}: wall time at 5/min", median(walls), "s", walls,
                        ratio=bp.hours(median(walls)) + (f"; {median(walls) / night:,.0f}x the bulk night"
                                                         if i else ""),
                        note=f"{requests:,} requests, {refused:,} 429s; {measured}"))
    return rows


# -- running -------------------------------------------------------------------


def command_for(args: argparse.Namespace, name: str, ctx: Context) -> str:
    parts = [".venv/bin/python", "-m", "bench", "--only", name]
    if args.quick:
        parts.append("--quick")
    if args.runs is not None:
        parts += ["--runs", str(args.runs)]
    for key, value in ctx.overrides.items():
        parts += ["--set", f"{name}.{key}={value}"]
    prefix = "" if args.database_url == DEFAULT_URL else f"DATABASE_URL={shlex.quote(args.database_url)} "
    return prefix + shlex.join(parts)


def markdown(rows: list[Row]) -> str:
    lines = ["| benchmark | case | median | runs | ratio | goal | load avg | machine | date | command |",
             "|---|---|---:|---|---|---|---|---|---|---|"]
    for r in rows:
        value = f"{fmt(r.median)} {r.unit}" if r.median is not None else r.note or "not measured"
        runs = ", ".join(fmt(v) for v in r.runs)
        goal = f"{r.goal} {r.verdict}".strip()
        ratio = "; ".join(x for x in (r.ratio, r.note if r.median is not None else "") if x)
        cells = [r.bench, r.case, value, runs, ratio, goal, r.load, r.machine, r.date, f"`{r.command}`"]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="benchmarks: " + ", ".join(BENCHMARKS))
    p.add_argument("--quick", action="store_true", help="tiny sizes, one run each: a smoke test (< 3 min)")
    p.add_argument("--only", action="append", default=[], metavar="NAME", choices=list(BENCHMARKS),
                   help="run only this benchmark (repeatable)")
    p.add_argument("--runs", type=int, help="runs per figure, the median is reported (default 3; --quick 1)")
    p.add_argument("--set", action="append", default=[], metavar="BENCH.KEY=VALUE", type=_setting,
                   help="override a benchmark's parameter (see --list)")
    p.add_argument("--database-url", default=os.environ.get("DATABASE_URL") or DEFAULT_URL,
                   help="PostgreSQL server for the scratch databases (default: DATABASE_URL, else %(default)s)")
    p.add_argument("--markdown", type=Path, metavar="FILE", help="also write the table here")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the rows and the machine here")
    p.add_argument("--figures", type=Path, metavar="DIR",
                   help="write throughput_workers.png and a night's timeline PNG here")
    p.add_argument("--list", action="store_true", help="list the benchmarks and their parameters, then exit")
    args = p.parse_args(argv)
    if args.runs is not None and args.runs < 1:
        p.error("--runs must be >= 1")
    return args


def _setting(text: str) -> tuple[str, str]:
    key, eq, value = text.partition("=")
    if not eq or "." not in key:
        raise argparse.ArgumentTypeError(f"expected BENCH.KEY=VALUE, got {text!r}")
    return key, value


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.list:
        for b in BENCHMARKS.values():
            print(f"{b.name}: {b.about}")
            for key, (full, quick, about) in b.params.items():
                print(f"    {b.name}.{key} = {full} (--quick: {quick}): {about}")
        return 0
    names = args.only or list(BENCHMARKS)
    for key, _ in args.set:
        if key.split(".", 1)[0] not in BENCHMARKS:
            raise SystemExit(f"--set {key}: no benchmark {key.split('.', 1)[0]!r}")
    m = machine()
    mtext = machine_text(m)
    rows: list[Row] = []
    failed: list[str] = []
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="divpipe_bench_"))
    print(f"{mtext}; {len(names)} benchmark(s), {'quick' if args.quick else 'full'}", file=sys.stderr, flush=True)
    try:
        for name in names:
            b = BENCHMARKS[name]
            ctx = Context(args, name, b.params, work)
            began = time.monotonic()
            print(f"== {name}: {b.about} ({', '.join(f'{k}={v}' for k, v in ctx.params.items())}, "
                  f"{ctx.runs} run(s))", file=sys.stderr, flush=True)
            try:
                # The scripts' own progress lines go to stderr: stdout is the table.
                with environ_kept(), redirect_stdout(sys.stderr):
                    produced = b.fn(ctx)
            except (Exception, SystemExit) as err:  # one broken benchmark does not hide the others
                failed.append(name)
                produced = [Row(name, "failed", None, "", verdict="❌", note=f"failed: {err}".splitlines()[0][:200])]
            date = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
            for r in produced:
                r.command, r.machine, r.date, r.load = command_for(args, name, ctx), mtext, date, ctx.load_text()
            rows += produced
            print(f"   {name}: {time.monotonic() - began:.0f} s, load {ctx.load_text()}", file=sys.stderr, flush=True)
    finally:
        cleanup_prepared()
        shutil.rmtree(work, ignore_errors=True)
    table = markdown(rows)
    print(table)
    print(f"{len(rows)} rows in {time.monotonic() - started:.0f} s"
          + (f"; failed: {', '.join(failed)}" if failed else ""), file=sys.stderr)
    if args.markdown:
        args.markdown.write_text(table)
    if args.json:
        args.json.write_text(json.dumps({"machine": m, "rows": [asdict(r) for r in rows]}, indent=2,
                                        ensure_ascii=False))
    return 1 if failed else 0
