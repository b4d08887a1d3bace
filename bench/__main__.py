"""`python -m bench [--quick] [--only NAME] [--markdown FILE] [--json FILE]`: see bench/suite.py."""

import sys

from bench.suite import main

sys.exit(main(sys.argv[1:]))
