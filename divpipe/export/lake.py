"""Export the chosen datasets into a local lake directory, rewriting only changed partitions.

The order is what keeps the lake whole whatever fails:
1. read every changed partition (one snapshot) and write its files under temporary names;
2. write the new manifest under a temporary name;
3. rename the files, then the manifest, into place (renames need no space);
4. delete the files the new manifest no longer names;
5. record the bookmark.
A failure in 1 or 2 (a full disk) removes the temporary files: the lake and
its manifest are as before. A failure in 5 only makes the next night redo
the same partitions.
"""

from __future__ import annotations

import datetime as dt
import errno
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2.extensions
from psycopg2 import sql

from divpipe.config import Settings
from divpipe.db.connect import connect, transaction
from divpipe.db.failures import database_errors
from divpipe.errors import ExportError
from divpipe.export import manifest as manifests
from divpipe.export import pgarrow, plan, write
from divpipe.export.datasets import Dataset, Partition
from divpipe.export.progress import FileProgress

log = logging.getLogger("divpipe.export")


@dataclass
class LakeResult:
    manifest: manifests.Manifest
    files_written: int = 0
    bytes_written: int = 0
    rows_written: int = 0
    partitions_written: int = 0
    partitions_unchanged: int = 0
    files_removed: int = 0
    written: list[str] = field(default_factory=list)


def _present_partitions(root: Path, manifest: manifests.Manifest, dataset: str) -> set[Partition]:
    """Partitions whose files the manifest names and the disk still has (a deleted file is rewritten)."""
    by_partition: dict[str, bool] = {}
    for entry in manifest.files.values():
        if entry.dataset == dataset:
            ok = (root / entry.path).is_file()
            by_partition[entry.partition] = by_partition.get(entry.partition, True) and ok
    return {Partition.from_path(p) for p, ok in by_partition.items() if ok}


def _where(dataset: Dataset, partition: Partition) -> tuple[sql.Composable | None, tuple]:
    if dataset.date_column is None:
        return None, ()
    start, end = partition.date_range()
    column = sql.Identifier(dataset.date_column)
    return sql.SQL("{c} >= %s AND {c} < %s").format(c=column), (start, end)


def _disk_error(err: OSError, root: Path) -> ExportError:
    what = "no space left on device" if err.errno == errno.ENOSPC else (err.strerror or str(err))
    where = err.filename or root
    return ExportError(f"export: cannot write {where}: {what}; the lake at {root} is unchanged")


def sweep_temporary_files(root: Path) -> int:
    """Delete temporary files a killed export left behind (the caller holds the lake's lock)."""
    stale = [p for p in root.rglob(".*.tmp-*") if p.is_file()]
    for path in stale:
        path.unlink(missing_ok=True)
    return len(stale)


def export_to_lake(settings: Settings, root: Path, datasets: list[Dataset], *, since: dt.date | None,
                   full: bool, max_rows: int) -> LakeResult:
    root = root.resolve()
    lake_key = str(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise _disk_error(err, root) from err
    if swept := sweep_temporary_files(root):
        log.info("removed %d temporary file(s) left by an interrupted export", swept)
    old = manifests.load(root)
    new = manifests.Manifest(manifests.now_utc(), dict(old.files))
    result = LakeResult(new)
    staged: list[write.StagedFile] = []
    plans: list[plan.DatasetPlan] = []
    conn = connect(settings)
    try:
        # One snapshot for every fingerprint and every row: the files agree with each other.
        conn.set_session(isolation_level=psycopg2.extensions.ISOLATION_LEVEL_REPEATABLE_READ, readonly=True)
        with database_errors("export: reading the database"), conn.cursor() as cur:
            cur.execute("SET TIME ZONE 'UTC'; SET datestyle = 'ISO, YMD'")
            for dataset in datasets:
                present = _present_partitions(root, old, dataset.name)
                found = plan.plan_dataset(cur, lake_key, dataset, since=since, full=full, present=present)
                plans.append(found)
                result.partitions_unchanged += len(found.unchanged)
            todo = sum(len(p.write) for p in plans)
            progress = FileProgress("export", todo)
            try:
                for found in plans:
                    cols = pgarrow.columns(cur, found.dataset.table)
                    for partition in found.write:
                        where, params = _where(found.dataset, partition)
                        table = pgarrow.read(cur, found.dataset.table, cols, found.dataset.key, where, params)
                        files = write.stage_partition(root, found.dataset, partition, table, max_rows)
                        staged.extend(files)
                        new.drop(found.dataset.name, partition.path)
                        for item in files:
                            new.files[item.entry.path] = item.entry
                            result.bytes_written += item.entry.bytes
                            result.written.append(item.entry.path)
                        result.rows_written += table.num_rows
                        result.partitions_written += 1
                        progress.advance(sum(f.entry.bytes for f in files))
                    for partition in found.gone:
                        new.drop(found.dataset.name, partition.path)
            finally:
                progress.close()
        conn.rollback()
        temp_manifest = manifests.stage(root, new)
    except OSError as err:
        write.discard(staged)
        raise _disk_error(err, root) from err
    except BaseException:
        write.discard(staged)
        raise
    finally:
        conn.close()

    write.commit(staged)
    manifests.commit(root, temp_manifest)
    result.files_written = len(staged)
    for path in sorted(set(old.files) - set(new.files)):
        (root / path).unlink(missing_ok=True)
        result.files_removed += 1
    for found in plans:
        for partition in found.gone:
            if partition.path:
                shutil.rmtree(root / found.dataset.name / partition.path, ignore_errors=True)
    with database_errors("export: saving the bookmark"), transaction(settings) as tx, tx.cursor() as cur:
        for found in plans:
            plan.save_bookmarks(cur, lake_key, found)
    return result
