#!/usr/bin/env bash
# Nightly divpipe run, v2: the same tasks as v3, one at a time. Kept as the
# rollback path: both leave the database in the same state.
# The tasks are listed once in scripts/tasks.sh; the machinery is
# scripts/driver_lib.sh. --help lists the options and exit codes.
set -euo pipefail

main() {
  local here
  here="$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"
  # shellcheck source=scripts/driver_lib.sh
  source "${here}/scripts/driver_lib.sh"
  # 1: one task at a time.
  driver_main v2 1 "$@"
}

main "$@"
