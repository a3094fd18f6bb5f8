"""`ecl data preview`: the training views a run would make, written as PNGs (what the network sees).

`preview(config, count, out)` builds the training loader of the configured data path the way a
run does (`data.pipeline`: the tensor path's `TensorData` + `BatchedViews`, or the per-image
DataLoader with `MultiViewTransform`), takes the first `count` samples of epochs 0, 1, … and
writes, for sample k, `k-v0.png` (classifier view) and `k-v1.png`, `k-v2.png`, … (the contrastive
views): RGB uint8 at the training size S, un-normalised (x·std + mean, ×255, rounded, clipped —
RandomErasing's bright patches clip to white). `preview.json` records the recipe, the data path
and why, the storage, the image size, the seed and the normalisation. The same config and seed
give the same files. An existing non-empty `out` is refused unless `overwrite`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from ecl.atomic import atomic_write_json
from ecl.config import Config

__all__ = ["PreviewError", "preview", "unnormalise"]

PREVIEW_RECORD = "preview.json"


class PreviewError(ValueError):
    """A preview that cannot be written (bad count, an existing non-empty folder)."""


def unnormalise(views: Tensor, mean: Any, std: Any) -> Tensor:
    """(B,3,S,S) float32 normalised views → (B,S,S,3) uint8 RGB: x·std + mean, ×255, round, clip."""
    m = torch.as_tensor(mean, dtype=torch.float32, device=views.device).view(1, 3, 1, 1)
    s = torch.as_tensor(std, dtype=torch.float32, device=views.device).view(1, 3, 1, 1)
    pixels = (views.float() * s + m).mul_(255.0).round_().clamp_(0, 255)
    return pixels.to(torch.uint8).permute(0, 2, 3, 1).cpu()


def _check_out(out: Path, count: int, overwrite: bool) -> None:
    if count < 1:
        raise PreviewError(f"--count: must be ≥ 1, got {count}")
    if out.exists() and not out.is_dir():
        raise PreviewError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise PreviewError(f"{out}: folder exists and is not empty (pass --overwrite to write into it)")


def _tensor_epochs(config: Config, bundle: Any, device: torch.device, views: int) -> tuple[Callable, dict]:
    """(epoch → TensorTrainLoader, facts) as a run's tensor path builds them."""
    from ecl.data.ragged import LONG_SIDE_CAP, RaggedImages
    from ecl.engine.tensor_loader import TensorData, TensorTrainLoader, build_batched_views

    data = TensorData.build(config, bundle, device)
    bv = build_batched_views(config, bundle, views)
    images = data.train_images
    if isinstance(images, RaggedImages):
        short = int(images.shapes.min()) if len(images) else 0
        storage = (f"whole images, aspect kept (ragged uint8, {images.nbytes / 2**20:.1f} MiB): shorter side "
                   f"the eval resize, longer side ≤ {LONG_SIDE_CAP:g}× it (smallest stored side {short})")
    else:
        storage = f"uint8 tensor {tuple(images.shape)} as held"

    def make(epoch: int) -> Any:
        return TensorTrainLoader(images, data.train_labels, bv, max(1, config.train.batch_size),
                                 seed=config.seed, epoch=epoch)

    return make, {"storage": storage, "recipe": bv.recipe, "mean": [round(float(v), 6) for v in bv.mean],
                  "std": [round(float(v), 6) for v in bv.std]}


def _pil_epochs(config: Config, bundle: Any, views: int) -> tuple[Callable, dict]:
    """(epoch → per-image DataLoader, facts) as a run's per-image path builds them."""
    from ecl.data import build_train_transform
    from ecl.engine.pil_loader import build_pil_train_loader
    from ecl.engine.preprocess import Preprocess

    p = Preprocess.of_bundle(bundle, config.data.recipe)
    transform = build_train_transform(p.image_size, p.recipe, p.mean, p.std, num_contrastive_views=views,
                                      flip=config.data.flip, randaugment=config.data.randaugment)
    if hasattr(bundle.train, "draft_size"):  # as the run's loaders: JPEGs drafted down to S/0.875
        bundle.train.draft_size = max(int(p.image_size), int(p.image_size / 0.875))
    loader = build_pil_train_loader(bundle.train, transform, seed=config.seed,
                                    batch_size=max(1, config.train.batch_size),
                                    num_workers=config.train.num_workers)

    def make(epoch: int) -> Any:
        loader.sampler.set_epoch(epoch)
        return loader

    storage = "files decoded image by image in DataLoader workers" if hasattr(bundle.train, "paths") else \
        "in-memory arrays, image by image"
    return make, {"storage": storage, "recipe": p.recipe, "mean": list(p.mean), "std": list(p.std)}


def _samples(make: Callable[[int], Any], count: int) -> Iterator[list[Tensor]]:
    """The first `count` samples' views (each a list of (3,S,S) tensors) over epochs 0, 1, …"""
    given, epoch = 0, 0
    while given < count:
        batches = 0
        for views, _labels in make(epoch):
            batches += 1
            for i in range(views[0].shape[0]):
                yield [v[i] for v in views]
                given += 1
                if given == count:
                    return
        if batches == 0:
            raise PreviewError("the training split gives no batch (is it empty?)")
        epoch += 1


def preview(config: Config, count: int, out: str | Path, *, overwrite: bool = False) -> dict[str, Any]:
    """Write `count` samples' views as PNGs and `preview.json` into `out`; returns the record."""
    from ecl.data import build_datasets
    from ecl.engine.setup import resolve_device
    from ecl.engine.tensor_loader import choose_pipeline

    out = Path(out)
    _check_out(out, count, overwrite)
    if config.train.threads:
        torch.set_num_threads(config.train.threads)
    bundle = build_datasets(config.data)
    device = resolve_device(config.train.device)
    views = int(config.data.contrastive_views)
    path, reason = choose_pipeline(config, bundle, device)
    make, facts = _tensor_epochs(config, bundle, device, views) if path == "tensor" else _pil_epochs(config, bundle, views)
    out.mkdir(parents=True, exist_ok=True)
    for k, sample in enumerate(_samples(make, count)):
        pixels = unnormalise(torch.stack(sample), facts["mean"], facts["std"]).numpy()
        for v, image in enumerate(pixels):
            Image.fromarray(np.ascontiguousarray(image)).save(out / f"{k}-v{v}.png")
    record = {"dataset": config.data.name, "count": count, "views": 1 + views, "recipe": facts["recipe"],
              "data_path": path, "data_path_reason": reason, "storage": facts["storage"],
              "image_size": int(bundle.image_size), "seed": config.seed, "mean": facts["mean"],
              "std": facts["std"], "files": "<k>-v0.png classifier view, <k>-v1.png … contrastive views; "
              "RGB uint8 before normalisation"}
    atomic_write_json(out / PREVIEW_RECORD, record)
    return record


def format_record(record: dict[str, Any]) -> str:
    """One line for the terminal."""
    return json.dumps({k: record[k] for k in ("count", "data_path", "recipe", "image_size", "seed")})
