#!/usr/bin/env python3
"""Main update and post-update jobs of divpipe. `--mode` picks the job; `--help` per mode lists its flags.

    python update_stock_v2.py --mode update [--tickers A,B] [--limit N] ...
    python update_stock_v2.py --mode backfill [--days 252 | --start D --end D] [--tickers A,B | --all] ...
    python update_stock_v2.py --mode discover [--validate]
    python update_stock_v2.py --mode refresh-companies [--limit 100]
    python update_stock_v2.py --mode update-holdings
    python update_stock_v2.py --mode future-dividends [--days-ahead 90]
"""

import sys

from divpipe.jobs.modes import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
