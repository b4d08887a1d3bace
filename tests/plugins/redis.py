"""Redis for the rate-limit store tests: the server at 127.0.0.1:6379 (DIVPIPE_TEST_REDIS_URL overrides).

There is no fallback: a test that needs Redis fails when it is not reachable,
so a CI without Redis cannot pass by skipping. Each test gets its own key
prefix, and its keys are deleted afterwards.
"""

from __future__ import annotations

import os
import uuid

import pytest

REDIS_URL = os.environ.get("DIVPIPE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def redis_prefix():
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=5)
    try:
        client.ping()
    except redis.RedisError as err:
        pytest.fail(f"Redis at {REDIS_URL} is needed by this test and not reachable: {err}")
    prefix = f"divpipe-test:{uuid.uuid4().hex}:"
    yield prefix
    for key in client.scan_iter(match=prefix + "*"):
        client.delete(key)
    client.close()
