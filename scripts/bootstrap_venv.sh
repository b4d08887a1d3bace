#!/usr/bin/env bash
# Create the project's virtual environment on first use and keep it in step
# with requirements.txt. Quiet when there is nothing to do, so the nightly
# drivers can call it on every run.
#
#   scripts/bootstrap_venv.sh [PROJECT_DIR]
#
# The venv is PROJECT_DIR/.venv. A hash of requirements.txt is kept inside it
# (.venv/.requirements.sha256): pip runs only when the file changed.
set -euo pipefail

pick_python() {
  local candidate
  for candidate in python3.11 python3; do
    if command -v "${candidate}" >/dev/null 2>&1; then
      printf '%s\n' "${candidate}"
      return 0
    fi
  done
  echo "❌ bootstrap_venv: neither python3.11 nor python3 is on PATH" >&2
  return 1
}

main() {
  local project_dir
  project_dir="${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
  local venv="${project_dir}/.venv"
  local requirements="${project_dir}/requirements.txt"
  local stamp="${venv}/.requirements.sha256"

  if [[ ! -x "${venv}/bin/python" ]]; then
    local python
    python="$(pick_python)"
    echo "creating virtual environment ${venv} with ${python}" >&2
    "${python}" -m venv "${venv}"
  fi
  [[ -f "${requirements}" ]] || return 0

  local wanted current=""
  wanted="$(sha256sum "${requirements}")"
  wanted="${wanted%% *}"
  if [[ -f "${stamp}" ]]; then
    current="$(<"${stamp}")"
  fi
  if [[ "${wanted}" == "${current}" ]]; then
    return 0
  fi
  echo "installing ${requirements} into ${venv}" >&2
  "${venv}/bin/python" -m pip install --quiet --disable-pip-version-check -r "${requirements}" >&2
  printf '%s\n' "${wanted}" >"${stamp}"
}

main "$@"
