# shellcheck shell=bash
# The ONE list of nightly tasks, sourced by daily_update_v3_parallel.sh and
# daily_update_v2.sh (through scripts/driver_lib.sh). Both drivers run exactly
# these tasks; v3 runs the tasks of a phase at the same time, v2 one by one.
#
#   task NAME PHASE critical|noncritical COMMAND [ARGS...]
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

task discovery  discovery critical    python update_stock_v2.py --mode discover --validate

task yieldmax   phase1    noncritical python scripts/scrape_yieldmax.py
task cboe       phase1    noncritical python scripts/scrape_cboe_dividends.py
task nasdaq     phase1    noncritical python scripts/scrape_nasdaq_dividends.py
task nyse       phase1    noncritical python scripts/scrape_nyse_dividends.py
task snowball   phase1    noncritical python scripts/scrape_snowball_dividends.py
# Only with MASSIVE_API_KEY or POLYGON_API_KEY (environment or .env); without, it says so and exits 0.
task polygon    phase1    noncritical python scripts/scrape_polygon_dividends.py

task main_update step2    critical    python update_stock_v2.py --mode update

task companies  phase2    noncritical python update_stock_v2.py --mode refresh-companies --limit 100
task holdings   phase2    noncritical python update_stock_v2.py --mode update-holdings
task future_div phase2    noncritical python update_stock_v2.py --mode future-dividends --days-ahead 90
task backup     phase2    noncritical scripts/backup_database.sh

# The Parquet lake (docs/export.md), only when EXPORT_TARGET is set (environment or .env).
# Phase 2 starts after the scrapers and the main update, at the backup's snapshot point.
if [[ -n "${EXPORT_TARGET:-}" ]]; then
  task export   phase2    noncritical python -m divpipe export
fi
