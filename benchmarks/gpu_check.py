"""One prepared GPU check of the data paths (≤ 8 minutes, no dataset needed), JSON result.

    python benchmarks/gpu_check.py [--out gpu_check.json] [--smoke]

Cases (each: per data path, train and model-only images/s over a fixed number of steps after a
warm-up, their ratio, peak GPU memory):
* cifar: synthetic CIFAR-100-LT-shaped uint8 images (100 classes, IF 100: 10,847 images, 32 px),
  the cifar100_lt_r32 preset (ResNet-32, batch 256, 3 views) under variants — fp32 / bf16,
  channels_last off/on, torch.compile off/on — both paths for the plain variants;
* imagenet: a generated folder of JPEGs (~300×400 px, decoded to 224 px) and ResNeXt-50 at batch
  128 in bf16 + channels_last, on the tensor path (through the decode cache) and the pil path
  (DataLoader workers, draft decoding).
Projections: the 200-epoch CIFAR-100-LT ResNet-32 preset (10,847 images × 200 epochs) at the
measured train rate of each variant, and one ImageNet-LT ResNeXt-50 epoch (115,846 images). The
target to record against: 200 CIFAR epochs in ≤ 3 minutes (≥ 36,000 view-images/s) at ≥ 0.9 of
model-only. `--smoke`: CPU, tiny sizes, < 1 minute (tests run it).
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ecl.config import load_config
from ecl.data import ArrayDataset, DataBundle, build_datasets, long_tail_counts
from ecl.engine.training.epoch import train_one_epoch
from ecl.engine.training.context import build_run

CIFAR_LT_IMAGES, CIFAR_EPOCHS, IMAGENET_LT_IMAGES = 10_847, 200, 115_846
VARIANTS = {  # name → overrides (on top of the preset); both paths for those marked True
    "fp32": (["train.precision=fp32"], True),
    "bf16": (["train.precision=bf16"], True),
    "bf16+channels_last": (["train.precision=bf16", "model.channels_last=true"], False),
    "bf16+compile": (["train.precision=bf16", "train.compile=true"], False),
    "bf16+channels_last+compile": (["train.precision=bf16", "model.channels_last=true", "train.compile=true"], False),
}


class _Steps:
    """The first `steps` items of an epoch's loader (len() = steps, for the lr schedule)."""

    def __init__(self, loader: Any, steps: int) -> None:
        self.loader, self.steps = loader, min(steps, len(loader))
        if hasattr(loader, "chunk"):  # tensor path: make views for the timed steps only
            loader.steps = self.steps

    def __len__(self) -> int:
        return self.steps

    def __iter__(self):
        return itertools.islice(iter(self.loader), self.steps)


def cifar_lt_bundle(per_class_max: int, imbalance: float, size: int = 32) -> DataBundle:
    """Random uint8 images with CIFAR-100-LT's class counts (exp profile); test = 10 per class."""
    counts = long_tail_counts(per_class_max, 100, imbalance, "exp")
    rng = np.random.default_rng(0)
    n = int(sum(counts))
    train = ArrayDataset(rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8), np.repeat(np.arange(100), counts))
    test = ArrayDataset(rng.integers(0, 256, (1000, size, size, 3), dtype=np.uint8), np.repeat(np.arange(100), 10))
    return DataBundle(train=train, test=test, val=None, classes=[str(c) for c in range(100)],
                      train_counts=list(counts), test_counts=[10] * 100, val_counts=None, image_size=size,
                      recipe="bcl", mean=(0.507, 0.487, 0.441), std=(0.267, 0.256, 0.276),
                      split_record={"synthetic": True})


