"""The lake on disk: layout, exact types, numbers equal to the database, manifest, incremental nights."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
from decimal import Decimal

import duckdb
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

from tests.export.helpers import export, files_on_disk, manifest
from tests.export.seed import seed_prices, seed_small


@pytest.fixture
def lake(tmp_path, conn):
    seed_small(conn)
    return tmp_path / "lake"


def db_rows(conn, query: str) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(query)
        return cur.fetchall()


def test_layout_is_hive_partitioned_with_one_file_tables(lake, capsys):
    code, out, _ = export(capsys, "--to", str(lake))
    assert code == 0, out
    files = files_on_disk(lake)
    assert "prices/year=2024/month=11/part-0000.parquet" in files
    assert "prices/year=2025/month=2/part-0000.parquet" in files
    assert {"dividends/year=2023/part-0000.parquet", "dividends/year=2024/part-0000.parquet",
            "dividends/year=2025/part-0000.parquet"} <= files
    assert "splits/year=2024/part-0000.parquet" in files
    assert "dividends_nasdaq/year=2025/part-0000.parquet" in files
    assert "stocks/data.parquet" in files and "future_dividends/data.parquet" in files
    assert not any(".tmp" in f for f in files)
    # A month of prices per file, no per-symbol splinters.
    assert len([f for f in files if f.startswith("prices/")]) == 4


def test_types_are_exact_decimal_and_date(lake, capsys):
    export(capsys, "--to", str(lake))
    prices = pq.read_schema(lake / "prices/year=2025/month=1/part-0000.parquet")
    assert prices.field("close").type == pa.decimal128(18, 6)
    assert prices.field("date").type == pa.date32()
    assert prices.field("volume").type == pa.int64()
    stocks = pq.read_table(lake / "stocks/data.parquet")
    assert stocks.schema.field("dividend_yield").type == pa.decimal128(12, 8)
    assert stocks.schema.field("holdings_updated_at").type == pa.timestamp("us", tz="UTC")
    by_symbol = {row["symbol"]: row for row in stocks.to_pylist()}
    assert by_symbol["S0000"]["price"] == Decimal("12.345678")
    assert by_symbol["S0001"]["company"] == ""  # the empty string stays distinct from NULL
    assert by_symbol["S0000"]["company"] == "Zero Corp" and by_symbol["S0001"]["price"] is None
    assert json.loads(by_symbol["S0001"]["holdings"]) == [{"symbol": "AAA", "weight": 0.25}]
    assert by_symbol["S0001"]["holdings_updated_at"] == dt.datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC)


def test_duckdb_reads_the_lake_with_the_databases_numbers(lake, conn, capsys):
    export(capsys, "--to", str(lake))
    duck = duckdb.connect()
    got = duck.execute(
        f"SELECT year, month, count(*), sum(close), sum(volume), min(date), max(date) "
        f"FROM read_parquet('{lake}/prices/**/*.parquet', hive_partitioning = true) "
        f"GROUP BY ALL ORDER BY year, month").fetchall()
    want = db_rows(conn, "SELECT extract(year FROM date)::int, extract(month FROM date)::int, count(*), "
                         "sum(close), sum(volume), min(date), max(date) FROM raw_stock_prices "
                         "GROUP BY 1, 2 ORDER BY 1, 2")
    assert [tuple(r) for r in got] == [tuple(r) for r in want]
    amounts = duck.execute(f"SELECT symbol, ex_date, amount FROM read_parquet('{lake}/dividends/**/*.parquet', "
                           f"hive_partitioning = true) ORDER BY symbol").fetchall()
    assert amounts == db_rows(conn, "SELECT symbol, ex_date, amount FROM raw_dividends ORDER BY symbol")


def test_pyarrow_and_pandas_read_every_row_as_stored(lake, conn, capsys):
    export(capsys, "--to", str(lake))
    table = pads.dataset(lake / "prices", format="parquet", partitioning="hive").to_table()
    frame = table.to_pandas()
    assert len(frame) == db_rows(conn, "SELECT count(*) FROM raw_stock_prices")[0][0]
    lake_rows = sorted(zip(frame.symbol, frame.date, frame.open, frame.high, frame.low, frame.close,
                           frame.adj_close, frame.volume, strict=True))
    assert lake_rows == db_rows(conn, "SELECT symbol, date, open, high, low, close, adj_close, volume "
                                      "FROM raw_stock_prices ORDER BY symbol, date")
    nasdaq = pads.dataset(lake / "dividends_nasdaq", format="parquet", partitioning="hive").to_table()
    assert sorted(nasdaq.select(["symbol", "ex_date", "amount", "company_name", "source_url"]).to_pylist(),
                  key=lambda r: r["symbol"]) == [
        dict(zip(["symbol", "ex_date", "amount", "company_name", "source_url"], row, strict=True))
        for row in db_rows(conn, "SELECT symbol, ex_date, amount, company_name, source_url "
                                 "FROM raw_dividends_nasdaq ORDER BY symbol")]


def test_manifest_lists_every_file_with_rows_size_and_checksum(lake, capsys):
    export(capsys, "--to", str(lake))
    body = manifest(lake)
    assert body["exported_at"].endswith("Z")
    assert {f["path"] for f in body["files"]} == files_on_disk(lake)
    for entry in body["files"]:
        path = lake / entry["path"]
        assert entry["bytes"] == path.stat().st_size
        assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert entry["rows"] == pq.read_metadata(path).num_rows


def test_a_night_rewrites_only_the_partitions_that_changed(lake, conn, capsys):
    export(capsys, "--to", str(lake))
    before = {f["path"]: f["sha256"] for f in manifest(lake)["files"]}
    code, again, _ = export(capsys, "--to", str(lake))
    assert code == 0 and " 0 file(s) written" in again
    assert {f["path"]: f["sha256"] for f in manifest(lake)["files"]} == before

    # One new day of prices, one corrected dividend amount.
    seed_prices(conn, 5, dt.date(2025, 2, 11), dt.date(2025, 2, 11))
    with conn, conn.cursor() as cur:
        cur.execute("UPDATE raw_dividends SET amount = 0.2 WHERE symbol = 'S0002'")
    code, night, _ = export(capsys, "--to", str(lake))
    after = {f["path"]: f["sha256"] for f in manifest(lake)["files"]}
    changed = {p for p in after if after[p] != before.get(p)}
    assert changed == {"prices/year=2025/month=2/part-0000.parquet", "dividends/year=2023/part-0000.parquet"}
    assert " 2 file(s) written" in night

    code, full, _ = export(capsys, "--to", str(lake), "--full")
    assert f" {len(after)} file(s) written" in full


def test_a_partition_whose_rows_are_gone_disappears_from_the_lake(lake, conn, capsys):
    export(capsys, "--to", str(lake))
    with conn, conn.cursor() as cur:
        cur.execute("DELETE FROM raw_stock_prices WHERE date < '2024-12-01'")
    code, out, _ = export(capsys, "--to", str(lake))
    assert code == 0 and "1 file(s) removed" in out
    assert not (lake / "prices/year=2024/month=11").exists()
    assert {f["path"] for f in manifest(lake)["files"]} == files_on_disk(lake)


def test_a_file_deleted_from_the_lake_is_written_again(lake, capsys):
    export(capsys, "--to", str(lake))
    (lake / "splits/year=2024/part-0000.parquet").unlink()
    code, out, _ = export(capsys, "--to", str(lake))
    assert code == 0 and " 1 file(s) written" in out
    assert (lake / "splits/year=2024/part-0000.parquet").is_file()


def test_since_and_tables_narrow_what_is_looked_at(lake, capsys):
    code, out, _ = export(capsys, "--to", str(lake), "--tables", "prices,raw_dividends", "--since", "2025-01-15")
    assert code == 0, out
    assert files_on_disk(lake) == {"prices/year=2025/month=1/part-0000.parquet",
                                   "prices/year=2025/month=2/part-0000.parquet",
                                   "dividends/year=2025/part-0000.parquet"}
    # Older partitions are not "gone" because --since did not look at them.
    export(capsys, "--to", str(lake), "--tables", "prices")
    code, out, _ = export(capsys, "--to", str(lake), "--tables", "prices", "--since", "2025-02-01")
    assert "0 file(s) removed" in out and len(files_on_disk(lake)) == 5


def test_a_big_partition_is_split_into_several_files(lake, conn, capsys, monkeypatch):
    monkeypatch.setenv("EXPORT_MAX_FILE_ROWS", "40")
    export(capsys, "--to", str(lake), "--tables", "prices")
    january = sorted(p.name for p in (lake / "prices/year=2025/month=1").iterdir())
    rows = db_rows(conn, "SELECT count(*) FROM raw_stock_prices WHERE date BETWEEN '2025-01-01' AND '2025-01-31'")[0][0]
    assert len(january) == -(-rows // 40)
    assert sum(pq.read_metadata(lake / "prices/year=2025/month=1" / n).num_rows for n in january) == rows


@pytest.mark.parametrize(("args", "message"), [
    (["--tables", "prices,bogus"], "unknown table 'bogus'"),
    (["--since", "2025-02-30"], "not a date"),
    (["--workers", "0"], "--workers must be between 1 and 64"),
    ([], "no target"),
])
def test_bad_usage_is_one_line_and_exit_2(lake, capsys, args, message):
    code, _, err = export(capsys, *(["--to", str(lake), *args] if args else []))
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and message in err
    assert not lake.exists()


def test_a_second_export_to_the_same_lake_is_refused_while_one_runs(lake, conn, capsys):
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (f"divpipe-export:{lake.resolve()}",))
    code, _, err = export(capsys, "--to", str(lake))
    assert code == 1 and err.strip().splitlines()[-1].startswith("❌ export: another export to ")
    assert not (lake / "_manifest.json").exists()
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_unlock_all()")
    code, _, _ = export(capsys, "--to", str(lake))
    assert code == 0


def test_progress_is_a_bar_on_a_terminal_and_lines_in_a_log(capsys, caplog):
    from divpipe.export.progress import FileProgress

    bar = FileProgress("upload", 3, 3000, tty=True)
    for _ in range(3):
        bar.advance(1000)
    bar.close()
    assert "upload" in capsys.readouterr().err and not caplog.records
    lines = FileProgress("upload", 20, 20_000, tty=False)
    with caplog.at_level("INFO", logger="divpipe.export"):
        for _ in range(20):
            lines.advance(1000)
    assert [r.getMessage().split(",")[0] for r in caplog.records] == [f"upload: {n}/20 files" for n in range(2, 21, 2)]


def test_verify_checks_every_file_against_the_manifest(lake, capsys):
    export(capsys, "--to", str(lake))
    n = len(manifest(lake)["files"])
    code, out, _ = export(capsys, "--to", str(lake), "--verify")
    assert code == 0 and out.startswith(f"✅ verify {lake}: {n} file(s) match the manifest of ")
    with open(lake / "splits/year=2024/part-0000.parquet", "ab") as fh:
        fh.write(b"x")
    (lake / "stocks/data.parquet").unlink()
    code, out, _ = export(capsys, "--to", str(lake), "--verify")
    assert code == 1 and out.count("\n") == 1
    assert f"2 of {n} file(s) wrong" in out and "stocks/data.parquet: missing" in out
    assert "splits/year=2024/part-0000.parquet: " in out
    code, _, err = export(capsys, "--to", str(lake / "nowhere"), "--verify")
    assert code == 1 and "has no _manifest.json" in err


def test_temporary_files_of_a_killed_export_are_swept(lake, capsys):
    export(capsys, "--to", str(lake))
    stale = lake / "prices/year=2025/month=1/.part-0000.parquet.tmp-999999"
    stale.write_bytes(b"half a file")
    code, _, _ = export(capsys, "--to", str(lake))
    assert code == 0 and not stale.exists()


def test_term_during_an_export_leaves_no_temporary_file_and_no_new_manifest(lake, db_env):
    """TERM (how the drivers stop a task) arrives while the first Parquet file is being written."""
    code = (
        "import os, signal, sys\n"
        "import divpipe.export.write as w\n"
        "real = w.pq.write_table\n"
        "def write_then_term(*a, **k):\n"
        "    real(*a, **k)\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "w.pq.write_table = write_then_term\n"
        "from divpipe.export import cli\n"
        "sys.exit(cli.main(sys.argv[1:]))\n"
    )
    result = subprocess.run([sys.executable, "-c", code, "--to", str(lake)], env=db_env, capture_output=True,
                            text=True, timeout=120, cwd=os.getcwd())
    assert result.returncode == 130 and result.stderr.strip().splitlines()[-1] == "❌ interrupted"
    assert not (lake / "_manifest.json").exists()
    assert not [p for p in lake.rglob("*") if p.is_file()]
