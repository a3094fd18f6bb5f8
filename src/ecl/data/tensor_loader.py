"""The tensor data path (README, "Data path"): images as one uint8 tensor on the training device, views
made per batch by `BatchedViews` — no Python loop over images.

Whether a run takes this path, and how it stores image files, is the DataPlan's `pipeline` and
`storage` (`ecl.data.plan.decide_data_path`); `ecl.data.loading.TensorLoader` puts these pieces
behind the one loading interface.

* `TensorData.build(plan, bundle, device)`: the training images at their stored size (arrays: as
  held; image files, storage "pixels": the decode cache's whole images, aspect kept, shorter side
  R = the plan's `stored_size` (the eval resize), longer side ≤ 2R, as `data.ragged.RaggedImages` —
  RandomResizedCrop boxes are cut from each whole image; storage "encoded": the files' bytes as
  `data.encoded.EncodedImages`, each chunk decoded at full size into RaggedImages on the device
  before its views are cut the same way) and the test/val images already at the
  evaluation view (N,3,S,S) uint8 — the per-image path's Resize(R) → CenterCrop(S) (arrays: a
  batched uint8 antialiased resize; image files: made per file on the PIL image, cached).
* `TensorTrainLoader`: per epoch a permutation from `derive_seed(seed, epoch, "loader")`; the views
  of a chunk of consecutive steps made at once from a CPU generator seeded by
  `derive_seed(seed, epoch, first step, rank, "views")`, so a resumed run repeats the
  uninterrupted one. Each DDP rank takes every world-th index of the
  permutation (the same permutation on all ranks). Yields (views ((1+V)·B,3,S,S) float32 —
  classifier view of the B images first, then each contrastive view —, labels (B,) int64), all on
  the device. Encoded storage makes at most `_DECODE_IMAGES` images' views per call (their decoded
  full-size images are held at once).
* `TensorEvalLoader`: (eval view (B,3,S,S) float32, labels (B,)) over slices of the test tensor.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

import torch
from torch import Tensor
from torchvision.transforms.v2 import functional as TF

from ecl.data.batched_views import BatchedViews
from ecl.data.encoded import EncodedImages
from ecl.data.ragged import LONG_SIDE_CAP
from ecl.data.torch_datasets import ArrayDataset, ImageFileDataset
from ecl.seeding import derive_seed

__all__ = ["TensorData", "TensorTrainLoader", "TensorEvalLoader", "steps_per_chunk", "eval_tensor"]

_EVAL_CHUNK = 1024  # images resized at once when making the eval tensor
_CHUNK_IMAGES = 1024  # training images whose views are made in one call (see steps_per_chunk)
_CHUNK_BYTES = 256 * 2**20  # … and at most this many bytes of views
_DECODE_IMAGES = 256  # encoded storage: at most this many images decoded for one chunk


def eval_tensor(images: Tensor, resize: int, size: int) -> Tensor:
    """(N,3,h,w) uint8 → (N,3,S,S) uint8: shorter side → `resize` (antialiased), centre crop S —
    the per-image eval view's geometry (views.Preprocessing), in chunks of whole batches."""
    h, w = images.shape[-2:]
    if (h, w) == (size, size):
        return images
    out = []
    for start in range(0, images.shape[0], _EVAL_CHUNK):
        x = images[start:start + _EVAL_CHUNK]
        if min(h, w) != resize:
            x = TF.resize(x, [resize], antialias=True)
        out.append(TF.center_crop(x, [size, size]))
    return torch.cat(out).contiguous() if out else images.new_zeros((0, 3, size, size))


def _train_split(dataset: Any, plan: Any, cache_dir: str | None, workers: int) -> tuple[Any, Tensor]:
    """Training images: arrays as held (N,3,h,w); image files whole (RaggedImages, shorter side R)
    or, storage "encoded", their bytes (EncodedImages)."""
    if isinstance(dataset, ArrayDataset):
        return dataset.as_uint8_tensor()
    if plan.storage == "encoded":
        encoded = EncodedImages.from_files(dataset.paths, dataset.sources, workers=workers)
        return encoded, torch.tensor(list(dataset.labels), dtype=torch.int64)
    from ecl.data.decode_cache import cached_ragged

    return cached_ragged(dataset, plan.stored_size, cache_dir, workers=workers)


def _eval_split(dataset: Any, plan: Any, cache_dir: str | None, workers: int) -> tuple[Tensor, Tensor]:
    """Test/val images at the plan's eval view (M,3,S,S) uint8: Resize(R) → CenterCrop(S) (image
    files: on the PIL image, as the per-image path, JPEGs drafted as its loaders do: `plan.draft_size`)."""
    if isinstance(dataset, ArrayDataset):
        x, y = dataset.as_uint8_tensor()
        return eval_tensor(x, plan.resize, plan.image_size), y
    from ecl.data.decode_cache import cached_uint8_tensor

    return cached_uint8_tensor(dataset, plan.resize, cache_dir, workers=workers, crop=plan.image_size,
                               draft=plan.draft_size)


