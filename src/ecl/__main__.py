"""`python -m ecl` (and `torchrun -m ecl train ...`)."""

import sys

from ecl.cli import main

sys.exit(main())
