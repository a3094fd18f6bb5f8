"""Images/s of the real training loop against the model-only limit, in one process and one run.

    python benchmarks/throughput.py [--config FILE] [--json] [--epochs 2] [overrides...]

* train: the real loop (DataLoader, three views, full objective, optimizer step), i.e.
  `ecl.engine.trainer.train_one_epoch` on the run's loader;
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
from ecl.engine.run import build_network, build_objective, make_train_loader, method_spec, resolve_device
from ecl.engine.seeding import derive_seed, seed_everything
from ecl.engine.trainer import train_one_epoch


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
    if config.train.threads:
        torch.set_num_threads(config.train.threads)
    device = resolve_device(config.train.device)
    bundle = synthetic_bundle(100, args.synthetic, 32) if args.synthetic else build_datasets(config.data)
    spec = method_spec(config)
    seed_everything(derive_seed(config.seed, "init"))
    network = build_network(config, len(bundle.classes)).to(device)
    if config.model.channels_last:
        network = network.to(memory_format=torch.channels_last)
    objective = build_objective(config, list(bundle.train_counts)).to(device)
    optimizer = torch.optim.SGD(network.parameters(), lr=config.train.lr, momentum=config.train.momentum,
                                weight_decay=config.train.weight_decay)
    model = torch.compile(network) if config.train.compile else network
    scaler = torch.amp.GradScaler(device.type) if config.train.precision == "fp16" else None

    def run(loader, epoch: int):
        if device.type == "cuda":
            torch.cuda.synchronize()
        result = train_one_epoch(model, network, objective, loader, optimizer, epoch=epoch,
                                 epochs=config.train.epochs, base_lr=config.train.lr, device=device,
                                 precision=config.train.precision, scaler=scaler,
                                 channels_last=config.model.channels_last, max_nonfinite_steps=10**9)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return result

    run(make_train_loader(config, bundle, spec, 0), 0)  # warm-up (and first-epoch calibration)
    train_images = train_seconds = model_images = model_seconds = 0.0
    for epoch in range(1, args.epochs + 1):
        loader = make_train_loader(config, bundle, spec, epoch)
        start = time.perf_counter()
        result = run(loader, epoch)
        train_seconds += time.perf_counter() - start
        train_images += result.images
        batches = list(make_train_loader(config, bundle, spec, epoch))  # the same batches, in memory
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
