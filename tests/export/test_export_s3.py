"""The lake uploaded to a real S3-compatible server (SeaweedFS, started by the tests)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.dataset as pads
import pyarrow.fs
import pytest

from divpipe.config import PROJECT_ROOT, load_settings
from divpipe.export import s3 as s3mod
from divpipe.export import upload
from divpipe.export.manifest import FileEntry
from tests.export.cutproxy import CuttingProxy
from tests.export.helpers import export
from tests.export.seed import seed_prices, seed_small
from tests.plugins.s3 import SECRET_KEY, free_ports


@pytest.fixture
def bucket(s3_env, conn, monkeypatch, tmp_path):
    seed_small(conn)
    monkeypatch.setenv("EXPORT_STAGING_DIR", str(tmp_path / "staging"))
    monkeypatch.setenv("HTTP_BACKOFF", "0")
    return s3_env.new_bucket()


def remote_objects(weed, bucket: str, prefix: str = "lake/") -> dict[str, int]:
    listing = weed.client().list_objects_v2(Bucket=bucket, Prefix=prefix)
    return {o["Key"][len(prefix):]: o["Size"] for o in listing.get("Contents", [])}


def remote_manifest(weed, bucket: str) -> dict:
    body = weed.client().get_object(Bucket=bucket, Key="lake/_manifest.json")["Body"].read()
    return json.loads(body)


def assert_manifest_names_only_present_objects(weed, bucket: str) -> dict:
    body = remote_manifest(weed, bucket)
    objects = remote_objects(weed, bucket)
    for entry in body["files"]:
        assert objects.get(entry["path"]) == entry["bytes"], entry["path"]
    return body


def test_upload_matches_the_local_lake_and_reads_back_equal(bucket, s3_env, conn, capsys, tmp_path):
    code, out, _ = export(capsys, "--to", f"s3://{bucket}/lake", "--workers", "4")
    assert code == 0, out
    local = json.loads((tmp_path / "staging/_manifest.json").read_text())
    body = assert_manifest_names_only_present_objects(s3_env, bucket)
    assert body["files"] == local["files"]
    assert set(remote_objects(s3_env, bucket)) == {f["path"] for f in local["files"]} | {"_manifest.json"}
    some = local["files"][0]
    stored = s3_env.client().get_object(Bucket=bucket, Key=f"lake/{some['path']}")["Body"].read()
    assert hashlib.sha256(stored).hexdigest() == some["sha256"]
    # pyarrow reads the lake straight from S3 with the database's numbers.
    fs = pyarrow.fs.S3FileSystem(endpoint_override=s3_env.endpoint, scheme="http",
                                 access_key=s3_env.env()["AWS_ACCESS_KEY_ID"], secret_key=SECRET_KEY)
    table = pads.dataset(f"{bucket}/lake/prices", filesystem=fs, format="parquet", partitioning="hive").to_table()
    with conn.cursor() as cur:
        cur.execute("SELECT count(*), sum(close) FROM raw_stock_prices")
        rows, total = cur.fetchone()
    assert table.num_rows == rows
    assert sum(table.column("close").to_pylist()) == total


def test_a_second_night_uploads_only_what_changed(bucket, s3_env, conn, capsys):
    export(capsys, "--to", f"s3://{bucket}/lake")
    code, out, _ = export(capsys, "--to", f"s3://{bucket}/lake")
    assert code == 0 and "; 0 uploaded" in out
    seed_prices(conn, 5, dt.date(2025, 2, 11), dt.date(2025, 2, 11))
    code, out, _ = export(capsys, "--to", f"s3://{bucket}/lake")
    assert code == 0 and "; 1 uploaded" in out
    body = assert_manifest_names_only_present_objects(s3_env, bucket)
    assert len(body["files"]) == len(remote_objects(s3_env, bucket)) - 1


def test_large_files_go_up_in_verified_parts(s3_env, tmp_path, monkeypatch):
    monkeypatch.setenv("EXPORT_MULTIPART_MB", "5")
    settings = load_settings(dotenv=False)
    bucket = s3_env.new_bucket()
    data = os.urandom(11 * (1 << 20) + 123)
    (tmp_path / "big.bin").write_bytes(data)
    entry = FileEntry("big.bin", "x", "", 0, len(data), hashlib.sha256(data).hexdigest())
    target = s3mod.S3Target(bucket, "p")
    uploader = upload.Uploader(s3mod.client(settings, 2), settings, target, tmp_path)
    uploader.upload_one(entry)  # raises unless size and ETag verify
    head = s3_env.client().head_object(Bucket=bucket, Key="p/big.bin")
    assert head["ETag"].strip('"').endswith("-3")  # 5 + 5 + 1 MiB parts
    assert head["Metadata"]["sha256"] == entry.sha256


def run_cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "divpipe", "export", *args], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=240)


def test_the_command_never_shows_a_credential(bucket, db_env):
    result = run_cli(db_env, "--to", f"s3://{bucket}/lake")
    assert result.returncode == 0, result.stderr
    assert "upload: " in result.stderr  # plain progress lines when not on a terminal
    assert result.stdout.count("\n") == 1 and result.stdout.startswith("✅ export to s3://")
    assert SECRET_KEY not in result.stdout + result.stderr


@pytest.mark.parametrize("fault", ["unreachable", "wrong-credentials", "no-credentials", "missing-bucket"])
def test_a_bad_target_is_one_line_exit_1_and_writes_nothing(bucket, db_env, tmp_path, fault):
    env = {**db_env, "HTTP_RETRIES": "1"}
    target = f"s3://{bucket}/lake"
    if fault == "unreachable":
        port = free_ports(1)[0]  # nothing listens there
        env["S3_ENDPOINT_URL"], expected = f"http://127.0.0.1:{port}", "cannot reach S3 endpoint"
    elif fault == "wrong-credentials":
        env["AWS_SECRET_ACCESS_KEY"], expected = "not-the-secret", "access denied to bucket"
    elif fault == "no-credentials":
        del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
        env["AWS_EC2_METADATA_DISABLED"] = "true"  # no instance-role lookup: no test leaves the machine
        expected = "no AWS credentials found"
    else:
        target, expected = "s3://no-such-bucket/lake", "bucket no-such-bucket does not exist"
    result = run_cli(env, "--to", target)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("❌")]
    assert len(errors) == 1 and errors[0].startswith("❌ export: ") and expected in errors[0], result.stderr
    assert result.stderr.strip().splitlines()[-1] == errors[0]
    assert not (tmp_path / "staging").exists()
    assert SECRET_KEY not in result.stdout + result.stderr


def test_an_upload_cut_mid_file_fails_cleanly_and_is_retried_next_run(bucket, s3_env, conn, capsys, monkeypatch):
    # Enough prices that one month's file is much larger than what the proxy lets through.
    seed_prices(conn, 600, dt.date(2025, 1, 1), dt.date(2025, 1, 31), "B")
    proxy = CuttingProxy(s3_env.port, limit=100_000)
    try:
        monkeypatch.setenv("S3_ENDPOINT_URL", proxy.endpoint)
        monkeypatch.setenv("HTTP_RETRIES", "2")
        code, out, _ = export(capsys, "--to", f"s3://{bucket}/lake")
    finally:
        proxy.stop()
    assert code == 1
    assert proxy.cuts >= 3  # the first try and both retries were cut
    assert out.startswith("❌ export to s3://") and out.count("\n") == 1
    assert "failed: prices/year=2025/month=1/part-0000.parquet (retried on the next run)" in out
    body = assert_manifest_names_only_present_objects(s3_env, bucket)
    assert "prices/year=2025/month=1/part-0000.parquet" not in {f["path"] for f in body["files"]}
    assert "prices/year=2025/month=1/part-0000.parquet" not in remote_objects(s3_env, bucket)

    monkeypatch.setenv("S3_ENDPOINT_URL", s3_env.endpoint)
    code, out, _ = export(capsys, "--to", f"s3://{bucket}/lake")
    assert code == 0 and " 0 file(s) written" in out and "; 1 uploaded" in out
    body = assert_manifest_names_only_present_objects(s3_env, bucket)
    assert "prices/year=2025/month=1/part-0000.parquet" in {f["path"] for f in body["files"]}


def test_staging_dir_defaults_under_the_data_dir(monkeypatch, tmp_path):
    from divpipe.export.job import staging_dir

    monkeypatch.delenv("EXPORT_STAGING_DIR", raising=False)
    assert staging_dir(load_settings(dotenv=False)) == Path(os.environ["DIVPIPE_DATA_DIR"]) / "export"


def test_verify_finds_an_object_missing_from_the_bucket(bucket, s3_env, capsys):
    export(capsys, "--to", f"s3://{bucket}/lake")
    code, out, _ = export(capsys, "--to", f"s3://{bucket}/lake", "--verify")
    assert code == 0 and out.startswith(f"✅ verify s3://{bucket}/lake: ")
    s3_env.client().delete_object(Bucket=bucket, Key="lake/stocks/data.parquet")
    code, out, _ = export(capsys, "--to", f"s3://{bucket}/lake", "--verify")
    assert code == 1 and "stocks/data.parquet: missing" in out
