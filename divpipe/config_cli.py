"""`python -m divpipe config --shell [--simulate]`: the drivers' settings as bash assignments.

The nightly drivers stay bash, but they read no `.env` of their own: they
`eval` this command's output, so every setting they use is resolved once, by
`divpipe.config` (python-dotenv's rules, defaults, bounds, absolute paths).
Each line is `export NAME=VALUE` or, for what only the driver needs, `NAME=VALUE`,
with VALUE quoted by shlex.quote. An invalid setting is one "❌ NAME: ..." line
on stderr and exit 2, before anything is printed.

Only what the driver itself uses is printed. Secrets never are: the driver
learns whether DATABASE_URL is set (DIVPIPE_EMBEDDED_DATABASE), not its value;
the tasks read `.env` themselves.
"""

from __future__ import annotations

import shlex
import sys
from decimal import Decimal
from typing import Any

from divpipe import errors
from divpipe.config import Settings, load_settings
from divpipe.entry import ArgumentParser, run

# Settings the drivers read, exported: the tasks they start inherit the same
# resolved values (with --simulate, the trial's own folders).
DRIVER_SETTINGS = (
    "DIVPIPE_TASKS_FILE",
    "DIVPIPE_DATA_DIR",
    "LOG_DIR",
    "BACKUP_DIR",
    "DIVPIPE_PROGRESS_SECONDS",
    "DIVPIPE_STOP_GRACE_SECONDS",
    "LOG_RETENTION_DAYS",
    "FORCE_RUN",
    "DRIVER_OVERLAP",
    "SYMBOLS_FILE",
    "ALERT_COMMAND",
)

# Exit codes the drivers use, from divpipe.errors (not exported: tasks have their own).
DRIVER_EXIT_CODES = {
    "DIVPIPE_EXIT_FAILURE": errors.EXIT_FAILURE,
    "DIVPIPE_EXIT_USAGE": errors.EXIT_USAGE,
    "DIVPIPE_EXIT_LOCKED": errors.EXIT_LOCKED,
}


def shell_value(value: Any) -> str:
    """A setting as the text bash gets: unset is empty, booleans true/false, no exponents."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        text = format(Decimal(repr(value)), "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    return str(value)


def shell_lines(settings: Settings, *, simulate: bool = False) -> list[str]:
    """The assignments, in a fixed order: settings, then driver facts, then exit codes."""
    values = settings.as_dict()
    uses_url = bool(values["DATABASE_URL"])
    if simulate:
        values = settings.for_simulation().as_dict()
    lines = [f"export {name}={shlex.quote(shell_value(values[name]))}" for name in DRIVER_SETTINGS]
    if simulate:
        # Empty, not unset: a task reading .env (override=False) must not find the real database there.
        lines.append("export DATABASE_URL=''")
    facts = {
        # The driver holds the embedded server up for the run when it is the database.
        "DIVPIPE_EMBEDDED_DATABASE": not values["DATABASE_URL"],
        # --simulate set aside a DATABASE_URL (the driver says so in its log).
        "DIVPIPE_IGNORED_DATABASE_URL": simulate and uses_url,
    }
    lines += [f"{name}={shlex.quote(shell_value(value))}" for name, value in facts.items()]
    lines += [f"{name}={code}" for name, code in DRIVER_EXIT_CODES.items()]
    return lines


def _main(argv: list[str]) -> int:
    parser = ArgumentParser(prog="python -m divpipe config",
                            description="the settings the nightly drivers use, as bash assignments to eval")
    parser.add_argument("--shell", action="store_true", required=True,
                        help="print `export NAME=VALUE` lines (quoted for bash)")
    parser.add_argument("--simulate", action="store_true",
                        help="the folders of a --simulate trial; DATABASE_URL set aside")
    args = parser.parse_args(argv)
    lines = shell_lines(load_settings(), simulate=args.simulate)
    print("\n".join(lines))
    return 0


def main(argv: list[str]) -> int:
    return run(_main, argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
