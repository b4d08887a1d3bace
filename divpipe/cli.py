"""`python -m divpipe COMMAND ...`: each command lives in its own module."""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "db": ("divpipe.db.cli", "migrate, status, url, psql [-c SQL], hold"),
    "sim": ("divpipe.sim.cli", "run the market simulator"),
    "runs": ("divpipe.runs", "recent pipeline runs as a table"),
    "report": ("divpipe.timeline", "draw a run's timeline as a PNG"),
    "export": ("divpipe.export.cli", "the database as a Parquet lake, on disk or S3"),
    "config": ("divpipe.config_cli", "--shell: the drivers' settings as bash assignments"),
}


def _usage() -> str:
    lines = ["usage: python -m divpipe COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<6} {desc}" for name, (_, desc) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"❌ unknown command {name!r}\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    return module.main(rest)
