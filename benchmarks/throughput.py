"""Images/s of the real training loop against the model-only limit, on both data paths, and of
the evaluation pass — in one process, interleaved, so the figures share the machine's load.

    python benchmarks/throughput.py [--config FILE] [--json] [--rounds 3] [--synthetic N] [overrides...]

* train: the real loop (loader, three views, full objective, optimizer step), i.e.
  `ecl.engine.training.epoch.train_one_epoch` on the run's loader, for each data path (`tensor`: batched views
  from one uint8 tensor on the device; `pil`: per-image transforms in the DataLoader);
* model-only: the same network, objective and optimizer on batches already in memory on the
  device (forward + backward + step, no data loading or augmentation);
* eval: `ecl.engine.training.epoch.evaluate` over the test set on each path.

Each round times one epoch of every kind in turn (tensor train, model-only, pil train, evals);
a path's ratio is its train rate ÷ the model-only rate of the same round. Reported: the median
and best ratio over rounds, and rates from the summed images and seconds. The headline
`ratio` / `train_images_per_s` are those of `data.pipeline` (auto: whatever auto picks).
Goal: ratio ≥ 0.9 with the tensor path on the default config (and on --synthetic ResNet-32).

`host_syncs_per_step`: reads of tensor values back to the host (benchmarks/host_syncs.py) made by
the timed training epochs of the headline path, per step — the steps and the epoch's end-of-epoch
read-back, not the loader's own reads while it makes a batch (`loader_host_reads_per_step`: on a CPU
run the batched views ask a few free CPU-side questions that they skip on a GPU). Goal ≤ 0.1.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from host_syncs import HostSyncCounter  # noqa: E402

from ecl.config import load_config
from ecl.data import build_datasets
from ecl.engine.training.epoch import evaluate, train_one_epoch
from ecl.engine.training.context import build_run


def synthetic_bundle(num_classes: int, per_class: int, image_size: int, *, seed: int = 0):
    """CIFAR-shaped random images (for a check without the dataset); the test set is the train set."""
    import numpy as np
    from ecl.data import ArrayDataset, DataBundle

    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(num_classes * per_class, image_size, image_size, 3), dtype=np.uint8)
    labels = np.repeat(np.arange(num_classes), per_class)
    train = ArrayDataset(images, labels)
    counts = [per_class] * num_classes
    return DataBundle(train=train, test=train, val=None, classes=[str(c) for c in range(num_classes)],
                      train_counts=counts, test_counts=counts, val_counts=None, image_size=image_size,
                      recipe="bcl", mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25),
                      split_record={"synthetic": True}, notes=["synthetic"])


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn, device: torch.device) -> tuple[Any, float]:
    _sync(device)
    start = time.perf_counter()
    out = fn()
    _sync(device)
    return out, time.perf_counter() - start


def _in_memory(ctx, epoch: int) -> list:
    """The epoch's batches, made once and held on the device (the model-only input)."""
    dev = ctx.device
    return [(views.to(dev), labels.to(dev)) for views, labels in ctx.loader.train_epoch(epoch)]


class _CountedLoader:
    """`loader` whose batch-making is left out of `counter` (the loader's reads are tallied apart)."""

    def __init__(self, loader, counter: HostSyncCounter) -> None:
        self.loader, self.counter, self.loader_reads = loader, counter, 0

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        iterator = iter(self.loader)
        while True:
            before = self.counter.total
            try:
                item = next(iterator)
            except StopIteration:
                return
            finally:
                self.loader_reads += self.counter.total - before
            yield item


class _Syncs:
    """Host reads of the counted training epochs: all of train_one_epoch's, and the loader's share."""

    def __init__(self) -> None:
        self.reads = self.loader_reads = self.steps = 0

    def epoch(self, ctx, epoch: int):
        with HostSyncCounter() as counter:
            loader = _CountedLoader(ctx.loader.train_epoch(epoch), counter)
            result = train_one_epoch(ctx, loader, epoch)
        self.reads += counter.total - loader.loader_reads
        self.loader_reads += loader.loader_reads
        self.steps += result.steps + result.nonfinite_steps
        return result

    def report(self) -> dict[str, float]:
        steps = max(self.steps, 1)
        return {"host_syncs_per_step": round(self.reads / steps, 4),
                "loader_host_reads_per_step": round(self.loader_reads / steps, 4)}


