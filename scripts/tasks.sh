# shellcheck shell=bash
# The ONE list of nightly tasks, sourced by daily_update_v3_parallel.sh and
# daily_update_v2.sh (through scripts/driver_lib.sh). Both drivers run exactly
# these tasks; v3 runs the tasks of a phase at the same time, v2 one by one.
#
#   task NAME PHASE critical|noncritical COMMAND [ARGS...]
#   needs NAME TASK...
#
# NAME is also the task's log file, $LOG_DIR/NAME_YYYYMMDD.log, named as the
# users of the system this replaces know them. PHASE is one of
#   discovery  Sundays only (or --discovery), before everything else
#   phase1     the scrapers
#   step2      the main update
#   phase2     post-update jobs; they run only when every critical task before
#              them succeeded
# A critical task that fails fails the run and skips the phases after it.
# Commands run from the project directory with the virtual environment active.
#
# `needs` says which tasks must have finished before NAME starts: the tasks
# whose tables it reads, or whose reads its writes would disturb. A task needs
# only tasks listed before it, so the list order is always a valid serial
# order. Without --overlap, v3 keeps the phases above and honours `needs`
# inside a phase too; with --overlap a task starts as soon as its needs have
# finished. A critical task that fails skips the tasks that need it, directly
# or through others, and nothing else. docs/jobs.md explains each line.

task discovery  discovery critical    python update_stock_v2.py --mode discover --validate

task yieldmax   phase1    noncritical python scripts/scrape_yieldmax.py
task cboe       phase1    noncritical python scripts/scrape_cboe_dividends.py
task nasdaq     phase1    noncritical python scripts/scrape_nasdaq_dividends.py
task nyse       phase1    noncritical python scripts/scrape_nyse_dividends.py
task snowball   phase1    noncritical python scripts/scrape_snowball_dividends.py
# Only with MASSIVE_API_KEY or POLYGON_API_KEY (environment or .env); without, it says so and exits 0.
task polygon    phase1    noncritical python scripts/scrape_polygon_dividends.py
# Discovery reads every scraped table: it must see last night's rows, not tonight's half-written ones.
needs yieldmax  discovery
needs cboe      discovery
needs nasdaq    discovery
needs nyse      discovery
needs snowball  discovery
needs polygon   discovery

task main_update step2    critical    python update_stock_v2.py --mode update
# It reads the tracked symbols, which discovery writes, and none of the scraped tables.
needs main_update discovery

task companies  phase2    noncritical python update_stock_v2.py --mode refresh-companies --limit 100
task holdings   phase2    noncritical python update_stock_v2.py --mode update-holdings
task future_div phase2    noncritical python update_stock_v2.py --mode future-dividends --days-ahead 90
# Both read the symbols and company rows the main update writes.
needs companies  main_update
needs holdings   main_update
# It consolidates the scraped tables, and nothing else.
needs future_div yieldmax cboe nasdaq nyse snowball polygon

# The Parquet lake (docs/export.md), only when EXPORT_TARGET is set (environment or .env).
if [[ -n "${EXPORT_TARGET:-}" ]]; then
  task export   phase2    noncritical python -m divpipe export
  # It exports every data table: after everything that writes one.
  needs export  yieldmax cboe nasdaq nyse snowball polygon main_update companies holdings future_div
fi

task backup     phase2    noncritical scripts/backup_database.sh
# The backup holds the whole night: it starts after every task that writes.
needs backup    yieldmax cboe nasdaq nyse snowball polygon main_update companies holdings future_div
if [[ -n "${EXPORT_TARGET:-}" ]]; then
  needs backup  export
fi
