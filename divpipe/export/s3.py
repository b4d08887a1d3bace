"""The S3-compatible target: `s3://bucket/prefix`, a client, a preflight check, the remote manifest.

Credentials come only from the standard AWS chain (environment, shared
credentials file, profile, instance role); the endpoint from S3_ENDPOINT_URL.
Neither a key nor a secret is ever taken from the command line or logged.
Botocore's own retries are off: transfers are retried by divpipe's one
retry policy (divpipe.net.retrypolicy), like every other network call.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import boto3
import boto3.exceptions
import botocore.config
import botocore.exceptions

from divpipe.config import Settings
from divpipe.errors import ConfigError, ExportError
from divpipe.export.manifest import MANIFEST_NAME, Manifest
from divpipe.net.retrypolicy import wait_before_retry

log = logging.getLogger("divpipe.export")

# Errors worth another attempt: the connection, the server's own trouble, throttling.
_CONNECTION_ERRORS = (
    botocore.exceptions.EndpointConnectionError,
    botocore.exceptions.ConnectionClosedError,
    botocore.exceptions.ReadTimeoutError,
    botocore.exceptions.ConnectTimeoutError,
    botocore.exceptions.HTTPClientError,
)
_TRANSIENT_CODES = {"500", "502", "503", "504", "429", "SlowDown", "InternalError", "RequestTimeout",
                    "ServiceUnavailable", "RequestTimeTooSkewed"}
_CREDENTIAL_CODES = {"403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "Forbidden"}


@dataclass(frozen=True)
class S3Target:
    bucket: str
    prefix: str  # no leading or trailing '/'; '' for the bucket's root

    def key(self, relative: str) -> str:
        return f"{self.prefix}/{relative}" if self.prefix else relative

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"


def parse(target: str) -> S3Target | None:
    """An S3Target for `s3://bucket[/prefix]`, None for anything else (a local directory)."""
    if not target.startswith("s3://"):
        return None
    bucket, _, prefix = target[len("s3://"):].partition("/")
    if not bucket:
        raise ConfigError(f"--to {target}: no bucket name (expected s3://bucket/prefix)")
    return S3Target(bucket, prefix.strip("/"))


def client(settings: Settings, workers: int):
    """A thread-safe S3 client: endpoint from S3_ENDPOINT_URL, credentials from the AWS chain."""
    config = botocore.config.Config(
        connect_timeout=settings.http_connect_timeout,
        read_timeout=settings.http_read_timeout,
        retries={"total_max_attempts": 1},  # divpipe's retry policy retries, not botocore
        max_pool_connections=max(10, workers + 2),
        # Local S3-compatible servers answer on one host name: path-style addressing.
        s3={"addressing_style": "path" if settings.s3_endpoint_url else "auto"},
        # Integrity is checked by comparing size and ETag (MD5) after each upload.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    return boto3.session.Session().client("s3", endpoint_url=settings.s3_endpoint_url, config=config)


def error_code(err: BaseException) -> str:
    if isinstance(err, botocore.exceptions.ClientError):
        return str(err.response.get("Error", {}).get("Code", ""))
    return ""


def is_transient(err: BaseException) -> bool:
    if isinstance(err, _CONNECTION_ERRORS):
        return True
    return error_code(err) in _TRANSIENT_CODES


# boto3's upload_file wraps the ClientError of a failed part or PUT in this, keeping only its text.
TransferFailed = boto3.exceptions.S3UploadFailedError


def is_transient_upload(err: BaseException) -> bool:
    if isinstance(err, TransferFailed):
        return not any(code in str(err) for code in (*_CREDENTIAL_CODES, "NoSuchBucket"))
    return is_transient(err)


def describe(err: BaseException, target: S3Target, endpoint: str | None) -> str:
    """One line, naming the endpoint and bucket, never a credential."""
    where = endpoint or "the AWS default endpoint"
    code = error_code(err)
    if isinstance(err, botocore.exceptions.NoCredentialsError):
        return ("no AWS credentials found: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE "
                "(never on the command line)")
    if isinstance(err, _CONNECTION_ERRORS):
        return f"cannot reach S3 endpoint {where}: {type(err).__name__}"
    if code in _CREDENTIAL_CODES:
        return f"access denied to bucket {target.bucket} at {where}: check the AWS credentials ({code})"
    if code in ("404", "NoSuchBucket"):
        return f"bucket {target.bucket} does not exist at {where}"
    text = " ".join(str(err).split())
    return f"S3 error at {where}: {code or type(err).__name__}: {text}"


def with_retries(settings: Settings, call, *args, **kwargs):
    """`call(*args, **kwargs)`, retried on transient errors by the standard policy."""
    for attempt in range(settings.http_retries + 1):
        try:
            return call(*args, **kwargs)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as err:
            if attempt == settings.http_retries or not is_transient(err):
                raise
            log.warning("⚠️ S3 %s: %s, retrying", getattr(call, "__name__", "call"), type(err).__name__)
            wait_before_retry(attempt, settings.http_backoff)
    raise AssertionError("unreachable")  # pragma: no cover


def preflight(s3, settings: Settings, target: S3Target) -> None:
    """Fail early, in one line, on an unreachable endpoint, bad credentials or a missing bucket."""
    try:
        with_retries(settings, s3.head_bucket, Bucket=target.bucket)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as err:
        raise ExportError(f"export: {describe(err, target, settings.s3_endpoint_url)}") from err


def load_manifest(s3, settings: Settings, target: S3Target) -> Manifest:
    """The remote manifest, or an empty one when the prefix has none yet."""
    try:
        body = with_retries(settings, s3.get_object, Bucket=target.bucket, Key=target.key(MANIFEST_NAME))
    except botocore.exceptions.ClientError as err:
        if error_code(err) in ("NoSuchKey", "404"):
            return Manifest()
        raise
    return Manifest.from_json(body["Body"].read().decode())


def put_manifest(s3, settings: Settings, target: S3Target, manifest: Manifest) -> None:
    with_retries(settings, s3.put_object, Bucket=target.bucket, Key=target.key(MANIFEST_NAME),
                 Body=manifest.to_json().encode(), ContentType="application/json")
