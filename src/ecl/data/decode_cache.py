"""One-time decode cache of image files for the tensor data path (README, "Data path").

Two layouts, each decoded once per file (JPEGs at reduced size with Pillow's draft) and stored
as one file:
- square (`cached_uint8_tensor(dataset, R, cache_dir, crop=C)` → (N,3,C,C) uint8): shorter side
  resized to R (antialiased), centre crop C×C (default R) — torchvision's Resize(R) +
  CenterCrop(C) on the PIL image, as the per-image path's evaluation view makes it. One .npy.
- ragged (`cached_ragged(dataset, R, cache_dir)` → RaggedImages): the whole image, aspect kept,
  scaled to shorter side R with the longer side capped at 2R, never enlarged
  (`ragged.stored_shape`; at most 3·R·2R bytes per image) — the training images, from which the
  RandomResizedCrop views are cut. One .npz holding `pixels` (T,) uint8 and `shapes` (N,2).
  Building holds the decoded images and the joined buffer at once (2× the stored bytes, once).

Where: `cache_dir` (config `data.cache_dir`), else `$ECL_CACHE_DIR`, else `~/.cache/ecl`. Names:
`decode-<hash of the file list and the layout>.npy|.npz` and its `.json` record. The record holds
the key: a hash of every path, file size and mtime (ns), the layout's parameters and the cache
format version. A record whose key differs from the files' present one is stale: the cache is
rebuilt (with a message on stderr), never used. Both files are written atomically (temporary
file, fsync, rename), the array first and the record last, so a crash leaves either a usable
pair or a refused one.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2

from ecl.atomic import atomic_write_json, atomic_write_path
from ecl.data.errors import DataError
from ecl.data.images import decode_image
from ecl.data.ragged import LONG_SIDE_CAP, RaggedImages, stored_shape

__all__ = ["CACHE_VERSION", "cache_root", "cache_key", "cache_paths", "square_layout", "ragged_layout",
           "cached_uint8_tensor", "cached_ragged"]

CACHE_VERSION = 2  # 2: layouts (square with its crop, ragged whole images)
_BATCH = 64  # images decoded per DataLoader batch while building


def cache_root(cache_dir: str | None = None) -> Path:
    """The cache folder: `cache_dir`, else `$ECL_CACHE_DIR`, else `~/.cache/ecl`."""
    chosen = cache_dir or os.environ.get("ECL_CACHE_DIR") or "~/.cache/ecl"
    return Path(chosen).expanduser()


def _digest(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, separators=(",", ":")).encode("utf-8")).hexdigest()


def square_layout(size: int, crop: int | None = None) -> dict[str, Any]:
    """Resize(size) + CenterCrop(crop or size): (N,3,crop,crop) uint8."""
    return {"layout": "square", "resize": int(size), "crop": int(crop or size)}


def ragged_layout(short: int, cap: float = LONG_SIDE_CAP) -> dict[str, Any]:
    """Whole images, aspect kept, shorter side ≤ short, longer side ≤ cap·short: RaggedImages."""
    return {"layout": "ragged", "short": int(short), "cap": float(cap)}


def cache_key(paths: list[str], layout: dict[str, Any]) -> str:
    """Hash of (path, byte size, mtime in ns) of every file, the layout and the format version.

    DataError naming the file when one cannot be stat'ed."""
    stats = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError as exc:
            raise DataError(f"{path}: cannot read for the decode cache ({exc.strerror or exc})") from None
        stats.append([path, st.st_size, st.st_mtime_ns])
    return _digest({"version": CACHE_VERSION, "layout": layout, "files": stats})


def cache_paths(paths: list[str], layout: dict[str, Any], cache_dir: str | None = None) -> tuple[Path, Path]:
    """(array file, record file) of a file list in a layout (named by the list and layout, not the stats)."""
    name = "decode-" + _digest({"layout": layout, "paths": list(paths)})[:24]
    root = cache_root(cache_dir)
    suffix = ".npz" if layout["layout"] == "ragged" else ".npy"
    return root / f"{name}{suffix}", root / f"{name}.json"


class _Decoded(Dataset):
    """Item i → (3,h,w) uint8 tensor of file i: draft-decoded to `target`, then `fit` (PIL → PIL)."""

    def __init__(self, paths: list[str], sources: list[str], fit: Callable[[Image.Image], Image.Image],
                 target: int) -> None:
        self.paths, self.sources, self.fit, self.target = paths, sources, fit, target

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> Tensor:
        img = self.fit(decode_image(self.paths[index], self.sources[index] or None, target=self.target))
        return torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()).permute(2, 0, 1).contiguous()


class _FitWhole:
    """PIL image → the same image at `ragged.stored_shape` (antialiased bilinear; aspect kept)."""

    def __init__(self, short: int, cap: float) -> None:
        self.short, self.cap = short, cap

    def __call__(self, img: Image.Image) -> Image.Image:
        h, w = stored_shape(img.height, img.width, self.short, self.cap)
        return img if (h, w) == (img.height, img.width) else v2.functional.resize(img, [h, w], antialias=True)


def _as_list(batch: list[Tensor]) -> list[Tensor]:
    return batch


