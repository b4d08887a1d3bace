#!/usr/bin/env python3
"""YieldMax fund distributions -> raw_yieldmax_dividends.

`--help` lists the flags; the work is in divpipe.jobs.scrape_yieldmax."""

import sys
from pathlib import Path

# Run as a file (python scripts/scrape_yieldmax.py): make the project importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from divpipe.entry import run
from divpipe.jobs.scrape_yieldmax import main

if __name__ == "__main__":
    sys.exit(run(main))
