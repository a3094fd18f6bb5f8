"""The one loading interface of a run: training batches of views for an epoch, evaluation batches.

`build_loader(plan, bundle, settings, device)` returns the implementation the DataPlan's
`pipeline` names — `TensorLoader` (images held as uint8 pixels on the device, or as the files'
encoded bytes decoded per batch there — the plan's `storage` —, batched views: `tensor_loader.py`) or `PerImageLoader` (a DataLoader applying the per-image views in workers:
`pil_loader.py`). Both give

* `train_epoch(epoch)`: a sized iterable of (images ((1+V)·B, 3, S, S) float32, labels (B,) int64),
  the B images' classifier views first, then each contrastive view — the network's single input;
  order and augmentation depend only on (seed, epoch);
* `eval_batches(dataset, whole=False)`: (images (B,3,S,S) float32, labels (B,)); each rank gets
  items rank, rank+world, … (every item once, no padding); `whole`: all of them on this rank.

The engine holds one such object and never asks which it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Protocol

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Subset

from ecl.data.plan import DataPlan
from ecl.data.torch_datasets import ViewsDataset

__all__ = ["LoaderSettings", "RunLoader", "TensorLoader", "PerImageLoader", "build_loader"]


@dataclass(frozen=True)
class LoaderSettings:
    """What the loaders need besides the plan and the data (from the run's config and processes)."""

    seed: int
    batch_size: int  # per rank
    eval_batch_size: int
    num_workers: int = 0
    num_contrastive_views: int = 0
    rank: int = 0
    world: int = 1
    cache_dir: str | None = None


class RunLoader(Protocol):
    """The loading interface (see the module docstring)."""

    plan: DataPlan

    def train_epoch(self, epoch: int) -> Iterable[tuple[Tensor, Tensor]]: ...

    def eval_batches(self, dataset: Any, *, whole: bool = False) -> Iterable[tuple[Tensor, Tensor]]: ...


class TensorLoader:
    """The tensor path: the splits as uint8 tensors on `device` (built once), views per batch."""

    def __init__(self, plan: DataPlan, bundle: Any, settings: LoaderSettings, device: torch.device) -> None:
        from ecl.data.tensor_loader import TensorData

        self.plan, self.settings = plan, settings
        self.data = TensorData.build(plan, bundle, device, settings.cache_dir, settings.num_workers)

    def train_epoch(self, epoch: int) -> Iterable[tuple[Tensor, Tensor]]:
        from ecl.data.tensor_loader import TensorTrainLoader

        s = self.settings
        return TensorTrainLoader(self.data.train_images, self.data.train_labels,
                                 self.plan.batched_views(s.num_contrastive_views), s.batch_size, seed=s.seed,
                                 epoch=epoch, rank=s.rank, world=s.world)

    def eval_batches(self, dataset: Any, *, whole: bool = False) -> Iterable[tuple[Tensor, Tensor]]:
        from ecl.data.tensor_loader import TensorEvalLoader

        s = self.settings
        if id(dataset) not in self.data.eval_sets:  # a set not held on the device: made image by image
            return PerImageLoader(self.plan, None, s).eval_batches(dataset, whole=whole)
        images, labels = self.data.eval_sets[id(dataset)]
        if s.world > 1 and not whole:
            images, labels = images[s.rank :: s.world], labels[s.rank :: s.world]
        return TensorEvalLoader(images, labels, self.plan.batched_views(0), s.eval_batch_size)


class _Concatenated:
    """A DataLoader of ([view 1 … view 1+V] each (B,3,S,S), labels) as (((1+V)·B,3,S,S), labels)."""

    def __init__(self, loader: DataLoader) -> None:
        self.loader = loader

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        for views, labels in self.loader:
            yield torch.cat(list(views), dim=0), labels


def _draft(dataset: Any, plan: DataPlan) -> None:
    """Let an image-file dataset decode JPEGs at reduced size, down to the plan's `draft_size`."""
    if hasattr(dataset, "draft_size"):
        dataset.draft_size = plan.draft_size


class PerImageLoader:
    """The per-image path: one training DataLoader for the run (its workers persist across epochs)."""

    def __init__(self, plan: DataPlan, bundle: Any, settings: LoaderSettings) -> None:
        self.plan, self.bundle, self.settings = plan, bundle, settings
        self._train: DataLoader | None = None

    def train_epoch(self, epoch: int) -> Iterable[tuple[Tensor, Tensor]]:
        if self._train is None:
            from ecl.data.pil_loader import build_pil_train_loader

            s = self.settings
            _draft(self.bundle.train, self.plan)
            self._train = build_pil_train_loader(
                self.bundle.train, self.plan.train_transform(s.num_contrastive_views), seed=s.seed,
                batch_size=s.batch_size, num_workers=s.num_workers, rank=s.rank, world=s.world)
        self._train.sampler.set_epoch(epoch)  # type: ignore[attr-defined]
        return _Concatenated(self._train)

    def eval_batches(self, dataset: Any, *, whole: bool = False) -> Iterable[tuple[Tensor, Tensor]]:
        s = self.settings
        _draft(dataset, self.plan)
        data: Any = ViewsDataset(dataset, self.plan.eval_transform())
        if s.world > 1 and not whole:
            data = Subset(data, list(range(s.rank, len(data), s.world)))
        workers = s.num_workers
        return DataLoader(data, batch_size=s.eval_batch_size, shuffle=False, num_workers=workers,
                          pin_memory=torch.cuda.is_available(), persistent_workers=workers > 0,
                          prefetch_factor=4 if workers else None)


def build_loader(plan: DataPlan, bundle: Any, settings: LoaderSettings, device: torch.device) -> RunLoader:
    """The loader of `plan.pipeline` ("tensor": the images are put on `device` now)."""
    if plan.pipeline == "tensor":
        return TensorLoader(plan, bundle, settings, device)
    return PerImageLoader(plan, bundle, settings)
