"""Parquet files of one partition, written under temporary names and committed by rename.

Temporary names start with a dot and do not end in `.parquet`, so readers
that glob `**/*.parquet` (DuckDB, pyarrow datasets) never pick them up. A
partition's files are all written before any is renamed; rename is atomic,
and a partition is one file unless it holds more than EXPORT_MAX_FILE_ROWS
rows, so a reader sees the old partition or the new one, never half of one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from divpipe.export.datasets import SINGLE_FILE, Dataset, Partition
from divpipe.export.manifest import FileEntry, sha256_file

# zstd: smaller than snappy at about the same speed, and read by every current reader.
COMPRESSION = "zstd"
ROW_GROUP_ROWS = 256_000


@dataclass(frozen=True)
class StagedFile:
    temp: Path
    final: Path
    entry: FileEntry


def file_names(dataset: Dataset, n_files: int) -> list[str]:
    if dataset.date_column is None:
        return [SINGLE_FILE]
    return [f"part-{i:04d}.parquet" for i in range(n_files)]


def stage_partition(root: Path, dataset: Dataset, partition: Partition, table: pa.Table,
                    max_rows: int) -> list[StagedFile]:
    """Write `table` as the partition's files under temporary names; nothing visible changes yet."""
    folder = root / dataset.name / partition.path if partition.path else root / dataset.name
    folder.mkdir(parents=True, exist_ok=True)
    single = dataset.date_column is None
    slices = [table] if single or table.num_rows <= max_rows else [
        table.slice(start, max_rows) for start in range(0, table.num_rows, max_rows)
    ]
    staged: list[StagedFile] = []
    temps: list[Path] = []
    try:
        for name, piece in zip(file_names(dataset, len(slices)), slices, strict=True):
            final = folder / name
            temp = folder / f".{name}.tmp-{os.getpid()}"
            temps.append(temp)
            pq.write_table(piece, temp, compression=COMPRESSION, row_group_size=ROW_GROUP_ROWS)
            with open(temp, "rb") as fh:
                os.fsync(fh.fileno())
            entry = FileEntry(final.relative_to(root).as_posix(), dataset.name, partition.path, piece.num_rows,
                              temp.stat().st_size, sha256_file(temp))
            staged.append(StagedFile(temp, final, entry))
    except BaseException:
        for temp in temps:
            temp.unlink(missing_ok=True)
        raise
    return staged


def discard(staged: list[StagedFile]) -> None:
    for item in staged:
        item.temp.unlink(missing_ok=True)


def commit(staged: list[StagedFile]) -> None:
    for item in staged:
        os.replace(item.temp, item.final)
