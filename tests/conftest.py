pytest_plugins = ["tests.plugins.db", "tests.plugins.sim", "tests.plugins.redis"]