def _decoded(dataset: Any, layout: dict[str, Any], workers: int, target: int | None) -> DataLoader:
    """A DataLoader of lists of (3,h,w) uint8 images in the layout's fit, decoded by `workers`."""
    if layout["layout"] == "ragged":
        fit: Callable = _FitWhole(layout["short"], layout["cap"])
        draft = layout["short"]
    else:
        fit = v2.Compose([v2.Resize(layout["resize"], antialias=True), v2.CenterCrop(layout["crop"])])
        draft = layout["resize"]
    items = _Decoded(dataset.paths, dataset.sources, fit, int(target or draft))
    return DataLoader(items, batch_size=_BATCH, num_workers=workers, collate_fn=_as_list)


def _build(dataset: Any, layout: dict[str, Any], workers: int, target: int | None) -> dict[str, np.ndarray]:
    """The arrays of the layout: {"images": (N,3,C,C)} (square) or {"pixels", "shapes"} (ragged)."""
    images = [x for batch in _decoded(dataset, layout, workers, target) for x in batch]
    if layout["layout"] == "ragged":
        ragged = RaggedImages.from_images(images)
        return {"pixels": ragged.pixels.numpy(), "shapes": ragged.shapes.numpy()}
    crop = layout["crop"]
    out = np.empty((len(images), 3, crop, crop), dtype=np.uint8)
    for i, x in enumerate(images):
        out[i] = x.numpy()
    return {"images": out}


def _valid(arrays: dict[str, np.ndarray], layout: dict[str, Any], count: int) -> bool:
    """The loaded arrays have the layout's dtype and shapes for `count` images."""
    if layout["layout"] == "square":
        crop = layout["crop"]
        images = arrays.get("images")
        return images is not None and images.shape == (count, 3, crop, crop) and images.dtype == np.uint8
    pixels, shapes = arrays.get("pixels"), arrays.get("shapes")
    if pixels is None or shapes is None or shapes.shape != (count, 2) or pixels.dtype != np.uint8:
        return False
    return pixels.ndim == 1 and int(pixels.size) == int(3 * (shapes[:, 0] * shapes[:, 1]).sum())


def _load(array_path: Path, record_path: Path, key: str, layout: dict[str, Any],
          count: int) -> dict[str, np.ndarray] | None:
    """The cached arrays when the record matches `key` and the layout's shapes; None otherwise."""
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if record.get("key") != key:
        print(f"decode cache {array_path} is stale (image files changed): rebuilding", file=sys.stderr, flush=True)
        return None
    try:
        if layout["layout"] == "ragged":
            with np.load(array_path, allow_pickle=False) as npz:
                arrays = {name: npz[name] for name in npz.files}
        else:
            arrays = {"images": np.load(array_path, allow_pickle=False)}
    except (OSError, ValueError, KeyError):
        return None
    return arrays if _valid(arrays, layout, count) else None


def _cached(dataset: Any, layout: dict[str, Any], cache_dir: str | None, workers: int,
            target: int | None) -> dict[str, np.ndarray]:
    """The layout's arrays of an ImageFileDataset: loaded from the cache, else built and saved."""
    paths = list(dataset.paths)
    key = cache_key(paths, layout)
    array_path, record_path = cache_paths(paths, layout, cache_dir)
    arrays = _load(array_path, record_path, key, layout, len(paths))
    if arrays is None:
        arrays = _build(dataset, layout, workers, target)
        atomic_write_path(array_path, lambda tmp: _save(tmp, arrays))
        atomic_write_json(record_path, {"key": key, "count": len(paths), **layout, "version": CACHE_VERSION})
    return arrays


def cached_uint8_tensor(dataset: Any, size: int, cache_dir: str | None = None, workers: int = 0, *,
                        crop: int | None = None, draft: int | None = None) -> tuple[Tensor, Tensor]:
    """(images (N,3,C,C) uint8, labels (N,) int64) of an ImageFileDataset, through the cache:
    Resize(size) + CenterCrop(crop or size); JPEGs drafted for `draft` (default `size`)."""
    arrays = _cached(dataset, square_layout(size, crop), cache_dir, workers, draft)
    return torch.from_numpy(arrays["images"]), torch.tensor(list(dataset.labels), dtype=torch.int64)


def cached_ragged(dataset: Any, short: int, cache_dir: str | None = None,
                  workers: int = 0) -> tuple[RaggedImages, Tensor]:
    """(whole images as RaggedImages, labels (N,) int64) of an ImageFileDataset, through the cache."""
    arrays = _cached(dataset, ragged_layout(short), cache_dir, workers, None)
    shapes = torch.from_numpy(arrays["shapes"]).long()
    sizes = 3 * shapes[:, 0] * shapes[:, 1]
    ragged = RaggedImages(torch.from_numpy(arrays["pixels"]), torch.cumsum(sizes, 0) - sizes, shapes)
    return ragged, torch.tensor(list(dataset.labels), dtype=torch.int64)


def _save(tmp: str, arrays: dict[str, np.ndarray]) -> None:
    with open(tmp, "wb") as handle:  # np.save(name) would append ".npy" to the temporary name
        if set(arrays) == {"images"}:
            np.save(handle, arrays["images"], allow_pickle=False)
        else:
            np.savez(handle, **arrays)
