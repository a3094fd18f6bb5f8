"""Images/s of the batched tensor views against the per-image torchvision/timm path, CPU fp32.

    python benchmarks/batched_views_speed.py [--threads 1] [--repeats 5] [--device cpu]

Cases: (B=256, 32 px, bcl), (B=256, 32 px, authors), (B=32, 16 px from 8 px digits, small).
One "image" = one source image turned into its three views (1 classifier + 2 contrastive).
The per-image path is the same recipe written with torchvision.transforms.v2 on PIL images and
timm's RandAugment, one image at a time (what a DataLoader worker does), PIL conversion included.
Each figure is the best of `repeats` timed batches (shared machines are noisy). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch
from PIL import Image
from timm.data.auto_augment import rand_augment_transform
from torchvision.transforms import v2

from ecl.data.batched_views import BatchedViews

MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
CASES = [("bcl", 256, 32, 32), ("authors", 256, 32, 32), ("small", 32, 8, 16)]


def _tail(mean, std, erase: bool) -> list:
    ops = [v2.PILToTensor(), v2.ToDtype(torch.float32, scale=True)]
    if erase:
        ops.append(v2.RandomErasing(p=0.5, value=3.0))
    return ops + [v2.Normalize(list(mean), list(std))]


def per_image_views(recipe: str, size: int) -> list:
    """The recipe's [classifier, contrastive] per-image transforms (torchvision v2 + timm)."""
    fill = tuple(round(255 * m) for m in MEAN)
    simclr = [v2.RandomApply([v2.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8), v2.RandomGrayscale(0.2)]
    if recipe == "small":
        ra = rand_augment_transform("rand-n1-m5-mstd0.5", {"img_mean": fill, "translate_pct": 0.45})
        cls = [v2.Resize(size), v2.RandomAffine(10, (0.1, 0.1), (0.9, 1.1)), v2.ColorJitter(0.3, 0.3), ra]
        con = [v2.RandomResizedCrop(size, (0.5, 1.0), (0.8, 1.25)), v2.RandomAffine(10), *simclr]
        return [v2.Compose(cls + _tail(MEAN, STD, False)), v2.Compose(con + _tail(MEAN, STD, False))]
    ra = rand_augment_transform("rand-n2-m10-mstd0.5", {"img_mean": fill, "translate_pct": 0.45})
    crop = (lambda: v2.RandomCrop(size, padding=4)) if recipe == "bcl" else (lambda: v2.RandomResizedCrop(size))
    cls = [crop(), v2.RandomHorizontalFlip(), v2.ColorJitter(0.4, 0.4, 0.4, 0.0), ra]
    con = [crop(), v2.RandomHorizontalFlip(), *simclr]
    return [v2.Compose(cls + _tail(MEAN, STD, True)), v2.Compose(con + _tail(MEAN, STD, recipe == "authors"))]


def time_per_image(recipe: str, images: np.ndarray, size: int, repeats: int) -> float:
    cls, con = per_image_views(recipe, size)

    def run() -> None:
        for a in images:
            img = Image.fromarray(a)
            torch.stack([cls(img), con(img), con(img)])

    run()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - t)
    return len(images) / best


def time_batched(recipe: str, images: torch.Tensor, size: int, repeats: int) -> float:
    bv = BatchedViews(recipe, size, MEAN, STD, num_contrastive_views=2)
    g = torch.Generator().manual_seed(0)
    bv(images, g)
    best = float("inf")
    for _ in range(repeats):
        if images.device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        bv(images, g)
        if images.device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return images.shape[0] / best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    out = []
    for recipe, b, src, size in CASES:
        arr = rng.integers(0, 256, (b, src, src, 3), dtype=np.uint8)
        batch = torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous().to(args.device)
        batched = time_batched(recipe, batch, size, args.repeats)
        per_image = time_per_image(recipe, arr, size, max(2, args.repeats // 2))
        out.append(
            {"recipe": recipe, "batch": b, "source_px": src, "size": size, "batched_images_per_s": round(batched, 1),
             "per_image_images_per_s": round(per_image, 1), "speedup": round(batched / per_image, 2)}
        )
    print(json.dumps({"benchmark": "batched_views_speed", "device": args.device, "threads": args.threads,
                      "torch": torch.__version__, "machine": platform.machine(), "views_per_image": 3, "cases": out}))


if __name__ == "__main__":
    main()
