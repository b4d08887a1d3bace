#!/usr/bin/env python3
"""NASDAQ dividend calendar -> raw_dividends_nasdaq.

`--help` lists the flags; the work is in divpipe.jobs.scrape_nasdaq."""

import sys
from pathlib import Path

# Run as a file (python scripts/scrape_nasdaq_dividends.py): make the project importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from divpipe.entry import run
from divpipe.jobs.scrape_nasdaq import main

if __name__ == "__main__":
    sys.exit(run(main))
