"""One prepared GPU check of the data paths (≤ 8 minutes, no dataset needed), JSON result.

    python benchmarks/gpu_check.py [--out gpu_check.json] [--smoke]

Cases (each: per data path, train and model-only images/s over a fixed number of steps after a
warm-up, their ratio, peak GPU memory):
* imagenet: a generated folder of JPEGs of mixed sizes (benchmarks/data_paths.py's generator:
  shorter side 200–600 px, 3:4 to 16:9) at 224 px and ResNeXt-50 at batch 128 in bf16 +
  channels_last, on the three file-image paths: ``tensor`` (pixels: whole images decoded once),
  ``tensor-encoded`` (``data.storage=encoded``: JPEG bytes decoded per batch on the device, nvJPEG
  on CUDA; "unavailable" when this ecl has no ``data.storage`` key) and ``pil`` (DataLoader workers);
  plus nvJPEG alone (``torchvision.io.decode_jpeg`` of the folder's files on CUDA, images/s; CUDA only);
* host syncs: the reads of device values back to the host (``Tensor.item``, ``bool``/``float``/``int``
  of a tensor, ``tolist``, ``numpy``, device→CPU copies) per training step on the tensor path, counted
  by ``host_syncs.HostSyncCounter`` (on the CPU the same reads are counted; each is a synchronisation on CUDA);
* objective share: the objective's forward+backward against the full step of ResNeXt-50 at
  ImageNet-LT shape (B = 128, C = 1000, 3 views, bf16, channels_last; goal ≤ 3 %), the objective
  timed on the arguments it got in a real step;
* cifar: synthetic CIFAR-100-LT-shaped uint8 images (100 classes, IF 100: 10,847 images, 32 px),
  the cifar100_lt_r32 preset (ResNet-32, batch 256, 3 views) under variants — fp32 / bf16,
  channels_last off/on, torch.compile off/on — both paths for the plain variants.
Projections: the 200-epoch CIFAR-100-LT ResNet-32 preset (10,847 images × 200 epochs) at the
measured train rate of each variant, and one ImageNet-LT ResNeXt-50 epoch (115,846 images ÷ the
measured train images/s) per file-image path. The target to record against: 200 CIFAR epochs in
≤ 3 minutes (≥ 36,000 view-images/s) at ≥ 0.9 of model-only. `--smoke`: CPU, tiny sizes (C = 10,
small_cnn), < 1 minute (tests run it); the CUDA-only parts are recorded as skipped.
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

from data_paths import generate_folder, storage_key_exists
from host_syncs import HostSyncCounter

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


def measure_path(config: Any, bundle: Any, pipeline: str, steps: int, rounds: int,
                 storage: str | None = None) -> dict[str, Any]:
    """Train and model-only images/s (best of `rounds` after a warm-up), ratio, peak memory
    (`storage`: data.storage for the tensor path, when given)."""
    config.data.pipeline = pipeline
    if storage is not None:
        config.data.storage = storage
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
    out = {"pipeline": ctx.plan.pipeline, "storage": getattr(ctx.plan, "storage", None), "train_images_per_s": round(max(train), 1),
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


#: the file-image paths: name → (data.pipeline, data.storage; the latter set only where ecl has the key)
FILE_PATHS = {"tensor": ("tensor", "pixels"), "tensor-encoded": ("tensor", "encoded"), "pil": ("pil", "auto")}


def _imagenet_config(args: argparse.Namespace, device: str, root: Path, tmp: Path) -> Any:
    size = 32 if args.smoke else 224
    overrides = ["data.name=folder", f"data.root={root}", f"data.image_size={size}", f"data.cache_dir={tmp / 'cache'}",
                 f"train.device={device}", "train.progress=false", "data.verify_images=false",
                 f"train.batch_size={8 if args.smoke else 128}", f"train.num_workers={0 if args.smoke else 12}",
                 f"model.backbone={'small_cnn' if args.smoke else 'resnext50_32x4d'}",
                 f"train.precision={'fp32' if args.smoke else 'bf16'}", f"model.channels_last={str(not args.smoke).lower()}"]
    config = load_config(None, overrides)
    config.train.max_nonfinite_steps = 10**9
    return config


def imagenet_case(args: argparse.Namespace, device: str, tmp: Path) -> dict[str, Any]:
    """The three file-image paths (pixels / encoded / per-image) and nvJPEG alone, on a generated folder."""
    root = tmp / "jpegs"
    generate_folder(root, 24 if args.smoke else 640)
    config = _imagenet_config(args, device, root, tmp)
    bundle = build_datasets(config.data)
    storage_known = storage_key_exists()
    start = time.perf_counter()
    result: dict[str, Any] = {}
    for name, (pipeline, storage) in FILE_PATHS.items():
        if storage == "encoded" and not storage_known:
            result[name] = {"unavailable": "data.storage unknown"}
            continue
        result[name] = r = measure_path(config, bundle, pipeline, max(2, args.steps // 3), args.rounds,
                                        storage if storage_known else None)
        r["projected_imagenet_lt_epoch_min"] = round(IMAGENET_LT_IMAGES / r["train_images_per_s"] / 60, 2)
    result["seconds_incl_decode_cache"] = round(time.perf_counter() - start, 1)
    result["nvjpeg"] = nvjpeg_rate(bundle.train.paths, device)
    _log("imagenet: " + json.dumps(result))
    return result


def nvjpeg_rate(paths: list[Any], device: str, rounds: int = 3) -> dict[str, Any]:
    """Images/s of batched `torchvision.io.decode_jpeg` on CUDA (nvJPEG) over the files (best of
    `rounds` after a warm-up); skipped off CUDA."""
    if device != "cuda":
        return {"skipped": "CUDA only (nvJPEG)"}
    from torchvision.io import decode_jpeg, read_file

    data = [read_file(str(p)) for p in paths]
    best = 0.0
    for i in range(rounds + 1):
        torch.cuda.synchronize()
        start = time.perf_counter()
        decode_jpeg(data, device="cuda")
        torch.cuda.synchronize()
        if i:
            best = max(best, len(data) / (time.perf_counter() - start))
    return {"images": len(data), "images_per_s": round(best, 1)}


def host_syncs_case(args: argparse.Namespace, device: str) -> dict[str, Any]:
    """Host reads per training step of the tensor path (CIFAR-shaped, the preset's model), counted
    over one pass of `args.steps` steps after a warm-up pass."""
    bundle = cifar_lt_bundle(*(50, 10) if args.smoke else (500, 100))
    base = [f"train.device={device}", "train.progress=false", "data.pipeline=tensor", "train.precision=bf16"]
    config = load_config("cifar100_lt_r32", base + (["train.batch_size=16", "model.backbone=small_cnn"] if args.smoke else []))
    config.train.max_nonfinite_steps = 10**9
    ctx = build_run(config, bundle)
    train_one_epoch(ctx, _Steps(ctx.loader.train_epoch(0), args.steps), 0)
    loader = _Steps(ctx.loader.train_epoch(1), args.steps)
    with HostSyncCounter() as reads:
        train_one_epoch(ctx, loader, 1)
    return {"device": device, "steps": len(loader), "host_reads": reads.total,
            "host_syncs_per_step": round(reads.total / max(1, len(loader)), 3),
            "counted": "reads of device values on cuda (synchronisations)" if device == "cuda" else
                       "the same reads on the cpu (each would synchronise on cuda)", "goal_per_step": 0.1}


def _timed_s(fn: Any, device: torch.device, repeats: int) -> float:
    """Median seconds of `fn()` over `repeats` calls after one warm-up call."""
    times = []
    for i in range(repeats + 1):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        if i:
            times.append(time.perf_counter() - start)
    return float(np.median(times))


def objective_share_case(args: argparse.Namespace, device: str) -> dict[str, Any]:
    """The objective's forward+backward ÷ the full training step, ResNeXt-50 at ImageNet-LT shape
    (B = 128, C = 1000, 3 views at 224 px, bf16, channels_last; smoke: small_cnn, C = 10, 32 px)."""
    classes, size, batch = (10, 32, 8) if args.smoke else (1000, 224, 128)
    images = ArrayDataset(np.zeros((classes, size, size, 3), np.uint8), np.arange(classes))
    bundle = DataBundle(train=images, test=images, val=None, classes=[str(c) for c in range(classes)],
                        train_counts=[1] * classes, test_counts=[1] * classes, val_counts=None, image_size=size,
                        recipe="authors", mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
                        split_record={"synthetic": True})
    config = load_config("imagenet_lt_x50", [f"train.device={device}", "train.progress=false",
                                             f"train.batch_size={batch}", "data.pipeline=tensor",
                                             *(["model.backbone=small_cnn", "train.precision=fp32"] if args.smoke
                                               else ["model.channels_last=true"])])
    config.train.max_nonfinite_steps = 10**9
    ctx = build_run(config, bundle)
    gen = torch.Generator().manual_seed(0)
    steps = [(torch.randn(3 * batch, 3, size, size, generator=gen).to(ctx.device),
              torch.randint(0, classes, (batch,), generator=gen).to(ctx.device)) for _ in range(max(2, args.steps // 3))]
    captured: list[tuple] = []
    hook = ctx.objective.register_forward_pre_hook(lambda _m, a: captured.append(a) if not captured else None)
    train_one_epoch(ctx, steps, 0)  # warm-up, and the objective's arguments of a real step
    hook.remove()
    step_s = _timed_s(lambda: train_one_epoch(ctx, steps, 1), ctx.device, args.rounds) / len(steps)
    leaves = [a.detach().clone().requires_grad_(a.is_floating_point()) if isinstance(a, torch.Tensor) else a
              for a in captured[0]]
    objective_s = _timed_s(lambda: ctx.objective(*leaves).total.backward(), ctx.device, 3 * args.rounds)
    share = objective_s / step_s
    return {"backbone": config.model.backbone, "B": batch, "C": classes, "image_size": size, "views": 3,
            "precision": config.train.precision, "channels_last": bool(config.model.channels_last),
            "step_ms": round(1e3 * step_s, 2), "objective_ms": round(1e3 * objective_s, 3),
            "share_percent": round(100 * share, 2), "goal_percent": 3.0,
            "passed": None if args.smoke else share <= 0.03}


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
        report["host_syncs"] = host_syncs_case(args, device)
        save()
        report["objective_share_resnext50"] = objective_share_case(args, device)
        _log("objective share: " + json.dumps(report["objective_share_resnext50"]))
        save()
        report["cifar100_lt_resnet32"] = {}
        cifar_case(args, device, started + args.budget_s, report["cifar100_lt_resnet32"], save)
    save()
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main(sys.argv[1:])
