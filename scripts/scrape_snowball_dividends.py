#!/usr/bin/env python3
"""Snowball dividend calendar -> raw_dividends_snowball.

`--help` lists the flags; the work is in divpipe.jobs.scrape_snowball."""

import sys
from pathlib import Path

# Run as a file (python scripts/scrape_snowball_dividends.py): make the project importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from divpipe.entry import run
from divpipe.jobs.scrape_snowball import main

if __name__ == "__main__":
    sys.exit(run(main))
