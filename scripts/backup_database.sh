#!/usr/bin/env bash
# Back up the pipeline's database: pg_dump -Fc into $BACKUP_DIR/YYYYMMDD/,
# verified with pg_restore --list, row counts checked against the previous
# good backup, optional restore test, retention by age.
#
#   scripts/backup_database.sh [--keep-days 14] [--restore-test]
#
# The work is done by `python -m divpipe.jobs.backup` (see its docstring),
# which also validates the arguments. This wrapper finds the project from its
# own location, runs the project's .venv (created on first use by
# scripts/bootstrap_venv.sh), and makes every file it creates private to the
# user. Exit 0 ok, 1 failed, 2 bad usage.
set -euo pipefail

project_python() {
  local root="$1"
  if [[ ! -x "${root}/.venv/bin/python" ]]; then
    # First run on a fresh machine: create the project's environment.
    "${root}/scripts/bootstrap_venv.sh" "${root}" >&2 || return 1
  fi
  printf '%s\n' "${root}/.venv/bin/python"
}

main() {
  local root python
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  python="$(project_python "${root}")"
  # Dumps, manifests and password files are readable by their owner only.
  umask 077
  cd "${root}"
  local status=0
  "${python}" -m divpipe.jobs.backup "$@" || status=$?
  return "${status}"
}

main "$@"
