#!/usr/bin/env bash
# Nightly divpipe run, v3: the tasks of each phase run in parallel.
# The tasks are listed once in scripts/tasks.sh; the machinery (lock,
# trading-day gate, logs, timing, run history) is scripts/driver_lib.sh.
# Run from anywhere, e.g. from cron; --help lists the options and exit codes.
set -euo pipefail

main() {
  local here
  here="$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"
  # shellcheck source=scripts/driver_lib.sh
  source "${here}/scripts/driver_lib.sh"
  # 0: no limit on the tasks of a phase running at once.
  driver_main v3 0 "$@"
}

main "$@"
