#!/usr/bin/env bash
# Back up the pipeline's database: pg_dump -Fc into $BACKUP_DIR/YYYYMMDD/,
# verified with pg_restore --list, row counts checked against the previous
# good backup, optional restore test, retention by age.
#
#   scripts/backup_database.sh [--keep-days 14] [--restore-test]
#
# The work is done by `python -m divpipe.jobs.backup` (see its docstring),
# which also validates the arguments. This wrapper finds the project from its
# own location, uses the project's .venv when there is one, and makes every
# file it creates private to the user. Exit 0 ok, 1 failed, 2 bad usage.
set -euo pipefail

project_python() {
  local root="$1"
  if [[ -x "${root}/.venv/bin/python" ]]; then
    printf '%s\n' "${root}/.venv/bin/python"
  elif command -v python3 >/dev/null 2>&1; then
    command -v python3
  else
    echo "❌ backup_database: no ${root}/.venv/bin/python and no python3 on PATH" >&2
    return 1
  fi
}

main() {
  local root python
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  python="$(project_python "${root}")"
  # Dumps, manifests and password files are readable by their owner only.
  umask 077
  cd "${root}"
  local status=0
  PYTHONPATH="${root}${PYTHONPATH:+:${PYTHONPATH}}" "${python}" -m divpipe.jobs.backup "$@" || status=$?
  return "${status}"
}

main "$@"
