"""The upload pool never holds more than 2 x workers files at once, and every file is settled."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from divpipe.config import load_settings
from divpipe.export import upload
from divpipe.export.manifest import FileEntry
from divpipe.export.s3 import S3Target


class CountingPool(ThreadPoolExecutor):
    outstanding = peak = submitted = 0
    lock = threading.Lock()

    def submit(self, fn, /, *args, **kwargs):
        with CountingPool.lock:
            CountingPool.outstanding += 1
            CountingPool.submitted += 1
            CountingPool.peak = max(CountingPool.peak, CountingPool.outstanding)
        future = super().submit(fn, *args, **kwargs)
        future.add_done_callback(lambda _: self._settled())
        return future

    @staticmethod
    def _settled() -> None:
        with CountingPool.lock:
            CountingPool.outstanding -= 1


def test_uploads_are_submitted_a_bounded_window_at_a_time(monkeypatch, tmp_path):
    monkeypatch.setattr(upload, "ThreadPoolExecutor", CountingPool)
    uploader = upload.Uploader(None, load_settings(dotenv=False), S3Target("b", ""), tmp_path)
    fail_on = {f"f{i}" for i in range(0, 500, 7)}

    def fake_upload(entry: FileEntry) -> None:
        if entry.path in fail_on:
            raise OSError("connection reset")

    monkeypatch.setattr(uploader, "upload_one", fake_upload)
    entries = [FileEntry(f"f{i}", "d", "", 1, 10, "x") for i in range(500)]
    result = upload.UploadResult()
    uploader.upload_all(entries, workers=3, result=result)
    assert CountingPool.submitted == 500
    assert CountingPool.peak <= 6
    assert set(result.failed) == fail_on
    assert len(result.uploaded) == 500 - len(fail_on)
