"""`python -m kvmtune.cli`: the same as the `kvmtune` command."""

import sys

from . import main

sys.exit(main())
