"""The per-image (pil) data path's training loader: one DataLoader for the whole run, so its
workers persist across epochs, with pinned memory (CUDA) and prefetching.

Persistent workers keep their random state from epoch to epoch, which would make a resumed run
differ from an uninterrupted one. So the randomness of every item is seeded from
(seed, epoch, index) instead: the sampler (in the main process, where `set_epoch` reaches it)
yields (epoch, index) pairs, and `SeededViewsDataset` makes the item as `seeding.PerItemSeeds`
does with the epoch's seed derive_seed(seed, epoch, "items"). The views therefore depend neither on the number
of workers nor on which worker makes them.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from ecl.data.torch_datasets import ViewsDataset
from ecl.seeding import PerItemSeeds, derive_seed

__all__ = ["EpochSampler", "SeededViewsDataset", "build_pil_train_loader"]


class EpochSampler(Sampler):
    """(epoch, index) pairs of this rank's share of the epoch's permutation.

    The permutation comes from `derive_seed(seed, epoch, "loader")` (the same on every rank);
    rank r takes positions r, r+world, … of its first ⌊N/world⌋·world entries."""

    def __init__(self, size: int, seed: int, rank: int = 0, world: int = 1) -> None:
        self.size, self.seed, self.rank, self.world, self.epoch = size, seed, rank, world, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.size // self.world

    def __iter__(self) -> Iterator[tuple[int, int]]:
        g = torch.Generator().manual_seed(derive_seed(self.seed, self.epoch, "loader"))
        perm = torch.randperm(self.size, generator=g)
        if self.world > 1:
            perm = perm[: len(self) * self.world][self.rank :: self.world]
        epoch = self.epoch
        return iter([(epoch, int(i)) for i in perm.tolist()])


class SeededViewsDataset(Dataset):
    """ViewsDataset indexed by (epoch, index): item `index` of epoch `epoch` is made as
    `PerItemSeeds(ViewsDataset(base, transform), derive_seed(seed, epoch, "items"))[index]`
    (Python's, NumPy's and torch's generators seeded from those alone, the caller's restored)."""

    def __init__(self, base: Dataset, transform: Callable[[Any], Any], seed: int) -> None:
        self.views = ViewsDataset(base, transform)
        self.seed = seed

    def __len__(self) -> int:
        return len(self.views)

    def __getitem__(self, key: Any) -> tuple[Any, int]:
        epoch, index = key
        return PerItemSeeds(self.views, derive_seed(self.seed, epoch, "items"))[index]


def build_pil_train_loader(dataset: Dataset, transform: Callable[[Any], Any], *, seed: int, batch_size: int,
                           num_workers: int, rank: int = 0, world: int = 1) -> DataLoader:
    """The run's one training DataLoader; call `loader.sampler.set_epoch(e)` before each epoch.

    drop_last as before: only when this rank has at least one full batch."""
    sampler = EpochSampler(len(dataset), seed, rank, world)  # type: ignore[arg-type]
    workers = num_workers > 0
    return DataLoader(SeededViewsDataset(dataset, transform, seed), batch_size=batch_size, sampler=sampler,
                      num_workers=num_workers, pin_memory=torch.cuda.is_available(),
                      drop_last=len(sampler) >= batch_size, persistent_workers=workers,
                      prefetch_factor=4 if workers else None)
