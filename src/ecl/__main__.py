"""`python -m ecl` (and `torchrun -m ecl train ...`)."""

import os
import sys

from ecl.cli import main

code = main()
try:
    import torch.distributed as dist

    gloo = dist.is_available() and dist.is_initialized() and dist.get_backend() == "gloo"
except Exception:  # pragma: no cover - a broken torch.distributed must not hide the exit code
    gloo = False
if gloo:
    # Every file is written (atomically, fsynced) and every rank passed the final barrier. With
    # torch 2.14 the interpreter teardown of a gloo process aborts now and then (SIGABRT,
    # "terminate called without an active exception"), which torchrun would report as a failure.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
sys.exit(code)
