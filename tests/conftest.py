import logging

import pytest

pytest_plugins = ["tests.plugins.db", "tests.plugins.sim", "tests.plugins.redis", "tests.plugins.fake_pipeline"]


@pytest.fixture
def keep_logging():
    """A job's main() sets up logging for a process; put the test runner's back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
