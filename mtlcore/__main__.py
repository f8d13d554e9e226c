"""`python -m mtlcore ...`: see mtlcore/cli.py."""

import sys

from mtlcore.cli import main

sys.exit(main())
