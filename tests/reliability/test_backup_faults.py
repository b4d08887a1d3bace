"""A full backup disk: one clean line, nothing good deleted, no half-written file that looks valid."""

from __future__ import annotations

import datetime as dt
import os
import stat
from pathlib import Path

from divpipe.jobs import backup
from divpipe.jobs import backup_catalog as catalog


def _disk_full_on_manifests(monkeypatch):
    real_fdopen = os.fdopen

    def fdopen(fd, mode="r", *args, **kwargs):
        if "w" in mode:  # the manifest: its bytes go to /dev/full, which answers ENOSPC as a full disk does
            os.close(fd)
            return open("/dev/full", mode, *args, **kwargs)
        return real_fdopen(fd, mode, *args, **kwargs)

    monkeypatch.setattr(catalog.os, "fdopen", fdopen)


def test_a_full_disk_is_one_line_and_leaves_no_partial_or_unmanifested_file(db_url, conn, monkeypatch, capsys,
                                                                              keep_logging):
    backup_dir = Path(os.environ["BACKUP_DIR"])
    old_good = catalog.dump_path(backup_dir, dt.datetime.now(dt.UTC) - dt.timedelta(days=30))
    old_good.parent.mkdir(parents=True)
    old_good.write_bytes(b"PGDMP")
    catalog.write_manifest(catalog.manifest_path(old_good), {"status": "good", "tables": {}})
    _disk_full_on_manifests(monkeypatch)

    assert backup.main(["--keep-days", "1"]) == 1
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert last == "❌ backup failed: No space left on device", last
    assert "Traceback" not in err
    left = sorted(p.name for p in backup_dir.rglob("*") if p.is_file())
    assert left == [old_good.name, catalog.manifest_path(old_good).name]  # nothing new, nothing deleted


def test_backup_files_are_not_readable_by_other_users(db_url, conn, capsys, keep_logging):
    assert backup.main([]) == 0
    files = [p for p in Path(os.environ["BACKUP_DIR"]).rglob("*")]
    assert files
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path
