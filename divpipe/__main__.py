import sys

from divpipe.cli import main

sys.exit(main(sys.argv[1:]))