class _Tally:
    def __init__(self) -> None:
        self.images = 0.0
        self.seconds = 0.0
        self.rates: list[float] = []

    def add(self, images: float, seconds: float) -> None:
        self.images += images
        self.seconds += seconds
        self.rates.append(images / seconds)

    @property
    def rate(self) -> float:
        return self.images / self.seconds if self.seconds else float("nan")


def measure(config, bundle, paths: list[str], rounds: int) -> dict[str, Any]:
    """{path: {train, eval tallies}, "model": tally} over `rounds` interleaved rounds (+1 warm-up)."""
    contexts = {}
    for path in paths:
        config.data.pipeline = path
        contexts[path] = build_run(config, bundle)
    tallies = {p: {"train": _Tally(), "eval": _Tally()} for p in paths}
    model = _Tally()
    first, syncs = contexts[paths[0]], _Syncs()
    for epoch in range(rounds + 1):
        for path, ctx in contexts.items():
            if ctx is first and epoch:  # the headline path's timed epochs, with their host reads counted
                result, seconds = _timed(lambda: syncs.epoch(ctx, epoch), ctx.device)
            else:
                result, seconds = _timed(lambda: train_one_epoch(ctx, ctx.loader.train_epoch(epoch), epoch), ctx.device)
            if epoch:
                tallies[path]["train"].add(result.images, seconds)
        batches = _in_memory(first, epoch)
        result, seconds = _timed(lambda: train_one_epoch(first, batches, epoch), first.device)
        if epoch:
            model.add(result.images, seconds)
        for path, ctx in contexts.items():
            out, seconds = _timed(lambda: evaluate(ctx, ctx.loader.eval_batches(bundle.test)), ctx.device)
            if epoch:
                tallies[path]["eval"].add(float(out.confusion.sum()), seconds)
    return {"paths": tallies, "model": model, "contexts": contexts, "syncs": syncs.report()}


def _path_report(t: dict[str, _Tally], model: _Tally) -> dict[str, float]:
    ratios = [a / b for a, b in zip(t["train"].rates, model.rates)]
    return {"train_images_per_s": round(t["train"].rate, 1), "ratio": round(t["train"].rate / model.rate, 3),
            "ratio_median": round(statistics.median(ratios), 3), "ratio_best": round(max(ratios), 3),
            "eval_images_per_s": round(t["eval"].rate, 1)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=None)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--rounds", "--epochs", type=int, default=3, help="timed rounds (after one warm-up)")
    parser.add_argument("--synthetic", type=int, default=0, metavar="N",
                        help="use N random 32-px CIFAR-shaped images per class (100 classes) instead of the data")
    parser.add_argument("--paths", default="tensor,pil", help="data paths to measure (comma-separated)")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args(argv)

    config = load_config(args.config, ["train.progress=false", *args.overrides])
    bundle = synthetic_bundle(100, args.synthetic, 32) if args.synthetic else build_datasets(config.data)
    config.train.max_nonfinite_steps = 10**9
    requested = config.data.pipeline
    if requested == "auto":
        from ecl.data.plan import resolve_data_plan
        from ecl.engine.training.context import resolve_device

        requested = resolve_data_plan(config, bundle, resolve_device(config.train.device)).pipeline
    paths = [p for p in args.paths.split(",") if p]
    paths = [requested] + [p for p in paths if p != requested]
    measured = measure(config, bundle, paths, args.rounds)
    model: _Tally = measured["model"]
    per_path = {p: _path_report(measured["paths"][p], model) for p in paths}
    ctx = measured["contexts"][requested]
    device = ctx.device
    report = {
        "pipeline": requested,
        "train_images_per_s": per_path[requested]["train_images_per_s"],
        "model_only_images_per_s": round(model.rate, 1),
        "ratio": per_path[requested]["ratio"],
        **measured["syncs"],
        "paths": per_path,
        "rounds": args.rounds,
        "config": args.config or "digits_lt",
        "dataset": "synthetic-cifar" if args.synthetic else config.data.name,
        "backbone": config.model.backbone,
        "batch_size": config.train.batch_size,
        "views": 1 + ctx.num_contrastive_views,
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
