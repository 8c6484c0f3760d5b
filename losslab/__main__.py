"""`python -m losslab ...`: the command line (losslab/cli.py)."""

import sys

from losslab.cli import main

sys.exit(main())
