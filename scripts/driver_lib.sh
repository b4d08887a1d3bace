# shellcheck shell=bash
# The machinery shared by the nightly drivers, daily_update_v3_parallel.sh and
# daily_update_v2.sh. A driver sources this file and calls
#
#   driver_main DRIVER MAX_PARALLEL "$@"
#
# with DRIVER v3 or v2 and MAX_PARALLEL 0 (no limit) or 1 (one task at a time).
# Everything else is identical, so both drivers leave the same database.
#
# Run order: venv -> settings -> lock -> trading-day gate -> run record ->
# discovery -> phase1 -> step2 -> phase2 -> merged logs -> report, history, summary.
#
# The driver reads no .env and holds no default of its own: every setting it
# uses, and the exit codes, come from `python -m divpipe config --shell`
# (read_driver_settings). Only before Python can run (--help, a bad flag, an
# old bash, a venv that cannot be built) does it need two exit codes of its
# own: these, which tests check against divpipe.errors.
EXIT_FAILURE=1
EXIT_USAGE=2
EXIT_LOCKED=""

# --- state of the run (globals: the trap handlers need them) ------------------
DRIVER=""
MAX_PARALLEL=0
PROJECT_DIR=""
RUN_LOG_DIR=""
RUN_DATA_DIR=""
TASKS_FILE=""
MAIN_LOG=""
STATE_DIR=""
RUN_ID=""
RUN_DAY=""
RUN_STARTED=""
LOCK_FD=""
TICKER_PID=""
SIM_PID=""
HOLD_PID=""
FORCE=0
STRICT=0
WITH_DISCOVERY=0
SIMULATE=0
SIM_REAL_RATES=0
SIM_SYMBOLS=100
SIM_SEED=42
SIM_LATENCY_MS=0
AS_OF_DATE=""
FINISHING=0
OVERLAP=0
OVERLAP_FLAG=0
RERUN=0
RERUN_OF=""
RUN_AS_OF=""  # the New York date the gate decided on
VENV_OUTPUT=""

declare -ga TASK_NAMES=()
declare -gA TASK_PHASE=() TASK_CRITICAL=() TASK_CMD=()
# TASK_NEEDS: the tasks a task waits for (space-separated); TASK_BLOCKED_BY: the
# failed critical task that skipped it.
declare -gA TASK_NEEDS=() TASK_BLOCKED_BY=() TASK_INDEX=()
# --rerun-failed: the tasks to run again, with their status in the earlier run.
declare -gA RERUN_TASKS=()
declare -gA TASK_STATUS=() TASK_RC=() TASK_START=() TASK_END=() TASK_OFFSET=() TASK_NOTE=() TASK_PID=()
# Per task: its limit (TASK_TIMEOUT_<TASK>_MINUTES, from the Python settings) and,
# once past it, when it was sent TERM (all in microseconds).
declare -gA TASK_TIMEOUT_US=() TASK_TIMED_OUT=()
declare -gA PHASE_START=() PHASE_END=()
declare -gA RUNNING=()  # pid of a running task -> its name

declare -gar PHASES=(discovery phase1 step2 phase2)
declare -gAr PHASE_LABEL=(
  [discovery]="Discovery"
  [phase1]="Phase 1 (Parallel Scrapers)"
  [step2]="Step 2 (Main Update)"
  [phase2]="Phase 2 (Parallel Post-Tasks)"
)

# --- small helpers ------------------------------------------------------------

log() {
  local line
  line="$(date '+%Y-%m-%d %H:%M:%S') $*"
  printf '%s\n' "${line}"
  if [[ -n "${MAIN_LOG}" ]]; then
    printf '%s\n' "${line}" >>"${MAIN_LOG}"
  fi
}

die_usage() {
  printf '❌ %s: %s (try --help)\n' "$(basename "$0")" "$1" >&2
  exit "${EXIT_USAGE}"
}

usage() {
  local overlap_flag="" overlap_help=""
  if ((MAX_PARALLEL != 1)); then
    overlap_flag=" [--overlap]"
    overlap_help="
  --overlap           start each task as soon as the tasks it needs have
                      finished (the 'needs' lines of scripts/tasks.sh) instead
                      of phase by phase (same as DRIVER_OVERLAP=true)"
  fi
  cat <<EOF
usage: $(basename "$0") [--force] [--strict] [--discovery] [--date YYYY-MM-DD]${overlap_flag}
       $(basename "$0") --rerun-failed [RUN_ID] [--force] [--strict]${overlap_flag}
       $(basename "$0") --simulate [--sim-symbols N] [--sim-seed S] [--sim-latency-ms L] [--sim-real-rates]

Runs the nightly divpipe pipeline (${DRIVER}: $(
    if ((MAX_PARALLEL == 1)); then echo "one task at a time"; else echo "the tasks of a phase in parallel"; fi
  )).

  --force             run even when the NYSE is closed (same as FORCE_RUN=true)
  --strict            a failed non-critical task fails the run (exit 1)
  --discovery         run the Sunday discovery today as well
  --date YYYY-MM-DD   decide the trading-day gate and Sunday discovery as if
                      it were this date (New York); default: today in New York${overlap_help}
  --rerun-failed [RUN_ID]
                      run again only the tasks of run RUN_ID (default: the last
                      run) that failed, timed out, were skipped or interrupted,
                      and the tasks that need them, for that run's date; a new
                      run, linked to RUN_ID (see 'python -m divpipe runs')
  --simulate          start the market simulator and run everything against it:
                      no network, no API key; implies --force and --discovery.
                      Always an embedded database under \$DIVPIPE_DATA_DIR/simulate
                      (DATABASE_URL is ignored) and logs under \$LOG_DIR/simulate:
                      see them with 'python -m divpipe runs --simulate'
  --sim-symbols N     size of the simulated universe (default ${SIM_SYMBOLS})
  --sim-seed S        seed of the simulated universe (default ${SIM_SEED})
  --sim-latency-ms L  latency the simulator adds to each response (default ${SIM_LATENCY_MS})
  --sim-real-rates    keep the real sites' rate limits (a realistic night, several minutes);
                      by default a trial allows SIM_TRIAL_RATE_LIMIT requests/s per host

Exit codes: 0 success (warnings allowed), 1 failure, 2 bad usage or configuration,
75 another run holds the lock, 130 interrupted (INT), 143 terminated (TERM).
EOF
}

# Microseconds since the epoch from an $EPOCHREALTIME value (either decimal mark).
to_us() {
  local value="${1/[.,]/}"
  printf '%d\n' "$((10#${value}))"
}

# "12.3s" between two $EPOCHREALTIME values.
seconds_between() {
  local start_us end_us tenths
  start_us="$(to_us "$1")"
  end_us="$(to_us "$2")"
  tenths=$(((end_us - start_us) / 100000))
  printf '%d.%ds\n' "$((tenths / 10))" "$((tenths % 10))"
}

