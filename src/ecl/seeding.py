"""Seeds: derived from (seed, epoch, …) parts, and set on every generator.

The randomness of epoch e (shuffling, augmentation, dropout) is drawn from generators seeded by
`derive_seed(seed, e, ...)` alone, so that a resumed run repeats the uninterrupted one exactly
(no generator state is saved or restored).
"""

from __future__ import annotations

import hashlib
import random
from typing import Any

import numpy as np
import torch

__all__ = ["derive_seed", "seed_everything", "PerItemSeeds"]


def derive_seed(*parts: int | str) -> int:
    """A stable 63-bit seed from `parts` (the same in every process and Python run)."""
    digest = hashlib.sha256(repr(parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators (all devices)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


class PerItemSeeds(torch.utils.data.Dataset):
    """`base`, with item i's randomness (augmentation) drawn from generators seeded by (seed, i) alone.

    So a sample's views do not depend on which loader worker builds it, nor on how many workers
    there are (0 = the main process, whose generators are restored after each item).
    """

    def __init__(self, base: Any, seed: int) -> None:
        self.base = base
        self.seed = seed

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> Any:
        py_state, np_state = random.getstate(), np.random.get_state()
        with torch.random.fork_rng(devices=[]):
            seed = derive_seed(self.seed, int(index))
            random.seed(seed)
            np.random.seed(seed % (2**32))
            torch.default_generator.manual_seed(seed)
            try:
                return self.base[index]
            finally:
                random.setstate(py_state)
                np.random.set_state(np_state)
