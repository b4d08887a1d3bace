"""Upload a lake to S3 in parallel: bounded, verified, retried; the remote manifest last.

- Bounded: at most 2 x workers uploads are submitted at a time (never one
  future per file up front), and each streams its file from disk in
  multipart-chunk-sized pieces, so memory does not grow with the lake.
- Verified: after each upload, HEAD must report the manifest's size and the
  ETag S3 computes from the bytes it stored (the MD5, or for a multipart
  upload the MD5 of the parts' MD5s and the part count).
- Retried: connection errors, 5xx, throttling and a failed verification are
  retried by divpipe's retry policy (HTTP_RETRIES, HTTP_BACKOFF).
- Failed files are listed and left out of the new remote manifest (which
  keeps their previous entry when the previous object is still there), so
  the next run, comparing the local and remote manifests, uploads them again.
"""

from __future__ import annotations

import hashlib
import logging
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import botocore.exceptions
from boto3.s3.transfer import TransferConfig

from divpipe.config import Settings
from divpipe.export import s3 as s3mod
from divpipe.export.manifest import FileEntry, Manifest
from divpipe.export.progress import FileProgress
from divpipe.net.retrypolicy import wait_before_retry

log = logging.getLogger("divpipe.export")
_MiB = 1 << 20


class VerifyError(Exception):
    """The stored object does not have the size or the ETag of the local file."""


@dataclass
class UploadResult:
    uploaded: list[FileEntry] = field(default_factory=list)
    unchanged: int = 0  # already on the remote with the same checksum
    failed: dict[str, str] = field(default_factory=dict)  # path -> reason
    removed: int = 0

    @property
    def bytes_uploaded(self) -> int:
        return sum(e.bytes for e in self.uploaded)


def transfer_config(settings: Settings) -> TransferConfig:
    chunk = settings.export_multipart_mb * _MiB
    # One file per worker thread: the parallelism is across files, so each
    # transfer streams its parts one after another (bounded memory).
    return TransferConfig(multipart_threshold=chunk, multipart_chunksize=chunk, use_threads=False)


def expected_etag(path: Path, config: TransferConfig) -> str:
    """The ETag S3 gives the object uploaded from `path` with `config`."""
    size = path.stat().st_size
    parts = []
    with open(path, "rb") as fh:
        if size < config.multipart_threshold:
            return hashlib.md5(fh.read(), usedforsecurity=False).hexdigest()
        while block := fh.read(config.multipart_chunksize):
            parts.append(hashlib.md5(block, usedforsecurity=False).digest())
    combined = hashlib.md5(b"".join(parts), usedforsecurity=False).hexdigest()
    return f"{combined}-{len(parts)}"


class Uploader:
    def __init__(self, s3, settings: Settings, target: s3mod.S3Target, root: Path):
        self.s3, self.settings, self.target, self.root = s3, settings, target, root
        self.config = transfer_config(settings)

    def upload_one(self, entry: FileEntry) -> None:
        """Upload one file and verify it, retrying by the standard policy. Raises on final failure."""
        path = self.root / entry.path
        key = self.target.key(entry.path)
        etag = expected_etag(path, self.config)
        retries = self.settings.http_retries
        for attempt in range(retries + 1):
            try:
                self.s3.upload_file(str(path), self.target.bucket, key, Config=self.config,
                                    ExtraArgs={"Metadata": {"sha256": entry.sha256}})
                head = self.s3.head_object(Bucket=self.target.bucket, Key=key)
                stored = head.get("ETag", "").strip('"')
                if head["ContentLength"] != entry.bytes or stored != etag:
                    raise VerifyError(f"stored {head['ContentLength']} bytes, ETag {stored}; "
                                      f"expected {entry.bytes} bytes, ETag {etag}")
                return
            except (VerifyError, botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError,
                    s3mod.TransferFailed) as err:
                if attempt == retries or not (isinstance(err, VerifyError) or s3mod.is_transient_upload(err)):
                    raise
                log.warning("⚠️ upload %s: %s, retrying (%d/%d)", entry.path, _reason(err), attempt + 1, retries)
                wait_before_retry(attempt, self.settings.http_backoff)

    def upload_all(self, entries: list[FileEntry], workers: int, result: UploadResult) -> None:
        progress = FileProgress("upload", len(entries), sum(e.bytes for e in entries))
        in_flight: dict[Future, FileEntry] = {}

        def settle(done: set[Future]) -> None:
            for future in done:
                entry = in_flight.pop(future)
                err = future.exception()
                if err is None:
                    result.uploaded.append(entry)
                else:
                    result.failed[entry.path] = _reason(err)
                    log.error("❌ upload failed: %s: %s", entry.path, _reason(err))
                progress.advance(entry.bytes, failed=err is not None)

        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="upload")
        try:
            for entry in entries:
                if len(in_flight) >= 2 * workers:
                    done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                    settle(done)
                in_flight[pool.submit(self.upload_one, entry)] = entry
            while in_flight:
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                settle(done)
        finally:
            # Interrupted: drop the queued uploads instead of running them first.
            pool.shutdown(wait=True, cancel_futures=True)
            progress.close()


def _reason(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def sync(s3, settings: Settings, target: s3mod.S3Target, root: Path, local: Manifest,
         workers: int) -> UploadResult:
    """Make the remote prefix match the local lake; returns what was done and what failed."""
    remote = s3mod.load_manifest(s3, settings, target)
    todo = [e for path, e in sorted(local.files.items()) if remote.files.get(path) != e]
    result = UploadResult(unchanged=len(local.files) - len(todo))
    Uploader(s3, settings, target, root).upload_all(todo, workers, result)
    # The new remote manifest names only objects that are there: what was
    # uploaded or already equal, and for a failed file its previous version.
    published = Manifest(local.exported_at, {})
    for path, entry in local.files.items():
        if path not in result.failed:
            published.files[path] = entry
        elif path in remote.files:
            published.files[path] = remote.files[path]
    s3mod.put_manifest(s3, settings, target, published)
    obsolete = sorted(set(remote.files) - set(published.files))
    for start in range(0, len(obsolete), 1000):
        batch = obsolete[start:start + 1000]
        s3mod.with_retries(settings, s3.delete_objects, Bucket=target.bucket,
                           Delete={"Objects": [{"Key": target.key(p)} for p in batch], "Quiet": True})
        result.removed += len(batch)
    return result