# Microseconds in a number of seconds such as "10" or "0.25".
seconds_to_us() {
  local value="$1" whole frac=""
  whole="${value%%.*}"
  if [[ "${value}" == *.* ]]; then
    frac="${value#*.}"
  fi
  frac="${frac}000000"
  printf '%d\n' "$((10#${whole:-0} * 1000000 + 10#${frac:0:6}))"
}

is_true() {
  case "${1,,}" in
    1 | true | yes | on) return 0 ;;
    *) return 1 ;;
  esac
}

require_value() {
  if (($# < 2)) || [[ -z "$2" ]]; then
    die_usage "$1 needs a value"
  fi
}

require_int() {
  if [[ ! "$2" =~ ^[0-9]+$ ]]; then
    die_usage "$1: expected a whole number, got '$2'"
  fi
}

# --- the task list --------------------------------------------------------------

# task NAME PHASE critical|noncritical COMMAND [ARGS...]: called by scripts/tasks.sh.
task() {
  if (($# < 4)); then
    die_usage "task list: 'task $*' needs a name, a phase, critical|noncritical and a command"
  fi
  local name="$1" phase="$2" critical="$3"
  shift 3
  if [[ ! "${name}" =~ ^[a-z0-9_]+$ ]]; then
    die_usage "task list: bad task name '${name}'"
  fi
  if [[ -z "${PHASE_LABEL[${phase}]+set}" ]]; then
    die_usage "task list: task ${name}: unknown phase '${phase}' (discovery, phase1, step2, phase2)"
  fi
  case "${critical}" in
    critical) TASK_CRITICAL["${name}"]=1 ;;
    noncritical) TASK_CRITICAL["${name}"]=0 ;;
    *) die_usage "task list: task ${name}: expected critical or noncritical, got '${critical}'" ;;
  esac
  if [[ -n "${TASK_PHASE[${name}]+set}" ]]; then
    die_usage "task list: task ${name} is defined twice"
  fi
  TASK_INDEX["${name}"]="${#TASK_NAMES[@]}"
  TASK_NAMES+=("${name}")
  TASK_PHASE["${name}"]="${phase}"
  # Quoted once here, so the command runs later exactly as written in the list.
  TASK_CMD["${name}"]="$(printf '%q ' "$@")"
  TASK_STATUS["${name}"]="unscheduled"
}

# needs NAME TASK...: called by scripts/tasks.sh. NAME starts only after every
# TASK has finished. Only earlier tasks may be named, so the list stays a valid
# serial order (v2's) and the graph can have no cycle.
needs() {
  if (($# < 2)); then
    die_usage "task list: 'needs $*' needs a task and what it needs"
  fi
  local name="$1" dep
  shift
  if [[ -z "${TASK_PHASE[${name}]+set}" ]]; then
    die_usage "task list: needs ${name}: no such task (define it with 'task' first)"
  fi
  for dep in "$@"; do
    if [[ -z "${TASK_PHASE[${dep}]+set}" ]] || ((TASK_INDEX[${dep}] >= TASK_INDEX[${name}])); then
      die_usage "task list: ${name} needs ${dep}, which is not a task listed before it"
    fi
    # Without --overlap phases run one after another: a need in a later phase would never finish first.
    if (($(phase_index "${TASK_PHASE[${dep}]}") > $(phase_index "${TASK_PHASE[${name}]}"))); then
      die_usage "task list: ${name} (${TASK_PHASE[${name}]}) needs ${dep}, which runs in a later phase (${TASK_PHASE[${dep}]})"
    fi
    if [[ " ${TASK_NEEDS[${name}]:-} " != *" ${dep} "* ]]; then
      TASK_NEEDS["${name}"]+="${TASK_NEEDS[${name}]:+ }${dep}"
    fi
  done
}

phase_index() {
  local i
  for i in "${!PHASES[@]}"; do
    if [[ "${PHASES[${i}]}" == "$1" ]]; then
      printf '%d\n' "${i}"
      return 0
    fi
  done
  printf '%d\n' "${#PHASES[@]}"
}

# DIVPIPE_TASKS_FILE replaces the task list (tests run the drivers on fake tasks).
load_tasks() {
  if [[ ! -f "${TASKS_FILE}" ]]; then
    die_usage "task list ${TASKS_FILE} not found"
  fi
  # shellcheck source=scripts/tasks.sh
  source "${TASKS_FILE}"
}

# --- configuration ------------------------------------------------------------

parse_args() {
  while (($#)); do
    case "$1" in
      --force) FORCE=1 ;;
      --strict) STRICT=1 ;;
      --discovery) WITH_DISCOVERY=1 ;;
      --rerun-failed)
        RERUN=1
        # The run id is optional: the next word is one unless it is a flag.
        if (($# > 1)) && [[ "$2" != -* ]]; then
          if [[ ! "$2" =~ ^[A-Za-z0-9._-]+$ ]]; then
            die_usage "--rerun-failed: '$2' is not a run id (see python -m divpipe runs)"
          fi
          RERUN_OF="$2"
          shift
        fi
        ;;
      --overlap)
        if ((MAX_PARALLEL == 1)); then
          die_usage "--overlap: ${DRIVER} runs one task at a time; use daily_update_v3_parallel.sh --overlap"
        fi
        OVERLAP_FLAG=1
        ;;
      --simulate) SIMULATE=1 ;;
      --sim-real-rates) SIM_REAL_RATES=1 ;;
      --date)
        require_value "$@"
        if [[ ! "$2" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}$ ]] || ! date -d "$2" >/dev/null 2>&1; then
          die_usage "--date: expected YYYY-MM-DD, got '$2'"
        fi
        AS_OF_DATE="$2"
        shift
        ;;
      --sim-symbols)
        require_value "$@"
        require_int "$1" "$2"
        SIM_SYMBOLS="$2"
        shift
        ;;
      --sim-seed)
        require_value "$@"
        require_int "$1" "$2"
        SIM_SEED="$2"
        shift
        ;;
      --sim-latency-ms)
        require_value "$@"
        require_int "$1" "$2"
        SIM_LATENCY_MS="$2"
        shift
        ;;
      -h | --help)
        usage
        exit 0
        ;;
      *) die_usage "unknown argument '$1'" ;;
    esac
    shift
  done
  if ((RERUN)) && [[ -n "${AS_OF_DATE}" ]]; then
    die_usage "--rerun-failed runs for the date of the run it completes: drop --date"
  fi
}