def jpeg_folder(root: Path, classes: int, per_class: int, shape: tuple[int, int]) -> Path:
    """A folder dataset train/<class>/*.jpg and test/<class>/*.jpg of smooth random images."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, n in (("train", per_class), ("test", max(1, per_class // 4))):
        for c in range(classes):
            folder = root / split / f"class{c:03d}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                small = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
                Image.fromarray(small).resize((shape[1], shape[0]), Image.BILINEAR).save(folder / f"{i}.jpg", quality=90)
    return root


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _rate(ctx: Any, loader: Any, epoch: int) -> float:
    """Images/s of one timed pass of train_one_epoch over `loader`."""
    _sync(ctx.device)
    start = time.perf_counter()
    result = train_one_epoch(ctx, loader, epoch)
    _sync(ctx.device)
    return result.images / (time.perf_counter() - start)


def measure_path(config: Any, bundle: Any, pipeline: str, steps: int, rounds: int) -> dict[str, Any]:
    """Train and model-only images/s (best of `rounds` after a warm-up), ratio, peak memory."""
    config.data.pipeline = pipeline
    ctx = build_run(config, bundle)
    if ctx.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(ctx.device)
    train, model = [], []
    for epoch in range(rounds + 1):
        rate = _rate(ctx, _Steps(ctx.loader.train_epoch(epoch), steps), epoch)
        batches = [(views.to(ctx.device), labels.to(ctx.device))
                   for views, labels in _Steps(ctx.loader.train_epoch(epoch), steps)]
        model_rate = _rate(ctx, batches, epoch)
        if epoch:
            train.append(rate)
            model.append(model_rate)
    peak = torch.cuda.max_memory_allocated(ctx.device) / 2**30 if ctx.device.type == "cuda" else None
    out = {"pipeline": ctx.plan.pipeline, "train_images_per_s": round(max(train), 1),
           "model_only_images_per_s": round(max(model), 1), "ratio": round(max(train) / max(model), 3),
           "ratios": [round(a / b, 3) for a, b in zip(train, model)], "peak_gpu_gib": peak,
           "views": 1 + ctx.num_contrastive_views}
    del ctx
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return out


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def cifar_case(args: argparse.Namespace, device: str, deadline: float, out: dict[str, Any],
               save: Any = lambda: None) -> dict[str, Any]:
    """Fills `out` variant by variant (calling `save` after each)."""
    bundle = cifar_lt_bundle(*(50, 10) if args.smoke else (500, 100))
    base = [f"train.device={device}", "train.progress=false", f"train.num_workers={0 if args.smoke else 8}"]
    if args.smoke:
        base += ["train.batch_size=16", "model.backbone=small_cnn"]
    out.update({"images": len(bundle.train), "variants": {}})
    for name, (overrides, both) in VARIANTS.items():
        if args.smoke and "compile" in name:
            continue
        if time.monotonic() > deadline:
            out["variants"][name] = {"skipped": "time budget spent"}
            continue
        config = load_config("cifar100_lt_r32", base + overrides)
        config.train.max_nonfinite_steps = 10**9
        result = {p: measure_path(config, bundle, p, args.steps, args.rounds) for p in (["tensor", "pil"] if both else ["tensor"])}
        for r in result.values():
            r["projected_200_epochs_min"] = round(CIFAR_LT_IMAGES * CIFAR_EPOCHS / r["train_images_per_s"] / 60, 2)
            r["view_images_per_s"] = round(r["train_images_per_s"] * r["views"], 1)
        out["variants"][name] = result
        _log(f"cifar {name}: " + json.dumps(result))
        save()
    return out


def imagenet_case(args: argparse.Namespace, device: str, tmp: Path) -> dict[str, Any]:
    classes, per_class, shape = (4, 8, (60, 80)) if args.smoke else (10, 64, (300, 400))
    root = jpeg_folder(tmp / "jpegs", classes, per_class, shape)
    size = 32 if args.smoke else 224
    overrides = ["data.name=folder", f"data.root={root}", f"data.image_size={size}", f"data.cache_dir={tmp / 'cache'}",
                 f"train.device={device}", "train.progress=false", "data.verify_images=false",
                 f"train.batch_size={8 if args.smoke else 128}", f"train.num_workers={0 if args.smoke else 12}",
                 f"model.backbone={'small_cnn' if args.smoke else 'resnext50_32x4d'}",
                 f"train.precision={'fp32' if args.smoke else 'bf16'}", f"model.channels_last={str(not args.smoke).lower()}"]
    config = load_config(None, overrides)
    config.train.max_nonfinite_steps = 10**9
    bundle = build_datasets(config.data)
    start = time.perf_counter()
    result = {p: measure_path(config, bundle, p, max(2, args.steps // 3), args.rounds) for p in ("tensor", "pil")}
    for r in result.values():
        r["projected_imagenet_lt_epoch_min"] = round(IMAGENET_LT_IMAGES / r["train_images_per_s"] / 60, 2)
    result["seconds_incl_decode_cache"] = round(time.perf_counter() - start, 1)
    _log("imagenet: " + json.dumps(result))
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="gpu_check.json")
    parser.add_argument("--smoke", action="store_true", help="CPU, tiny sizes, < 1 minute")
    parser.add_argument("--steps", type=int, default=30, help="timed steps per pass")
    parser.add_argument("--rounds", type=int, default=2, help="timed passes after a warm-up")
    parser.add_argument("--budget-s", type=float, default=420, help="skip remaining CIFAR variants after this")
    args = parser.parse_args(argv)
    if args.smoke:
        args.steps, args.rounds = min(args.steps, 3), 1
    device = "cpu" if args.smoke or not torch.cuda.is_available() else "cuda"
    started = time.monotonic()
    report: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "smoke": args.smoke,
                              "device": torch.cuda.get_device_name(0) if device == "cuda" else platform.processor() or "cpu",
                              "torch": torch.__version__, "steps": args.steps, "rounds": args.rounds}
    report["target"] = {"cifar_200_epochs_min": 3.0, "view_images_per_s": 36_000, "ratio": 0.9}

    def save() -> None:  # after every case: a timeout still leaves the figures taken so far
        report["seconds"] = round(time.monotonic() - started, 1)
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")

    with tempfile.TemporaryDirectory(prefix="ecl-gpu-check-") as tmp:
        report["imagenet_lt_resnext50"] = imagenet_case(args, device, Path(tmp))
        save()
        report["cifar100_lt_resnet32"] = {}
        cifar_case(args, device, started + args.budget_s, report["cifar100_lt_resnet32"], save)
    save()
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main(sys.argv[1:])
