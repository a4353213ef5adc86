"""`python -m dpedu train | evaluate | config` (and `torchrun ... -m dpedu train`): the `dpedu` command (cli.py)."""

import sys

from dpedu.cli import main

sys.exit(main())
