"""`ecl data preview`: the training views a run would make, written as PNGs (what the network sees).

`preview(config, count, out)` resolves the run's data plan (`ecl.data.plan.resolve_data_plan`) and
builds its training loader through the one loading interface (`ecl.data.loading.build_loader`:
the tensor path or the per-image DataLoader, as a run does), takes the first `count` samples of epochs 0, 1, … and
writes, for sample k, `k-v0.png` (classifier view) and `k-v1.png`, `k-v2.png`, … (the contrastive
views): RGB uint8 at the training size S, un-normalised (x·std + mean, ×255, rounded, clipped —
RandomErasing's bright patches clip to white). `preview.json` records the plan's recipe, data path
and why, the storage (pixels | encoded | per-image) and why, how the images are held
(`stored_as`), the image size, the seed and the normalisation. The same config and seed
give the same files. An existing non-empty `out` is refused unless `overwrite`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from ecl.atomic import atomic_write_json
from ecl.config import Config

if TYPE_CHECKING:
    from ecl.data.plan import DataPlan

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


def _storage(plan: DataPlan, loader: Any, bundle: Any) -> str:
    """How the loader holds the training images, in words."""
    images = getattr(getattr(loader, "data", None), "train_images", None)
    if images is None:  # the per-image path
        return "files decoded image by image in DataLoader workers" if hasattr(bundle.train, "paths") else \
            "in-memory arrays, image by image"
    from ecl.data.encoded import EncodedImages
    from ecl.data.ragged import LONG_SIDE_CAP, RaggedImages

    if isinstance(images, EncodedImages):
        return (f"the files' bytes ({images.nbytes / 2**20:.1f} MiB, {int(images.jpeg.sum())} JPEG), decoded per "
                f"batch at full size on {images.device.type}, views cut from each whole image")
    if isinstance(images, RaggedImages):
        short = int(images.shapes.min()) if len(images) else 0
        return (f"whole images, aspect kept (ragged uint8, {images.nbytes / 2**20:.1f} MiB): shorter side "
                f"{plan.stored_size} (the eval resize), longer side ≤ {LONG_SIDE_CAP:g}× it (smallest stored side {short})")
    return f"uint8 tensor {tuple(images.shape)} as held"


def _samples(loader: Any, count: int) -> Iterator[list[Tensor]]:
    """The first `count` samples' views (each a list of (3,S,S) tensors) over epochs 0, 1, …
    (a batch is ((1+V)·B,3,S,S): the B classifier views, then each contrastive view)."""
    given, epoch = 0, 0
    while given < count:
        batches = 0
        for views, labels in loader.train_epoch(epoch):
            batches += 1
            b = labels.shape[0]
            for i in range(b):
                yield [views[v * b + i] for v in range(views.shape[0] // b)]
                given += 1
                if given == count:
                    return
        if batches == 0:
            raise PreviewError("the training split gives no batch (is it empty?)")
        epoch += 1


def preview(config: Config, count: int, out: str | Path, *, overwrite: bool = False) -> dict[str, Any]:
    """Write `count` samples' views as PNGs and `preview.json` into `out`; returns the record."""
    from ecl.data import build_datasets
    from ecl.data.loading import LoaderSettings, build_loader
    from ecl.data.plan import resolve_data_plan
    from ecl.engine.training.context import resolve_device

    out = Path(out)
    _check_out(out, count, overwrite)
    if config.train.threads:
        torch.set_num_threads(config.train.threads)
    bundle = build_datasets(config.data)
    device = resolve_device(config.train.device)
    views = int(config.data.contrastive_views)
    plan = resolve_data_plan(config, bundle, device)
    settings = LoaderSettings(seed=config.seed, batch_size=max(1, config.train.batch_size),
                              eval_batch_size=config.eval.batch_size, num_workers=config.train.num_workers,
                              num_contrastive_views=views, cache_dir=config.data.cache_dir)
    loader = build_loader(plan, bundle, settings, device)
    mean, std = [round(float(v), 6) for v in plan.mean], [round(float(v), 6) for v in plan.std]
    out.mkdir(parents=True, exist_ok=True)
    for k, sample in enumerate(_samples(loader, count)):
        pixels = unnormalise(torch.stack(sample), mean, std).numpy()
        for v, image in enumerate(pixels):
            Image.fromarray(np.ascontiguousarray(image)).save(out / f"{k}-v{v}.png")
    record = {"dataset": config.data.name, "count": count, "views": 1 + views, "recipe": plan.recipe,
              "data_path": plan.pipeline, "data_path_reason": plan.pipeline_reason,
              "storage": plan.storage, "storage_reason": plan.storage_reason,
              "stored_as": _storage(plan, loader, bundle), "image_size": plan.image_size, "seed": config.seed,
              "mean": mean, "std": std, "files": "<k>-v0.png classifier view, <k>-v1.png … contrastive views; "
              "RGB uint8 before normalisation"}
    atomic_write_json(out / PREVIEW_RECORD, record)
    return record


def format_record(record: dict[str, Any]) -> str:
    """One line for the terminal."""
    return json.dumps({k: record[k] for k in ("count", "data_path", "storage", "recipe", "image_size", "seed")})