# The project's .venv, created or brought up to date before anything needs
# Python. No run lock yet (its place is a setting, and settings need the venv):
# bootstrap_venv.sh takes a lock of its own. Its output goes to the run log
# once there is one (VENV_OUTPUT), or to stderr when it fails.
prepare_venv() {
  local rc=0
  if [[ ! -x "${PROJECT_DIR}/.venv/bin/python" ]]; then
    log "📦 first run: creating .venv and installing the requirements (a minute or two)"
  fi
  VENV_OUTPUT="$("${PROJECT_DIR}/scripts/bootstrap_venv.sh" "${PROJECT_DIR}" 2>&1)" || rc=$?
  if ((rc != 0)); then
    printf '%s\n' "${VENV_OUTPUT}" >&2
    printf '❌ %s: could not prepare the virtual environment (exit %d)\n' "$(basename "$0")" "${rc}" >&2
    exit "${EXIT_FAILURE}"
  fi
  export VIRTUAL_ENV="${PROJECT_DIR}/.venv"
  export PATH="${VIRTUAL_ENV}/bin:${PATH}"
}

# Every setting the driver uses, resolved by divpipe.config alone (.env read by
# python-dotenv, defaults, bounds, paths made absolute; with --simulate the
# trial's own folders and no DATABASE_URL): the output of config --shell is
# shlex-quoted assignments, so eval only assigns. Exported settings reach the
# tasks as they are. An invalid setting: its one ❌ line and exit 2.
read_driver_settings() {
  local assignments rc=0
  local -a args=(--shell)
  if ((SIMULATE)); then
    args+=(--simulate)
  fi
  assignments="$(python -m divpipe config "${args[@]}")" || rc=$?
  if ((rc != 0)); then
    exit "${rc}"
  fi
  eval "${assignments}"
  EXIT_FAILURE="${DIVPIPE_EXIT_FAILURE}"
  EXIT_USAGE="${DIVPIPE_EXIT_USAGE}"
  EXIT_LOCKED="${DIVPIPE_EXIT_LOCKED}"
  if is_true "${FORCE_RUN}"; then
    FORCE=1
  fi
  # v2 stays serial whatever .env says: it is the driver users roll back to.
  if ((MAX_PARALLEL != 1)) && { ((OVERLAP_FLAG)) || is_true "${DRIVER_OVERLAP}"; }; then
    OVERLAP=1
  fi
  if ((SIMULATE)); then
    FORCE=1
    WITH_DISCOVERY=1
  fi
}

# --- the lock -----------------------------------------------------------------

# flock is atomic and the kernel releases it when the holder dies. The file is
# opened without truncation, so a second instance changes nothing of the first.
take_lock() {
  local lock_file="${RUN_DATA_DIR}/daily_update.lock" holder="" why
  exec {LOCK_FD}<>"${lock_file}"
  if ! flock -n "${LOCK_FD}"; then
    # The holder writes its pid just after taking the lock: give it a moment.
    local tries=0
    while holder="$(<"${lock_file}")" && [[ -z "${holder}" ]] && ((tries < 20)); do
      sleep 0.05
      tries=$((tries + 1))
    done
    if [[ "${holder}" =~ ^[0-9]+$ ]] && kill -0 "${holder}" 2>/dev/null; then
      why="another run is already running (pid ${holder})"
    else
      # Its tasks inherited the lock and outlived it; they stop on their own within seconds.
      why="the lock was left by a dead run (pid ${holder:-unknown}); still held by pid(s) $(lock_holders "${lock_file}")"
    fi
    printf '%s ⚠️ %s: %s: exiting %d\n' \
      "$(date '+%Y-%m-%d %H:%M:%S')" "$(basename "$0")" "${why}" "${EXIT_LOCKED}" >&2
    exit "${EXIT_LOCKED}"
  fi
  printf '%s\n' "$$" >"${lock_file}"
}

