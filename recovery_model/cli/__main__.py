"""`python -m recovery_model.cli`: the same as the `recovery` command."""

import sys

from recovery_model.cli import main

sys.exit(main())
