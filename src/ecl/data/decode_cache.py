"""One-time decode cache of image files for the tensor data path (README, "Data path").

`cached_uint8_tensor(dataset, size, cache_dir)` → (images (N,3,R,R) uint8, labels (N,) int64):
each file decoded once (JPEGs at reduced size with Pillow's draft), its shorter side resized to
R (antialiased) and centre-cropped to R×R — torchvision's Resize(R) + CenterCrop(R) on the PIL
image, as the per-image path does — and all of them stored as ONE .npy file.

Where: `cache_dir` (config `data.cache_dir`), else `$ECL_CACHE_DIR`, else `~/.cache/ecl`. Names:
`decode-<hash of the file list and R>.npy` and its `.json` record. The record holds the key:
a hash of every path, file size and mtime (ns), R and the cache format version. A record whose
key differs from the files' present one is stale: the cache is rebuilt (with a message on
stderr), never used. Both files are written atomically (temporary file, fsync, rename), the
array first and the record last, so a crash leaves either a usable pair or a refused one.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2

from ecl.atomic import atomic_write_json, atomic_write_path
from ecl.data.errors import DataError
from ecl.data.images import decode_image

__all__ = ["CACHE_VERSION", "cache_root", "cache_key", "cache_paths", "cached_uint8_tensor"]

CACHE_VERSION = 1
_BATCH = 64  # images decoded per DataLoader batch while building


def cache_root(cache_dir: str | None = None) -> Path:
    """The cache folder: `cache_dir`, else `$ECL_CACHE_DIR`, else `~/.cache/ecl`."""
    chosen = cache_dir or os.environ.get("ECL_CACHE_DIR") or "~/.cache/ecl"
    return Path(chosen).expanduser()


def _digest(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, separators=(",", ":")).encode("utf-8")).hexdigest()


def cache_key(paths: list[str], size: int) -> str:
    """Hash of (path, byte size, mtime in ns) of every file, the size R and the format version.

    DataError naming the file when one cannot be stat'ed."""
    stats = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError as exc:
            raise DataError(f"{path}: cannot read for the decode cache ({exc.strerror or exc})") from None
        stats.append([path, st.st_size, st.st_mtime_ns])
    return _digest({"version": CACHE_VERSION, "size": int(size), "files": stats})


def cache_paths(paths: list[str], size: int, cache_dir: str | None = None) -> tuple[Path, Path]:
    """(array file, record file) of a file list at size R (named by the list and R, not the stats)."""
    name = "decode-" + _digest({"size": int(size), "paths": list(paths)})[:24]
    root = cache_root(cache_dir)
    return root / f"{name}.npy", root / f"{name}.json"


class _Decoded(Dataset):
    """Item i → (3,R,R) uint8 tensor of file i (draft-decoded, Resize(R) + CenterCrop(R))."""

    def __init__(self, paths: list[str], sources: list[str], size: int) -> None:
        self.paths, self.sources, self.size = paths, sources, size
        self.fit = v2.Compose([v2.Resize(size, antialias=True), v2.CenterCrop(size)])

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> Tensor:
        img = self.fit(decode_image(self.paths[index], self.sources[index] or None, target=self.size))
        return torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()).permute(2, 0, 1).contiguous()


def _build(dataset: Any, size: int, workers: int) -> np.ndarray:
    """(N,3,R,R) uint8 of all files (decoded in `workers` processes when > 0)."""
    out = np.empty((len(dataset.paths), 3, size, size), dtype=np.uint8)
    loader = DataLoader(_Decoded(dataset.paths, dataset.sources, size), batch_size=_BATCH,
                        num_workers=workers)
    start = 0
    for batch in loader:
        out[start:start + batch.shape[0]] = batch.numpy()
        start += batch.shape[0]
    return out


def _load(array_path: Path, record_path: Path, key: str, count: int, size: int) -> np.ndarray | None:
    """The cached array when its record matches `key` and the expected shape; None otherwise."""
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if record.get("key") != key:
        print(f"decode cache {array_path} is stale (image files changed): rebuilding", file=sys.stderr, flush=True)
        return None
    try:
        array = np.load(array_path, allow_pickle=False)
    except (OSError, ValueError):
        return None
    return array if array.shape == (count, 3, size, size) and array.dtype == np.uint8 else None


def cached_uint8_tensor(dataset: Any, size: int, cache_dir: str | None = None,
                        workers: int = 0) -> tuple[Tensor, Tensor]:
    """(images (N,3,R,R) uint8, labels (N,) int64) of an ImageFileDataset, through the cache."""
    paths = list(dataset.paths)
    key = cache_key(paths, size)
    array_path, record_path = cache_paths(paths, size, cache_dir)
    array = _load(array_path, record_path, key, len(paths), size)
    if array is None:
        array = _build(dataset, size, workers)
        atomic_write_path(array_path, lambda tmp: _save_npy(tmp, array))
        atomic_write_json(record_path, {"key": key, "count": len(paths), "size": int(size),
                                        "version": CACHE_VERSION})
    return torch.from_numpy(array), torch.tensor(list(dataset.labels), dtype=torch.int64)


def _save_npy(tmp: str, array: np.ndarray) -> None:
    with open(tmp, "wb") as handle:  # np.save(name) would append ".npy" to the temporary name
        np.save(handle, array, allow_pickle=False)
