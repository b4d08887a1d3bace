#!/usr/bin/env bash
# Run the test suite: creates .venv with the test tools on first use, then pytest.
# Extra arguments go to pytest (e.g. ./run_tests.sh -x tests/test_db_upsert.py).
# With DATABASE_URL set, tests create their databases on that server instead of
# an embedded one.
set -euo pipefail

main() {
  local project_dir
  project_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  bash "${project_dir}/scripts/bootstrap_venv.sh" --dev "${project_dir}"
  cd "${project_dir}"
  exec "${project_dir}/.venv/bin/python" -m pytest "$@"
}

main "$@"
