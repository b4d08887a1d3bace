"""`_manifest.json`: every file of the lake with its rows, size and SHA-256, and the export time.

Written last, under a temporary name renamed into place, so it never names a
file that is not there yet; files it stops naming are deleted only after it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

MANIFEST_NAME = "_manifest.json"
FORMAT = 1


@dataclass(frozen=True)
class FileEntry:
    path: str  # relative to the lake root, '/'-separated
    dataset: str
    partition: str
    rows: int
    bytes: int
    sha256: str


@dataclass
class Manifest:
    exported_at: str = ""
    files: dict[str, FileEntry] = field(default_factory=dict)

    def to_json(self) -> str:
        body = {
            "format": FORMAT,
            "exported_at": self.exported_at,
            "files": [asdict(self.files[p]) for p in sorted(self.files)],
        }
        return json.dumps(body, indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        body = json.loads(text)
        files = {f["path"]: FileEntry(**f) for f in body.get("files", [])}
        return cls(body.get("exported_at", ""), files)

    def partitions(self, dataset: str) -> set[str]:
        return {f.partition for f in self.files.values() if f.dataset == dataset}

    def drop(self, dataset: str, partition: str) -> None:
        for path in [p for p, f in self.files.items() if f.dataset == dataset and f.partition == partition]:
            del self.files[path]


def now_utc() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def load(root: Path) -> Manifest:
    """The lake's manifest, or an empty one when there is none yet."""
    path = root / MANIFEST_NAME
    if not path.exists():
        return Manifest()
    return Manifest.from_json(path.read_text())


def stage(root: Path, manifest: Manifest) -> Path:
    """Write the manifest under a temporary name (the step that can run out of space)."""
    temp = root / f".{MANIFEST_NAME}.tmp-{os.getpid()}"
    try:
        with open(temp, "w") as fh:
            fh.write(manifest.to_json())
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp


def commit(root: Path, temp: Path) -> None:
    os.replace(temp, root / MANIFEST_NAME)
