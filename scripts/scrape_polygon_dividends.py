#!/usr/bin/env python3
"""Polygon/Massive dividends -> raw_dividends_polygon (only when MASSIVE_API_KEY or POLYGON_API_KEY is set).

`--help` lists the flags; the work is in divpipe.jobs.scrape_polygon."""

import sys
from pathlib import Path

# Run as a file (python scripts/scrape_polygon_dividends.py): make the project importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from divpipe.entry import run
from divpipe.jobs.scrape_polygon import main

if __name__ == "__main__":
    sys.exit(run(main))
