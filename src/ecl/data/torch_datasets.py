"""The two item stores: in-memory uint8 arrays and image files. Items are (PIL RGB image, label)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from ecl.data.images import decode_image

__all__ = ["ArrayDataset", "ImageFileDataset", "ViewsDataset"]


class ArrayDataset(Dataset):
    """Images held as uint8 arrays, (N,H,W) grey or (N,H,W,3) RGB, with int labels (N,)."""

    def __init__(self, images: np.ndarray, labels: Sequence[int] | np.ndarray) -> None:
        images = np.ascontiguousarray(images)
        if images.dtype != np.uint8 or images.ndim not in (3, 4):
            raise ValueError(f"images: expected uint8 (N,H,W[,3]), got {images.dtype} {images.shape}")
        labels_np = np.asarray(labels, dtype=np.int64)
        if len(labels_np) != len(images):
            raise ValueError(f"labels: {len(labels_np)} labels for {len(images)} images")
        self.images = images
        self.labels = [int(v) for v in labels_np]

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[Image.Image, int]:
        arr = self.images[index]
        img = Image.fromarray(arr, mode="L" if arr.ndim == 2 else "RGB")
        return (img.convert("RGB") if img.mode != "RGB" else img), self.labels[index]

    def as_uint8_tensor(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All items at once, as the tensor data path holds them: images (N,3,H,W) uint8 (grey
        replicated to 3 channels, as PIL's L→RGB does) and labels (N,) int64. No per-item loop."""
        images = torch.from_numpy(self.images)
        if images.ndim == 3:
            images = images.unsqueeze(1).expand(-1, 3, -1, -1)
        else:
            images = images.permute(0, 3, 1, 2)
        return images.contiguous(), torch.tensor(self.labels, dtype=torch.int64)

    @property
    def nbytes_uint8(self) -> int:
        """Bytes of `as_uint8_tensor()`'s images."""
        n, h, w = self.images.shape[:3]
        return int(n) * 3 * int(h) * int(w)


class ImageFileDataset(Dataset):
    """Image files with int labels; `sources[i]` says where item i was listed (file + row/line).

    Loading converts to 8-bit RGB and raises `DataError` naming the file and its listing row.
    """

    def __init__(
        self, paths: Sequence[str | Path], labels: Sequence[int], sources: Sequence[str] | None = None
    ) -> None:
        if len(paths) != len(labels):
            raise ValueError(f"labels: {len(labels)} labels for {len(paths)} paths")
        self.paths = [str(p) for p in paths]
        self.labels = [int(v) for v in labels]
        self.sources = list(sources) if sources is not None else [""] * len(self.paths)
        self.draft_size: int | None = None  # decode JPEGs at reduced size down to this side (images.decode_image)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[Image.Image, int]:
        return decode_image(self.paths[index], self.sources[index] or None, self.draft_size), self.labels[index]


class ViewsDataset(Dataset):
    """`base` items (img, label) → (transform(img), label): a list of view tensors or one tensor."""

    def __init__(self, base: Dataset, transform: Callable[[Image.Image], Any]) -> None:
        self.base = base
        self.transform = transform

    def __len__(self) -> int:
        return len(self.base)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> tuple[Any, int]:
        img, label = self.base[index]
        return self.transform(img), label
