"""A full local disk: a real, tiny tmpfs (the tests run as root, as the project's machines do)."""

from __future__ import annotations

import datetime as dt
import hashlib
import subprocess

import pytest

from tests.export.helpers import export, files_on_disk, manifest
from tests.export.seed import seed_prices, seed_small


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_a_full_disk_is_one_line_exit_1_and_leaves_the_lake_as_it_was(small_disk, conn, capsys):
    seed_small(conn)
    lake = small_disk / "lake"
    code, out, _ = export(capsys, "--to", str(lake))
    assert code == 0, out
    before = manifest(lake)

    seed_prices(conn, 800, dt.date(2025, 1, 1), dt.date(2025, 1, 31), "B")  # far more than 256 KB of Parquet
    code, out, err = export(capsys, "--to", str(lake))
    assert code == 1
    errors = [line for line in err.splitlines() if line.startswith("❌")]
    assert len(errors) == 1 and "no space left on device" in errors[0] and "unchanged" in errors[0], err
    assert manifest(lake) == before
    assert files_on_disk(lake) == {f["path"] for f in before["files"]}  # no temporary file left behind
    for entry in before["files"]:
        assert hashlib.sha256((lake / entry["path"]).read_bytes()).hexdigest() == entry["sha256"]

    # With room again, the next run writes what the failed one could not.
    subprocess.run(["mount", "-o", "remount,size=16m", str(small_disk)], check=True)
    code, out, _ = export(capsys, "--to", str(lake))
    assert code == 0 and " 1 file(s) written" in out, out
