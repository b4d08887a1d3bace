"""The whole export: check the target, update the local lake, upload it; one summary."""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import botocore.exceptions

from divpipe.config import PROJECT_ROOT, Settings
from divpipe.errors import ExportError
from divpipe.export import s3 as s3mod
from divpipe.export import upload, verify
from divpipe.export.datasets import Dataset
from divpipe.export.lake import LakeResult, export_to_lake
from divpipe.export.lock import exclusive
from divpipe.export.progress import human_bytes

log = logging.getLogger("divpipe.export")


@dataclass(frozen=True)
class Request:
    target: str  # a directory or s3://bucket/prefix
    datasets: list[Dataset]
    since: dt.date | None = None
    full: bool = False
    workers: int = 8


@dataclass
class Summary:
    target: str
    lake: LakeResult
    upload: upload.UploadResult | None
    seconds: float

    @property
    def ok(self) -> bool:
        return self.upload is None or not self.upload.failed

    def line(self) -> str:
        lake = self.lake
        text = (f"export to {self.target}: {lake.files_written} file(s) written "
                f"({lake.rows_written} rows, {human_bytes(lake.bytes_written)}), "
                f"{lake.partitions_unchanged} partition(s) unchanged, {lake.files_removed} file(s) removed")
        if self.upload is not None:
            up = self.upload
            text += (f"; {len(up.uploaded)} uploaded ({human_bytes(up.bytes_uploaded)}), "
                     f"{up.unchanged} already there, {len(up.failed)} failed")
        return f"{text}; {self.seconds:.1f}s"


def staging_dir(settings: Settings) -> Path:
    """The local lake behind an s3:// target."""
    if settings.export_staging_dir:
        path = Path(settings.export_staging_dir).expanduser()
        return path if path.is_absolute() else PROJECT_ROOT / path
    return settings.divpipe_data_dir / "export"


def run_export(settings: Settings, request: Request) -> Summary:
    started = time.monotonic()
    target = s3mod.parse(request.target)
    client = None
    if target is not None:
        client = s3mod.client(settings, request.workers)
        s3mod.preflight(client, settings, target)  # before any work: a wrong bucket fails in a second
        root = staging_dir(settings)
    else:
        root = Path(request.target).expanduser()
        if not root.is_absolute():
            root = Path.cwd() / root
    with exclusive(settings, root.resolve()):
        lake = export_to_lake(settings, root, request.datasets, since=request.since, full=request.full,
                              max_rows=settings.export_max_file_rows)
        result = None
        if target is not None:
            try:
                result = upload.sync(client, settings, target, root.resolve(), lake.manifest, request.workers)
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as err:
                raise ExportError(f"export: {s3mod.describe(err, target, settings.s3_endpoint_url)}") from err
    return Summary(request.target, lake, result, time.monotonic() - started)


def verify_target(settings: Settings, target_text: str, workers: int) -> int:
    """Print one line: the target's files agree with its manifest (0), or what does not (1)."""
    target = s3mod.parse(target_text)
    if target is None:
        manifest, problems = verify.local_problems(Path(target_text).expanduser())
    else:
        client = s3mod.client(settings, workers)
        s3mod.preflight(client, settings, target)
        try:
            manifest, problems = verify.s3_problems(client, settings, target, workers)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as err:
            raise ExportError(f"export: {s3mod.describe(err, target, settings.s3_endpoint_url)}") from err
    if not manifest.files and not manifest.exported_at:
        raise ExportError(f"export --verify: {target_text} has no _manifest.json")
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        print(f"❌ verify {target_text}: {len(problems)} of {len(manifest.files)} file(s) wrong: {shown}", flush=True)
        return 1
    print(f"✅ verify {target_text}: {len(manifest.files)} file(s) match the manifest of "
          f"{manifest.exported_at}", flush=True)
    return 0
