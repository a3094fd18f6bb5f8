"""Images/s of the real training loop against the model-only limit, in one process and one run.

    python benchmarks/throughput.py [--config FILE] [--json] [--epochs 2] [overrides...]

* train: the real loop (DataLoader, three views, full objective, optimizer step), i.e.
  `ecl.engine.epoch.train_one_epoch` on the run's loader (the run built by `ecl.engine.setup.build_run`);
* model-only: the same network, objective and optimizer on the same batches already in memory
  (forward + backward + step, no data loading or augmentation).

Prints {"train_images_per_s", "model_only_images_per_s", "ratio", ...}. Goal: ratio >= 0.9 on the
default config. Timings on shared machines are noisy: compare the two figures of one run.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time

import torch

from ecl.config import load_config
from ecl.data import build_datasets
from ecl.engine.epoch import train_one_epoch
from ecl.engine.setup import build_run


def synthetic_bundle(num_classes: int, per_class: int, image_size: int):
    """CIFAR-shaped random images (for a GPU check without the dataset)."""
    import numpy as np
    from ecl.data import ArrayDataset, DataBundle

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(num_classes * per_class, image_size, image_size, 3), dtype=np.uint8)
    labels = np.repeat(np.arange(num_classes), per_class)
    train = ArrayDataset(images, labels)
    counts = [per_class] * num_classes
    return DataBundle(train=train, test=train, val=None, classes=[str(c) for c in range(num_classes)],
                      train_counts=counts, test_counts=counts, val_counts=None, image_size=image_size,
                      style="cifar", mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25),
                      split_record={"synthetic": True}, notes=["synthetic"])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=None)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs of each kind (after one warm-up)")
    parser.add_argument("--synthetic", type=int, default=0, metavar="N",
                        help="use N random 32-px CIFAR-shaped images per class (100 classes) instead of the data")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args(argv)

    config = load_config(args.config, ["train.progress=false", *args.overrides])
    bundle = synthetic_bundle(100, args.synthetic, 32) if args.synthetic else build_datasets(config.data)
    config.train.max_nonfinite_steps = 10**9
    ctx = build_run(config, bundle)
    device, spec = ctx.device, ctx.spec

    def run(loader, epoch: int):
        if device.type == "cuda":
            torch.cuda.synchronize()
        result = train_one_epoch(ctx, loader, epoch)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return result

    run(ctx.train_loader(0), 0)  # warm-up (and first-epoch calibration)
    train_images = train_seconds = model_images = model_seconds = 0.0
    for epoch in range(1, args.epochs + 1):
        loader = ctx.train_loader(epoch)
        start = time.perf_counter()
        result = run(loader, epoch)
        train_seconds += time.perf_counter() - start
        train_images += result.images
        batches = list(ctx.train_loader(epoch))  # the same batches, in memory
        if device.type == "cuda":
            batches = [([v.to(device) for v in views] if isinstance(views, list) else views.to(device),
                        labels.to(device)) for views, labels in batches]
        start = time.perf_counter()
        result = run(batches, epoch)
        model_seconds += time.perf_counter() - start
        model_images += result.images
    train_rate = train_images / train_seconds
    model_rate = model_images / model_seconds
    report = {
        "train_images_per_s": round(train_rate, 1),
        "model_only_images_per_s": round(model_rate, 1),
        "ratio": round(train_rate / model_rate, 3),
        "config": args.config or "digits_lt",
        "dataset": "synthetic-cifar" if args.synthetic else config.data.name,
        "backbone": config.model.backbone,
        "batch_size": config.train.batch_size,
        "views": 1 + (config.data.contrastive_views if spec.contrastive else 0),
        "precision": config.train.precision,
        "num_workers": config.train.num_workers,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }
    print(json.dumps(report) if args.json else json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main(sys.argv[1:])