@dataclass
class TensorData:
    """The tensor path's images on the device: train at the stored size, test/val at the eval view."""

    train_images: Any  # (N,3,h,w) uint8 Tensor, or RaggedImages / EncodedImages (image files)
    train_labels: Tensor  # (N,) int64
    eval_sets: dict[int, tuple[Tensor, Tensor]]  # id(dataset) → ((M,3,S,S) uint8, (M,) int64)

    @classmethod
    def build(cls, plan: Any, bundle: Any, device: torch.device, cache_dir: str | None = None,
              workers: int = 0) -> "TensorData":
        """The bundle's splits as the DataPlan `plan` stores them, on `device`."""
        images, labels = _train_split(bundle.train, plan, cache_dir, workers)
        data = cls(images.to(device), labels.to(device), {})
        for ds in (bundle.test, bundle.val):
            if ds is not None:
                x, y = _eval_split(ds, plan, cache_dir, workers)
                data.eval_sets[id(ds)] = (x.to(device), y.to(device))
        return data


@contextmanager
def _one_cpu_thread(device: torch.device) -> Iterator[None]:
    """On the CPU, make the views with one intra-op thread: their many small batched ops gain
    nothing from a thread team, and a team waiting for a busy core made a digits-lt epoch's views
    5–25× slower on 2 shared cores (measured: 50–70 ms with one thread, 0.2–1.6 s with two)."""
    if device.type != "cpu" or torch.get_num_threads() == 1:
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def steps_per_chunk(batch: int, num_views: int, size: int) -> int:
    """Steps whose views are made in one BatchedViews call: up to `_CHUNK_IMAGES` images and
    `_CHUNK_BYTES` of float32 views (fewer, larger batched ops: the per-op overhead is paid once
    per chunk). Depends only on the configuration, so the views do too."""
    per_step = batch * num_views * 3 * size * size * 4
    return max(1, min(_CHUNK_IMAGES // max(batch, 1), _CHUNK_BYTES // per_step))


class TensorTrainLoader:
    """One epoch of (views, labels) batches from the training tensor (see the module docstring).

    The views of `steps_per_chunk` consecutive steps are made by one BatchedViews call, under a
    CPU generator seeded by derive_seed(seed, epoch, first step of the chunk, rank, "views")."""

    def __init__(self, images: Tensor, labels: Tensor, views: BatchedViews, batch_size: int, *,
                 seed: int, epoch: int, rank: int = 0, world: int = 1) -> None:
        self.images, self.labels, self.views = images, labels, views
        self.seed, self.epoch, self.rank, self.world = seed, epoch, rank, world
        per_rank = len(images) // world
        self.per_rank = per_rank
        # drop_last as the per-image DataLoader: only when at least one full batch exists
        self.batch_size = batch_size if per_rank >= batch_size else max(per_rank, 1)
        self.steps = per_rank // self.batch_size if per_rank else 0
        self.chunk = steps_per_chunk(self.batch_size, 1 + views.num_contrastive_views, views.size)
        if isinstance(images, EncodedImages):
            self.chunk = max(1, min(self.chunk, _DECODE_IMAGES // self.batch_size))

    def __len__(self) -> int:
        return self.steps

    def _order(self) -> Tensor:
        g = torch.Generator().manual_seed(derive_seed(self.seed, self.epoch, "loader"))
        perm = torch.randperm(len(self.images), generator=g)
        if self.world > 1:
            perm = perm[: self.per_rank * self.world][self.rank :: self.world]
        return perm.to(self.images.device)

    def _chunk(self, order: Tensor, first: int, count: int) -> tuple[Tensor, Tensor]:
        """Views (count, (1+V)·B, 3,S,S) and labels (count, B) of steps first … first+count−1."""
        b = self.batch_size
        idx = order[first * b : (first + count) * b]
        g = torch.Generator().manual_seed(derive_seed(self.seed, self.epoch, first, self.rank, "views"))
        with _one_cpu_thread(self.images.device):
            batch = self.images.index_select(0, idx)
            if isinstance(batch, EncodedImages):
                batch = batch.decode()  # whole images at full size, RaggedImages on the device
            views = self.views(batch, g)
        s = views[0].shape[-1]
        stacked = torch.stack([v.view(count, b, 3, s, s) for v in views], dim=1)
        return stacked.view(count, len(views) * b, 3, s, s), self.labels.index_select(0, idx).view(count, b)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        order = self._order()
        for first in range(0, self.steps, self.chunk):
            views, labels = self._chunk(order, first, min(self.chunk, self.steps - first))
            for k in range(views.shape[0]):
                yield views[k], labels[k]


class TensorEvalLoader:
    """(eval view (B,3,S,S) float32, labels (B,)) over contiguous slices of an eval-ready tensor."""

    def __init__(self, images: Tensor, labels: Tensor, views: BatchedViews, batch_size: int) -> None:
        self.images, self.labels, self.views, self.batch_size = images, labels, views, batch_size

    def __len__(self) -> int:
        return -(-self.images.shape[0] // self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        for start in range(0, self.images.shape[0], self.batch_size):
            stop = start + self.batch_size
            yield self.views.eval_view(self.images[start:stop]), self.labels[start:stop]
