#!/usr/bin/env bash
# Create the project's virtual environment on first use and keep it in step
# with the requirements. Quiet when there is nothing to do, so the nightly
# drivers can call it on every run.
#
#   scripts/bootstrap_venv.sh [--dev] [PROJECT_DIR]
#
# The venv is PROJECT_DIR/.venv. --dev installs requirements-dev.txt (tests,
# linters) as well. A hash of the requirement files is kept inside the venv:
# pip runs only when they changed. The project itself is put on the venv's
# path with a .pth file, so scripts/ and the drivers import divpipe from any
# directory without an install step that would need rebuilding. One bootstrap
# at a time (flock on .venv/.bootstrap.lock): concurrent calls are safe.
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
  local dev=false
  if [[ "${1:-}" == "--dev" ]]; then
    dev=true
    shift
  fi
  local project_dir
  project_dir="${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
  local venv="${project_dir}/.venv"
  local requirements="${project_dir}/requirements.txt"
  if [[ "${dev}" == true ]]; then
    requirements="${project_dir}/requirements-dev.txt"
  fi
  local stamp="${venv}/.requirements.sha256"

  # Two drivers (or a driver and a developer) may start at once, before either
  # holds the run lock: one creates and installs, the other waits, then finds
  # nothing to do. The lock file lives in the venv folder, created first.
  mkdir -p -- "${venv}"
  local lock_fd
  exec {lock_fd}>>"${venv}/.bootstrap.lock"
  flock "${lock_fd}"

  if [[ ! -x "${venv}/bin/python" ]]; then
    local python
    python="$(pick_python)"
    echo "creating virtual environment ${venv} with ${python}" >&2
    "${python}" -m venv "${venv}"
  fi

  local site_packages
  site_packages="$("${venv}/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  printf '%s\n' "${project_dir}" >"${site_packages}/divpipe-project.pth"

  # The stamp covers what was asked for: a --dev install satisfies a later plain one.
  local wanted current=""
  wanted="$(cat "${project_dir}"/requirements*.txt | sha256sum)"
  wanted="${wanted%% *}"
  if [[ -f "${stamp}" ]]; then
    current="$(<"${stamp}")"
  fi
  if [[ "${current}" == "${wanted} dev" || "${current}" == "${wanted} ${dev}" ]]; then
    return 0
  fi
  echo "installing ${requirements##*/} into ${venv}" >&2
  "${venv}/bin/python" -m pip install --quiet --disable-pip-version-check -r "${requirements}" >&2
  if [[ "${dev}" == true ]]; then
    printf '%s dev\n' "${wanted}" >"${stamp}"
  else
    printf '%s false\n' "${wanted}" >"${stamp}"
  fi
}

main "$@"
