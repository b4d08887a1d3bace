from tests.plugins.s3 import s3_env, weed  # noqa: F401 - fixtures for the export tests
