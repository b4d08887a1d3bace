"""`export --verify`: check a lake against its own `_manifest.json`.

Local: every named file is there with the manifest's size and SHA-256.
S3: every named object is there with the manifest's size and the SHA-256 the
upload stored in its metadata (reading every object back would cost the
upload again; the ETag was already checked against the bytes at upload time).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import botocore.exceptions

from divpipe.config import Settings
from divpipe.export import s3 as s3mod
from divpipe.export.manifest import FileEntry, Manifest, load, sha256_file


def local_problems(root: Path) -> tuple[Manifest, list[str]]:
    manifest = load(root)
    problems = []
    for entry in manifest.files.values():
        path = root / entry.path
        if not path.is_file():
            problems.append(f"{entry.path}: missing")
        elif path.stat().st_size != entry.bytes:
            problems.append(f"{entry.path}: {path.stat().st_size} bytes, manifest says {entry.bytes}")
        elif sha256_file(path) != entry.sha256:
            problems.append(f"{entry.path}: checksum differs from the manifest")
    return manifest, problems


def s3_problems(s3, settings: Settings, target: s3mod.S3Target, workers: int) -> tuple[Manifest, list[str]]:
    manifest = s3mod.load_manifest(s3, settings, target)

    def check(entry: FileEntry) -> str | None:
        try:
            head = s3mod.with_retries(settings, s3.head_object, Bucket=target.bucket, Key=target.key(entry.path))
        except botocore.exceptions.ClientError as err:
            if s3mod.error_code(err) in ("404", "NoSuchKey"):
                return f"{entry.path}: missing"
            raise
        if head["ContentLength"] != entry.bytes:
            return f"{entry.path}: {head['ContentLength']} bytes, manifest says {entry.bytes}"
        if head.get("Metadata", {}).get("sha256") != entry.sha256:
            return f"{entry.path}: checksum differs from the manifest"
        return None

    # map() over a pool submits every file at once; chunks of 2 x workers keep that bounded too.
    entries = list(manifest.files.values())
    problems: list[str] = []
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="verify") as pool:
        for start in range(0, len(entries), 2 * workers):
            problems += [p for p in pool.map(check, entries[start:start + 2 * workers]) if p]
    return manifest, problems
