"""The backup directory: names, manifests, row-count checks and retention.

Layout: `$BACKUP_DIR/YYYYMMDD/divpipe_YYYYMMDD_HHMMSS.dump` (UTC), and beside
each dump `divpipe_YYYYMMDD_HHMMSS.manifest.json` holding the row count of
every table in the dumped snapshot and whether the backup passed its checks
("good"). A dump without a manifest, or with a failed one, is never used as
the baseline of the next comparison and is not protected from retention.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

PREFIX = "divpipe_"
DUMP_SUFFIX = ".dump"
MANIFEST_SUFFIX = ".manifest.json"
PARTIAL_SUFFIX = ".partial"
STAMP_FORMAT = "%Y%m%d_%H%M%S"
_NAME = re.compile(r"^divpipe_(\d{8}_\d{6})\.dump$")

# Tables whose shrinking means lost data: they only ever grow between nights.
GUARDED_TABLES = ("raw_stock_prices", "raw_dividends")
MAX_DROP_FRACTION = 0.01


@dataclass(frozen=True)
class Backup:
    dump: Path
    taken_at: dt.datetime
    manifest: dict | None

    @property
    def manifest_path(self) -> Path:
        return manifest_path(self.dump)

    @property
    def good(self) -> bool:
        return bool(self.manifest) and self.manifest.get("status") == "good"


@dataclass(frozen=True)
class Drop:
    table: str
    before: int
    after: int

    @property
    def fraction(self) -> float:
        return (self.before - self.after) / self.before

    def message(self, baseline: str) -> str:
        return (
            f"{self.table} dropped from {self.before} to {self.after} rows"
            f" (-{self.fraction:.1%}) since the previous good backup {baseline}"
        )


def dump_path(backup_dir: Path, taken_at: dt.datetime) -> Path:
    stamp = taken_at.astimezone(dt.UTC)
    return backup_dir / stamp.strftime("%Y%m%d") / f"{PREFIX}{stamp.strftime(STAMP_FORMAT)}{DUMP_SUFFIX}"


def manifest_path(dump: Path) -> Path:
    return dump.with_name(dump.name[: -len(DUMP_SUFFIX)] + MANIFEST_SUFFIX)


def parse_taken_at(name: str) -> dt.datetime | None:
    match = _NAME.match(name)
    if not match:
        return None
    return dt.datetime.strptime(match.group(1), STAMP_FORMAT).replace(tzinfo=dt.UTC)


def read_manifest(path: Path) -> dict | None:
    """The manifest, or None when it is missing or unreadable (an interrupted write)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_manifest(path: Path, manifest: dict) -> None:
    """Write atomically with mode 0600: a reader sees the old file or the whole new one."""
    tmp = path.with_name(path.name + PARTIAL_SUFFIX)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(manifest, handle, indent=2, sort_keys=True)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk must not leave a 0-byte manifest behind
        raise


def list_backups(backup_dir: Path) -> list[Backup]:
    """Every finished dump under backup_dir, oldest first."""
    found = []
    for dump in backup_dir.glob(f"*/{PREFIX}*{DUMP_SUFFIX}"):
        taken_at = parse_taken_at(dump.name)
        if taken_at is not None:
            found.append(Backup(dump, taken_at, read_manifest(manifest_path(dump))))
    return sorted(found, key=lambda b: b.taken_at)


def newest_good(backups: list[Backup], exclude: Path | None = None) -> Backup | None:
    good = [b for b in backups if b.good and b.dump != exclude]
    return max(good, key=lambda b: b.taken_at, default=None)


def find_drops(before: dict[str, int], after: dict[str, int],
               tables: tuple[str, ...] = GUARDED_TABLES,
               max_fraction: float = MAX_DROP_FRACTION) -> list[Drop]:
    """Guarded tables that lost more than `max_fraction` of their rows (or vanished)."""
    drops = []
    for table in tables:
        old = before.get(table)
        if not old:
            continue
        new = after.get(table, 0)
        if (old - new) / old > max_fraction:
            drops.append(Drop(table, old, new))
    return drops


def expired(backups: list[Backup], now: dt.datetime, keep_days: int) -> list[Backup]:
    """Backups older than keep_days, except the newest good one, whatever its age."""
    keep = newest_good(backups)
    limit = now - dt.timedelta(days=keep_days)
    return [b for b in backups if b.taken_at < limit and (keep is None or b.dump != keep.dump)]


def stale_partials(backup_dir: Path, now: dt.datetime, max_age: dt.timedelta) -> list[Path]:
    """Half-written files of runs that died (a live run's file is younger than max_age)."""
    stale = []
    for path in backup_dir.glob(f"*/{PREFIX}*{PARTIAL_SUFFIX}"):
        try:
            mtime = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)
        except FileNotFoundError:
            continue
        if now - mtime > max_age:
            stale.append(path)
    return stale


def delete(backup: Backup) -> None:
    for path in (backup.dump, backup.manifest_path):
        path.unlink(missing_ok=True)
    try:
        backup.dump.parent.rmdir()  # only succeeds when the day's directory is now empty
    except OSError:
        pass