# The processes that have the lock file open (the lock's live holders).
lock_holders() {
  local lock_file="$1" fd pid
  local -A found=()
  for fd in /proc/[0-9]*/fd/*; do
    if [[ "$(readlink "${fd}" 2>/dev/null)" == "${lock_file}" ]]; then
      pid="${fd#/proc/}"
      found["${pid%%/*}"]=1
    fi
  done
  if ((${#found[@]})); then
    printf '%s\n' "${!found[*]}"
  else
    printf 'unknown\n'
  fi
}

# State directories of runs whose driver was killed (no EXIT trap ran).
remove_stale_state_dirs() {
  local dir pid
  for dir in "${TMPDIR:-/tmp}"/divpipe_run.*; do
    [[ -f "${dir}/driver.pid" ]] || continue
    pid="$(<"${dir}/driver.pid")"
    if [[ "${pid}" =~ ^[0-9]+$ ]] && ! kill -0 "${pid}" 2>/dev/null; then
      rm -rf -- "${dir}"
    fi
  done
}

# --- helper processes: simulator and embedded-database holder ----------------

# Start a helper in its own process group, without the lock descriptor (it is
# not a writer), its output into the state directory.
start_helper() {
  local out="$1"
  shift
  setsid "$@" >"${out}" 2>&1 </dev/null {LOCK_FD}>&- &
}

stop_helper() {
  local pid="$1"
  [[ -n "${pid}" ]] || return 0
  kill -TERM -- "-${pid}" 2>/dev/null || true
  wait "${pid}" 2>/dev/null || true
}

wait_for_file_line() {
  local file="$1" pattern="$2" pid="$3" tries=0
  while ((tries < 600)); do
    if [[ -s "${file}" ]] && grep -q -- "${pattern}" "${file}"; then
      return 0
    fi
    if ! kill -0 "${pid}" 2>/dev/null; then
      return 1
    fi
    sleep 0.1
    tries=$((tries + 1))
  done
  return 1
}

start_simulator() {
  local port_file="${STATE_DIR}/sim.port" port
  start_helper "${STATE_DIR}/simulator.log" python -m divpipe sim --port 0 --port-file "${port_file}" \
    --symbols "${SIM_SYMBOLS}" --seed "${SIM_SEED}" --latency-ms "${SIM_LATENCY_MS}"
  SIM_PID=$!
  if ! wait_for_file_line "${port_file}" '[0-9]' "${SIM_PID}"; then
    log "❌ the simulator did not start:"
    cat "${STATE_DIR}/simulator.log" >&2 || true
    return 1
  fi
  port="$(<"${port_file}")"
  export DIVPIPE_SIMULATOR_URL="http://127.0.0.1:${port//[^0-9]/}"
  log "🧪 simulator: ${DIVPIPE_SIMULATOR_URL} (${SIM_SYMBOLS} symbols, seed ${SIM_SEED}, latency ${SIM_LATENCY_MS} ms)"
}

# A trial's database holds the symbols of the universe it was filled from: with
# another size or seed they would all look delisted. Start such a trial empty.
forget_another_universe() {
  local marker="${RUN_DATA_DIR}/universe" universe="${SIM_SYMBOLS} symbols, seed ${SIM_SEED}" previous=""
  if [[ -f "${marker}" ]]; then
    previous="$(<"${marker}")"
  fi
  if [[ -n "${previous}" && "${previous}" != "${universe}" ]]; then
    log "🧪 another simulated universe than last time (${previous}): emptying the simulated database and backups"
    if ! python -m divpipe db reset >>"${MAIN_LOG}" 2>&1; then
      log "❌ could not empty the simulated database: see ${MAIN_LOG}"
      stop_early "${EXIT_FAILURE}"
    fi
    # The backup check compares row counts with the last good backup: of the old universe.
    rm -rf -- "${BACKUP_DIR:?}"
  fi
  printf '%s\n' "${universe}" >"${marker}"
}

# The embedded PostgreSQL stops when the last process using it exits; hold it
# for the whole run so it does not stop and start between phases.
hold_embedded_database() {
  start_helper "${STATE_DIR}/db_hold.log" python -m divpipe db hold
  HOLD_PID=$!
  if ! wait_for_file_line "${STATE_DIR}/db_hold.log" '^holding' "${HOLD_PID}"; then
    log "❌ the embedded database did not start: $(tail -n 5 "${STATE_DIR}/db_hold.log")"
    return 1
  fi
}

# --- running tasks ------------------------------------------------------------

start_ticker() {
  sleep "${DIVPIPE_PROGRESS_SECONDS}" &
  TICKER_PID=$!
}

stop_ticker() {
  if [[ -n "${TICKER_PID}" ]]; then
    kill -KILL "${TICKER_PID}" 2>/dev/null || true
    wait "${TICKER_PID}" 2>/dev/null || true
    TICKER_PID=""
  fi
}

print_progress() {
  local label="$1" now pid name
  local -a parts=()
  now="${EPOCHREALTIME}"
  for pid in "${!RUNNING[@]}"; do
    name="${RUNNING[${pid}]}"
    parts+=("${name} ($(seconds_between "${TASK_START[${name}]}" "${now}"))")
  done
  log "⏳ ${label}: still running: ${parts[*]}"
}

launch_task() {
  local name="$1" log_file size=0
  log_file="${RUN_LOG_DIR}/${name}_${RUN_DAY}.log"
  if [[ -f "${log_file}" ]]; then
    size="$(stat -c %s "${log_file}")"
  fi
  # Logs are appended to, so a second run on one day keeps the first's output;
  # the merge takes only this run's part, from this offset on.
  TASK_OFFSET["${name}"]="${size}"
  TASK_START["${name}"]="${EPOCHREALTIME}"
  TASK_STATUS["${name}"]="running"
  # Its own session, so its own process group: a signal to the group reaches
  # every process the task started, and nothing outside it. A background child
  # is never a group leader, so setsid does not fork and $! is the group id.
  # The task keeps the lock descriptor: a task that outlives a killed driver
  # still keeps the next run out.
  setsid bash -c "exec ${TASK_CMD[${name}]}" >>"${log_file}" 2>&1 </dev/null &
  RUNNING[$!]="${name}"
  TASK_PID["${name}"]=$!
  log "▶ ${name} started (pid $!)"
}

# The task's own last ❌ line of this run (from its log offset), without the
# logger's prefix and without tabs (the note goes into a TSV state file).
task_cause() {
  local name="$1" log_file="${RUN_LOG_DIR}/$1_${RUN_DAY}.log" line=""
  [[ -f "${log_file}" ]] || return 0
  line="$(tail -c "+$((${TASK_OFFSET[${name}]:-0} + 1))" "${log_file}" | grep -a '❌' | tail -n 1)" || true
  line="${line#*❌}"
  line="${line#"${line%%[![:space:]]*}"}"
  printf '%s' "${line//$'\t'/ }" | cut -c 1-300
}

task_finished() {
  local name="$1" rc="$2" took cause see
  TASK_END["${name}"]="${EPOCHREALTIME}"
  TASK_RC["${name}"]="${rc}"
  took="$(seconds_between "${TASK_START[${name}]}" "${TASK_END[${name}]}")"
  if [[ -n "${TASK_TIMED_OUT[${name}]:-}" ]]; then
    # Whatever it exited with once stopped, it is the timeout that ended it.
    TASK_STATUS["${name}"]="timeout"
    TASK_NOTE["${name}"]="stopped after its timeout of $(seconds_between 0.000000 "$(printf '%d.%06d' "$((TASK_TIMEOUT_US[${name}] / 1000000))" "$((TASK_TIMEOUT_US[${name}] % 1000000))")")"
    if ((TASK_CRITICAL[${name}])); then
      log "❌ ${name} (critical) timed out: stopped after ${took}: see ${RUN_LOG_DIR}/${name}_${RUN_DAY}.log"
    else
      log "⚠️ ${name} timed out: stopped after ${took} (non-critical, the run goes on): see ${RUN_LOG_DIR}/${name}_${RUN_DAY}.log"
    fi
    return 0
  fi
  if ((rc == 0)); then
    TASK_STATUS["${name}"]="success"
    log "✅ ${name} finished in ${took}"
    return 0
  fi
  TASK_STATUS["${name}"]="failed"
  cause="$(task_cause "${name}")"
  TASK_NOTE["${name}"]="${cause}"
  see="see ${RUN_LOG_DIR}/${name}_${RUN_DAY}.log"
  if [[ -n "${cause}" ]]; then
    see="${cause} (${see})"
  fi
  if ((TASK_CRITICAL[${name}])); then
    log "❌ ${name} (critical) failed with exit ${rc} after ${took}: ${see}"
  else
    log "⚠️ ${name} failed with exit ${rc} after ${took} (non-critical, the run goes on): ${see}"
  fi
}

# On every tick: TERM the process group of a task past its timeout, KILL it
# DIVPIPE_STOP_GRACE_SECONDS later if it is still there. wait_for_any then
# reaps it like any task, and task_finished marks it `timeout`.
check_timeouts() {
  local now pid name limit started grace_us
  now="$(to_us "${EPOCHREALTIME}")"
  grace_us="$(seconds_to_us "${DIVPIPE_STOP_GRACE_SECONDS}")"
  for pid in "${!RUNNING[@]}"; do
    name="${RUNNING[${pid}]}"
    limit="${TASK_TIMEOUT_US[${name}]:-0}"
    ((limit > 0)) || continue
    started="$(to_us "${TASK_START[${name}]}")"
    if [[ -z "${TASK_TIMED_OUT[${name}]:-}" ]]; then
      if ((now - started > limit)); then
        TASK_TIMED_OUT["${name}"]="${now}"
        log "⏱️ ${name} is past its timeout of $(seconds_between 0.000000 "$(printf '%d.%06d' "$((limit / 1000000))" "$((limit % 1000000))")") (TASK_TIMEOUT_${name^^}_MINUTES): stopping its process group"
        kill -TERM -- "-${pid}" 2>/dev/null || true
      fi
    elif ((now - TASK_TIMED_OUT[${name}] > grace_us)); then
      kill -KILL -- "-${pid}" 2>/dev/null || true
    fi
  done
}

# Each task's limit from the Python settings (validated there: a bad value is exit 2).
load_task_timeouts() {
  local name value rc=0
  python -m divpipe.runs timeouts "${TASK_NAMES[@]}" >"${STATE_DIR}/timeouts" 2>>"${MAIN_LOG}" || rc=$?
  if ((rc != 0)); then
    log "❌ could not read the task timeouts (exit ${rc}): see ${MAIN_LOG}"
    stop_early "${rc}"
  fi
  while read -r name value; do
    TASK_TIMEOUT_US["${name}"]="${value}"
  done <"${STATE_DIR}/timeouts"
}

# A task killed by a signal (a timeout's KILL, the OOM killer) can be reaped by
# bash's job notification before `wait -n` sees it; `wait -n` then ignores it
# (or answers "no such job" when it was the only one). Finish such tasks here,
# on every tick, instead of waiting for them forever.
reap_vanished_tasks() {
  local pid name rc
  for pid in "${!RUNNING[@]}"; do
    if ! kill -0 "${pid}" 2>/dev/null; then
      rc=0
      wait "${pid}" 2>/dev/null || rc=$?
      # 127: its status is gone with the job; it was killed, as 128 + KILL says.
      ((rc != 127)) || rc=137
      name="${RUNNING[${pid}]}"
      unset "RUNNING[${pid}]"
      task_finished "${name}" "${rc}"
      kill -KILL -- "-${pid}" 2>/dev/null || true
    fi
  done
}

# Wait until a task finishes or the progress ticker fires.
wait_for_any() {
  local label="$1" finished="" rc=0
  wait -n -p finished "${!RUNNING[@]}" "${TICKER_PID}" 2>/dev/null || rc=$?
  if [[ -z "${finished}" ]]; then
    reap_vanished_tasks
    return 0
  fi
  if [[ "${finished}" == "${TICKER_PID}" ]]; then
    TICKER_PID=""
    reap_vanished_tasks
    check_timeouts
    if ((${#RUNNING[@]})); then
      print_progress "${label}"
    fi
    start_ticker
    return 0
  fi
  local name="${RUNNING[${finished}]}"
  unset "RUNNING[${finished}]"
  task_finished "${name}" "${rc}"
  # Processes a task left running in its group (a forgotten background job)
  # would outlive the run: stop them.
  if kill -0 -- "-${finished}" 2>/dev/null; then
    log "⚠️ ${name} left processes running in its group: stopping them"
    kill -KILL -- "-${finished}" 2>/dev/null || true
  fi
}

# "ready", "waiting", or "blocked ROOT": whether NAME can start now. A need
# that is not part of this run (unscheduled) or that finished, even with a
# non-critical failure, is met; a critical one that failed or timed out, or a
# need skipped because of one, blocks NAME too.
needs_state() {
  local name="$1" dep waiting=0
  for dep in ${TASK_NEEDS[${name}]:-}; do
    case "${TASK_STATUS[${dep}]}" in
      unscheduled | success) ;;
      planned | running) waiting=1 ;;
      failed | timeout)
        if ((TASK_CRITICAL[${dep}])); then
          printf 'blocked %s\n' "${dep}"
          return 0
        fi
        ;;
      *)
        printf 'blocked %s\n' "${TASK_BLOCKED_BY[${dep}]:-${dep}}"
        return 0
        ;;
    esac
  done
  if ((waiting)); then
    printf 'waiting\n'
  else
    printf 'ready\n'
  fi
}

# "failed (exit 1)" or "timed out": what became of a task, for skip notes.
what_became_of() {
  local name="$1"
  case "${TASK_STATUS[${name}]}" in
    timeout) printf 'timed out\n' ;;
    failed) printf 'failed (exit %s)\n' "${TASK_RC[${name}]:-?}" ;;
    *) printf '%s\n' "${TASK_STATUS[${name}]}" ;;
  esac
}

# Run the given planned tasks: each starts once its needs have finished, at
# most MAX_PARALLEL at once (0: no limit), in list order among those ready.
# Returns when every one has finished or been skipped.
run_tasks() {
  local label="$1" name state root
  shift
  local -a pending=("$@") waiting=()
  local -A skipped_by=()
  start_ticker
  while ((${#pending[@]} + ${#RUNNING[@]})); do
    waiting=()
    for name in "${pending[@]}"; do
      root=""
      read -r state root <<<"$(needs_state "${name}")"
      if [[ "${state}" == blocked ]]; then
        TASK_STATUS["${name}"]="skipped"
        TASK_BLOCKED_BY["${name}"]="${root}"
        TASK_NOTE["${name}"]="critical task ${root} $(what_became_of "${root}")"
        skipped_by["${root}"]+="${skipped_by[${root}]:+, }${name}"
      elif [[ "${state}" == ready ]] && ((MAX_PARALLEL == 0 || ${#RUNNING[@]} < MAX_PARALLEL)); then
        launch_task "${name}"
      else
        waiting+=("${name}")
      fi
    done
    pending=("${waiting[@]}")
    for root in "${!skipped_by[@]}"; do
      log "❌ skipping ${skipped_by[${root}]}: critical task ${root} $(what_became_of "${root}")"
    done
    skipped_by=()
    if ((${#RUNNING[@]} == 0)); then
      # Needs name earlier tasks only, so this cannot happen; if it did, say so instead of hanging.
      for name in "${pending[@]}"; do
        TASK_STATUS["${name}"]="skipped"
        TASK_NOTE["${name}"]="its needs (${TASK_NEEDS[${name}]:-}) never finished"
        log "❌ skipping ${name}: its needs (${TASK_NEEDS[${name}]:-}) never finished"
      done
      break
    fi
    wait_for_any "${label}"
  done
  stop_ticker
}

run_phase() {
  local phase="$1" name
  local -a pending=()
  for name in "${TASK_NAMES[@]}"; do
    if [[ "${TASK_PHASE[${name}]}" == "${phase}" && "${TASK_STATUS[${name}]}" == "planned" ]]; then
      pending+=("${name}")
    fi
  done
  ((${#pending[@]})) || return 0
  PHASE_START["${phase}"]="${EPOCHREALTIME}"
  log "━━ ${PHASE_LABEL[${phase}]}: ${pending[*]}"
  run_tasks "${PHASE_LABEL[${phase}]}" "${pending[@]}"
  PHASE_END["${phase}"]="${EPOCHREALTIME}"
  log "━━ ${PHASE_LABEL[${phase}]} done in $(seconds_between "${PHASE_START[${phase}]}" "${PHASE_END[${phase}]}")"
}

# --overlap: one graph instead of phases. Every planned task starts as soon as
# its needs have finished.
run_overlapped() {
  local name started
  local -a pending=()
  for name in "${TASK_NAMES[@]}"; do
    if [[ "${TASK_STATUS[${name}]}" == "planned" ]]; then
      pending+=("${name}")
    fi
  done
  ((${#pending[@]})) || return 0
  started="${EPOCHREALTIME}"
  log "━━ Overlapped tasks (--overlap: each starts when what it needs has finished): ${pending[*]}"
  run_tasks "Overlapped tasks" "${pending[@]}"
  log "━━ Overlapped tasks done in $(seconds_between "${started}" "${EPOCHREALTIME}")"
}

# The first critical task of a phase that failed, if any.
failed_critical_task() {
  local phase="$1" name
  for name in "${TASK_NAMES[@]}"; do
    if [[ "${TASK_PHASE[${name}]}" == "${phase}" ]] && [[ "${TASK_STATUS[${name}]}" == failed ||
      "${TASK_STATUS[${name}]}" == timeout ]] && ((TASK_CRITICAL[${name}])); then
      printf '%s\n' "${name}"
      return 0
    fi
  done
  return 1
}

skip_planned_tasks() {
  local reason="$1" name
  for name in "${TASK_NAMES[@]}"; do
    if [[ "${TASK_STATUS[${name}]}" == "planned" ]]; then
      TASK_STATUS["${name}"]="skipped"
      TASK_NOTE["${name}"]="${reason}"
    fi
  done
}

run_phases() {
  local phase failed later name what
  if ((OVERLAP)); then
    run_overlapped
    return 0
  fi
  for phase in "${PHASES[@]}"; do
    run_phase "${phase}"
    if failed="$(failed_critical_task "${phase}")"; then
      later=""
      for name in "${TASK_NAMES[@]}"; do
        if [[ "${TASK_STATUS[${name}]}" == "planned" ]]; then
          later+="${later:+, }${name}"
        fi
      done
      what="$(what_became_of "${failed}")"
      if [[ -n "${later}" ]]; then
        log "❌ skipping ${later}: critical task ${failed} ${what}"
        if [[ "${phase}" == "step2" ]]; then
          log "❌ Phase 2 skipped because the main update (${failed}) failed"
        fi
      fi
      skip_planned_tasks "critical task ${failed} ${what}"
      return 0
    fi
  done
}

# TERM every running task's process group, give them a grace period, then KILL
# what is left. Every task leader is reaped, so nothing is left behind.
stop_running_tasks() {
  local signal_name="$1" pid name rc grace_pid finished
  stop_ticker
  ((${#RUNNING[@]})) || return 0
  for pid in "${!RUNNING[@]}"; do
    kill -TERM -- "-${pid}" 2>/dev/null || true
  done
  sleep "${DIVPIPE_STOP_GRACE_SECONDS}" &
  grace_pid=$!
  while ((${#RUNNING[@]})); do
    finished=""
    rc=0
    wait -n -p finished "${!RUNNING[@]}" "${grace_pid}" || rc=$?
    if [[ -z "${finished}" || "${finished}" == "${grace_pid}" ]]; then
      break
    fi
    name="${RUNNING[${finished}]}"
    unset "RUNNING[${finished}]"
    interrupted_task "${name}" "${rc}" "${signal_name}"
  done
  # KILL: started after the handler began ignoring TERM, the sleep ignores it too.
  kill -KILL "${grace_pid}" 2>/dev/null || true
  wait "${grace_pid}" 2>/dev/null || true
  for pid in "${!RUNNING[@]}"; do
    kill -KILL -- "-${pid}" 2>/dev/null || true
    rc=0
    wait "${pid}" 2>/dev/null || rc=$?
    interrupted_task "${RUNNING[${pid}]}" "${rc}" "${signal_name}"
    unset "RUNNING[${pid}]"
  done
  # A leader may have exited before its children: they are still in its group.
  for name in "${TASK_NAMES[@]}"; do
    if [[ "${TASK_STATUS[${name}]}" == "interrupted" ]]; then
      kill -KILL -- "-${TASK_PID[${name}]:-0}" 2>/dev/null || true
    fi
  done
}

interrupted_task() {
  local name="$1" rc="$2" signal_name="$3"
  TASK_END["${name}"]="${EPOCHREALTIME}"
  TASK_RC["${name}"]="${rc}"
  TASK_STATUS["${name}"]="interrupted"
  TASK_NOTE["${name}"]="stopped by SIG${signal_name} to the driver"
  log "❌ ${name} interrupted (exit ${rc})"
}

# --- the end of a run: merged logs, report, history, alert --------------------

merge_task_logs() {
  local name status rc took log_file offset size
  {
    printf '\n═══════ task logs of run %s ═══════\n' "${RUN_ID}"
    for name in "${TASK_NAMES[@]}"; do
      status="${TASK_STATUS[${name}]}"
      [[ "${status}" != "unscheduled" ]] || continue
      log_file="${RUN_LOG_DIR}/${name}_${RUN_DAY}.log"
      if [[ -z "${TASK_START[${name}]:-}" ]]; then
        printf '\n─── [%s] %s: not run (%s) ───\n' "${name}" "${status}" "${TASK_NOTE[${name}]:-}"
        continue
      fi
      rc="${TASK_RC[${name}]:-?}"
      took="$(seconds_between "${TASK_START[${name}]}" "${TASK_END[${name}]:-${EPOCHREALTIME}}")"
      printf '\n─── [%s] %s · exit %s · %s · %s ───\n' "${name}" "${status}" "${rc}" "${took}" "${log_file}"
      offset="${TASK_OFFSET[${name}]:-0}"
      size=0
      if [[ -f "${log_file}" ]]; then
        size="$(stat -c %s "${log_file}")"
      fi
      if ((size > offset)); then
        tail -c "+$((offset + 1))" "${log_file}"
      else
        printf '(no output)\n'
      fi
    done
    printf '═══════ end of task logs ═══════\n\n'
  } >>"${MAIN_LOG}"
}

write_state() {
  local name phase
  {
    for name in "${TASK_NAMES[@]}"; do
      [[ "${TASK_STATUS[${name}]}" != "unscheduled" ]] || continue
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "${name}" "${TASK_PHASE[${name}]}" \
        "${TASK_CRITICAL[${name}]}" "${TASK_STATUS[${name}]}" "${TASK_RC[${name}]:-}" \
        "${TASK_START[${name}]:-}" "${TASK_END[${name}]:-}" "${RUN_LOG_DIR}/${name}_${RUN_DAY}.log" \
        "${TASK_NOTE[${name}]:-}" "${TASK_NEEDS[${name}]:-}"
    done
  } >"${STATE_DIR}/tasks.tsv"
  {
    for phase in "${PHASES[@]}"; do
      if [[ -n "${PHASE_START[${phase}]:-}" ]]; then
        printf '%s\t%s\t%s\n' "${phase}" "${PHASE_START[${phase}]}" "${PHASE_END[${phase}]:-${EPOCHREALTIME}}"
      fi
    done
  } >"${STATE_DIR}/phases.tsv"
}

# Exit code from the tasks alone: used when the report step itself fails.
fallback_exit_code() {
  local name
  for name in "${TASK_NAMES[@]}"; do
    if [[ "${TASK_STATUS[${name}]}" == failed || "${TASK_STATUS[${name}]}" == timeout ]] &&
      { ((TASK_CRITICAL[${name}])) || ((STRICT)); }; then
      printf '%d\n' "${EXIT_FAILURE}"
      return 0
    fi
  done
  printf '0\n'
}

run_alert() {
  local summary="$1" rc=0
  [[ -n "${ALERT_COMMAND:-}" ]] || return 0
  log "📣 running ALERT_COMMAND with ${summary}"
  # The summary's path is appended as the command's last argument.
  timeout 120 bash -c "${ALERT_COMMAND} \"\$1\"" alert "${summary}" >>"${MAIN_LOG}" 2>&1 || rc=$?
  if ((rc != 0)); then
    log "⚠️ ALERT_COMMAND exited ${rc}"
  fi
}

# Report, history and summary; then exit. $1: "" or the signal that stopped us.
finish_run() {
  local signal_name="$1" skipped_reason="${2:-}" rc=0 summary report
  FINISHING=1
  summary="${RUN_LOG_DIR}/summary_${RUN_ID}.json"
  report="${STATE_DIR}/report.txt"
  write_state
  merge_task_logs
  local -a args=(finish --run-id "${RUN_ID}" --driver "${DRIVER}" --state-dir "${STATE_DIR}"
    --started-at "${RUN_STARTED}" --main-log "${MAIN_LOG}" --summary "${summary}")
  if ((STRICT)); then
    args+=(--strict)
  fi
  if ((OVERLAP)); then
    args+=(--schedule overlap)
  fi
  if [[ -n "${RUN_AS_OF}" ]]; then
    args+=(--as-of "${RUN_AS_OF}")
  fi
  if ((RERUN)) && [[ -n "${RERUN_OF}" ]]; then
    args+=(--rerun-of "${RERUN_OF}")
  fi
  if [[ -n "${signal_name}" ]]; then
    args+=(--interrupted "${signal_name}")
  fi
  if [[ -n "${skipped_reason}" ]]; then
    args+=(--skipped "${skipped_reason}")
  fi
  python -m divpipe.runs "${args[@]}" >"${report}" 2>>"${MAIN_LOG}" || rc=$?
  cat "${report}" >>"${MAIN_LOG}"
  cat "${report}"
  if [[ ! -s "${summary}" ]]; then
    log "❌ the run report could not be written (exit ${rc}): see ${MAIN_LOG}"
    if [[ "${signal_name}" == INT ]]; then
      rc=130
    elif [[ "${signal_name}" == TERM ]]; then
      rc=143
    else
      rc="$(fallback_exit_code)"
      ((rc != 0)) || rc="${EXIT_FAILURE}"
    fi
  fi
  if ((rc != 0)); then
    run_alert "${summary}"
  fi
  exit "${rc}"
}

on_signal() {
  local signal_name="$1"
  trap '' TERM INT
  if ((FINISHING)); then
    return 0
  fi
  log "❌ received SIG${signal_name}: stopping every task"
  stop_running_tasks "${signal_name}"
  skip_planned_tasks "run interrupted by SIG${signal_name}"
  finish_run "${signal_name}"
}

# Stop before any task ran, with a reason already logged.
stop_early() {
  FINISHING=1
  exit "$1"
}

on_exit() {
  local rc=$? pid
  if ((rc != 0 && !FINISHING)); then
    log "❌ the driver stopped unexpectedly (exit ${rc}): the run is not recorded as finished"
  fi
  stop_ticker
  # Reached with tasks still running only on an unexpected error: stop them.
  for pid in "${!RUNNING[@]}"; do
    kill -KILL -- "-${pid}" 2>/dev/null || true
  done
  stop_helper "${SIM_PID}"
  stop_helper "${HOLD_PID}"
  if [[ -n "${STATE_DIR}" && -d "${STATE_DIR}" ]]; then
    rm -rf -- "${STATE_DIR}"
  fi
}

# Task logs, run logs and summaries older than LOG_RETENTION_DAYS.
clean_old_logs() {
  local days="${LOG_RETENTION_DAYS}" deleted=""
  deleted="$(find "${RUN_LOG_DIR}" -maxdepth 1 -type f \
    \( -name '*_[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9].log' -o -name 'summary_*.json' -o -name 'timeline_*.png' \) \
    -mmin "+$((days * 24 * 60))" -print -delete)" || log "⚠️ could not delete old logs in ${RUN_LOG_DIR}"
  if [[ -n "${deleted}" ]]; then
    log "🧹 deleted $(grep -c '' <<<"${deleted}") log file(s) older than ${days} days"
  fi
}

plan_tasks() {
  local which="$1" name phase
  for name in "${TASK_NAMES[@]}"; do
    phase="${TASK_PHASE[${name}]}"
    if [[ "${phase}" == "discovery" ]]; then
      ((WITH_DISCOVERY)) || continue
    elif [[ "${which}" != "full" ]]; then
      continue
    fi
    if ((RERUN)) && [[ -z "${RERUN_TASKS[${name}]+set}" ]]; then
      continue
    fi
    TASK_STATUS["${name}"]="planned"
  done
}

# --rerun-failed: read the earlier run's tasks to run again, add every task
# that needs one of them (the list is in dependency order, so one pass does),
# and take that run's date for the gate.
plan_rerun() {
  local rc=0 line name status first=1 needed dep
  local -a args=(rerun-plan)
  if [[ -n "${RERUN_OF}" ]]; then
    args+=(--run-id "${RERUN_OF}")
  fi
  python -m divpipe.runs "${args[@]}" >"${STATE_DIR}/rerun" 2>"${STATE_DIR}/rerun.err" || rc=$?
  cat "${STATE_DIR}/rerun.err" >>"${MAIN_LOG}"
  if ((rc != 0)); then
    line="$(tail -n 1 "${STATE_DIR}/rerun.err")"
    log "❌ cannot rerun: ${line#❌ }"
    stop_early "${rc}"
  fi
  while read -r name status; do
    if ((first)); then
      first=0
      RERUN_OF="${name}"
      AS_OF_DATE="${status}"
      continue
    fi
    if [[ -z "${TASK_PHASE[${name}]+set}" ]]; then
      log "⚠️ ${name} (${status} in ${RERUN_OF}) is no longer in the task list: not run again"
      continue
    fi
    RERUN_TASKS["${name}"]="${status}"
  done <"${STATE_DIR}/rerun"
  local -a asked=() added=()
  for name in "${TASK_NAMES[@]}"; do
    if [[ -n "${RERUN_TASKS[${name}]+set}" ]]; then
      asked+=("${name} (${RERUN_TASKS[${name}]})")
      continue
    fi
    needed=""
    for dep in ${TASK_NEEDS[${name}]:-}; do
      if [[ -n "${RERUN_TASKS[${dep}]+set}" ]]; then
        needed="${dep}"
        break
      fi
    done
    if [[ -n "${needed}" ]]; then
      RERUN_TASKS["${name}"]="needs ${needed}"
      added+=("${name}")
    fi
  done
  if ((${#asked[@]} == 0)); then
    log "✅ nothing to rerun: no task of ${RERUN_OF} failed, timed out or was skipped"
    stop_early 0
  fi
  if [[ -n "${RERUN_TASKS[discovery]+set}" ]]; then
    WITH_DISCOVERY=1
  fi
  log "↻ rerun of ${RERUN_OF} (as of ${AS_OF_DATE}): ${asked[*]}${added[*]:+; and what needs them: ${added[*]}}"
}

# --- main ---------------------------------------------------------------------

driver_main() {
  DRIVER="$1"
  MAX_PARALLEL="$2"
  shift 2
  RUN_STARTED="${EPOCHREALTIME}"
  # `wait -n -p` (bash 5.1) tells which task ended; older bash would spin forever.
  if ((BASH_VERSINFO[0] < 5 || (BASH_VERSINFO[0] == 5 && BASH_VERSINFO[1] < 1))); then
    echo "❌ $(basename "$0"): needs bash 5.1 or newer, this is ${BASH_VERSION}" >&2
    exit "${EXIT_USAGE}"
  fi
  PROJECT_DIR="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
  parse_args "$@"
  cd "${PROJECT_DIR}" || exit "${EXIT_FAILURE}"
  prepare_venv
  read_driver_settings
  # Absolute already. A trial never mixes with real runs: with --simulate these
  # are its own folders (divpipe.config.Settings.for_simulation).
  TASKS_FILE="${DIVPIPE_TASKS_FILE}"
  RUN_LOG_DIR="${LOG_DIR}"
  RUN_DATA_DIR="${DIVPIPE_DATA_DIR}"
  local ignored_database=0
  if is_true "${DIVPIPE_IGNORED_DATABASE_URL}"; then
    ignored_database=1
  fi
  mkdir -p -- "${RUN_LOG_DIR}" "${RUN_DATA_DIR}"
  load_tasks

  take_lock
  RUN_DAY="$(date '+%Y%m%d')"
  RUN_ID="$(date -u '+%Y%m%dT%H%M%SZ')-${DRIVER}-$$"
  MAIN_LOG="${RUN_LOG_DIR}/daily_update_${DRIVER}_${RUN_DAY}.log"
  remove_stale_state_dirs
  STATE_DIR="$(mktemp -d "${TMPDIR:-/tmp}/divpipe_run.XXXXXX")"
  printf '%s\n' "$$" >"${STATE_DIR}/driver.pid"
  trap on_exit EXIT
  trap 'on_signal TERM' TERM
  trap 'on_signal INT' INT
  # Every task watches this pid and stops, with its process group, when the driver is gone.
  export PYTHONUNBUFFERED=1 DIVPIPE_DRIVER_PID="$$"
  # Each task's limiters count its requests per host per second there, for the run's picture.
  export DIVPIPE_RUN_STATE_DIR="${STATE_DIR}"

  log "════ divpipe ${DRIVER} run ${RUN_ID} (pid $$) in ${PROJECT_DIR}$( ((OVERLAP)) && printf ' (--overlap)')"
  if [[ -n "${VENV_OUTPUT}" ]]; then
    printf '%s\n' "${VENV_OUTPUT}" >>"${MAIN_LOG}"
  fi

  if ((SIMULATE)); then
    if ((ignored_database)); then
      log "🧪 --simulate ignores DATABASE_URL: simulated data goes to the embedded database under ${RUN_DATA_DIR}"
    fi
    if ((!SIM_REAL_RATES)); then
      export DIVPIPE_SIM_TRIAL=true
    fi
    start_simulator || stop_early "${EXIT_FAILURE}"
    forget_another_universe
  fi

  if ((RERUN)); then
    plan_rerun
  fi
  local -a plan_args=(plan)
  if ((FORCE)); then plan_args+=(--force); fi
  if ((WITH_DISCOVERY)); then plan_args+=(--discovery); fi
  if [[ -n "${AS_OF_DATE}" ]]; then plan_args+=(--date "${AS_OF_DATE}"); fi
  local plan_line rc=0 which discovery as_of
  plan_line="$(python -m divpipe.runs "${plan_args[@]}" 2>"${STATE_DIR}/plan.err")" || rc=$?
  cat "${STATE_DIR}/plan.err" >>"${MAIN_LOG}"
  if ((rc != 0)); then
    plan_line="$(tail -n 1 "${STATE_DIR}/plan.err")"
    log "❌ could not decide whether to run (exit ${rc}): ${plan_line#❌ }"
    stop_early "${rc}"
  fi
  local why_discovery
  read -r which discovery as_of why_discovery <<<"${plan_line}"
  WITH_DISCOVERY="${discovery}"
  RUN_AS_OF="${as_of}"
  if ((RERUN)) && [[ "${why_discovery}" != "no-symbols" && -z "${RERUN_TASKS[discovery]+set}" ]]; then
    # Not the Sunday discovery of the rerun's own day: only the earlier run's, if it is to run again.
    WITH_DISCOVERY=0
  fi
  # LOG_RETENTION_DAYS was validated by config --shell, before the lock.
  clean_old_logs
  if [[ "${which}" == "skip" ]]; then
    log "SKIPPED: not a trading day (${as_of}, NYSE closed); FORCE_RUN=true or --force overrides"
    finish_run "" "not a trading day (${as_of})"
  fi
  if ((FORCE)); then
    log "FORCE: running regardless of the trading-day gate (${as_of})"
  elif [[ "${which}" == "discovery-only" && "${why_discovery}" == "no-symbols" ]]; then
    log "SKIPPED: not a trading day (${as_of}): only the discovery runs"
  elif [[ "${which}" == "discovery-only" ]]; then
    log "SKIPPED: not a trading day (${as_of}): only the Sunday discovery runs"
  fi
  if [[ "${why_discovery}" == "no-symbols" ]]; then
    log "🔎 no symbol is tracked yet: running discovery first$(
      [[ -n "${SYMBOLS_FILE:-}" ]] && printf ' (watchlist %s)' "${SYMBOLS_FILE}")"
  fi
  plan_tasks "${which}"
  load_task_timeouts

  if is_true "${DIVPIPE_EMBEDDED_DATABASE}"; then
    hold_embedded_database || true
  fi
  rc=0
  local -a start_args=(start --run-id "${RUN_ID}" --driver "${DRIVER}" --log-path "${MAIN_LOG}"
    --state-dir "${STATE_DIR}" --as-of "${RUN_AS_OF}")
  if ((RERUN)); then
    start_args+=(--rerun-of "${RERUN_OF}")
  fi
  python -m divpipe.runs "${start_args[@]}" >"${STATE_DIR}/start.log" 2>&1 || rc=$?
  cat "${STATE_DIR}/start.log" >>"${MAIN_LOG}"
  if ((rc != 0)); then
    log "⚠️ could not record the start of the run in pipeline_runs (exit ${rc}): see ${MAIN_LOG}"
  fi

  run_phases
  finish_run ""
}
