"""Encoded storage for the tensor path (`data.storage=encoded`, README "Data path"): the training
files' JPEG/PNG bytes held in memory, decoded batch by batch on the training device.

Storage (`EncodedImages`): one flat uint8 buffer `data` (T,) on the CPU holding every file's bytes
one after another, `offsets` (N,) and `lengths` (N,) int64, `jpeg` (N,) bool. Read once from the
files (`from_files`), no cache: a file is kept as it is when it is a JPEG or an 8-bit PNG in RGB or
grey without transparency; any other file (GIF, BMP, TIFF, WebP, 16-bit or palette or transparent
PNG, CMYK JPEG) is decoded once as the per-image path decodes it (`images.decode_image`: 8-bit RGB,
transparency on white) and kept as a lossless PNG, so every stored file decodes to what the per-image
path sees. Building holds the bytes twice at once (the files' list and the joined buffer), once.

Decoding (`decode`, per batch): the JPEGs with one batched `torchvision.io.decode_jpeg` call on the
decode device (nvJPEG on CUDA, libjpeg-turbo on the CPU), the PNGs with `decode_image` on the CPU
(then moved), each as 8-bit RGB at its full size → `ragged.RaggedImages`, whose crop/resize cuts the
views (RandomResizedCrop boxes on each image's own full geometry; the same crop path as the pixels
storage). Cost: there is no reduced-size (draft) JPEG decode in torchvision, so every view decodes
the whole file: decode work grows with the file's pixel count (a 640×480 file decodes 1.3× the
pixels of the pixels storage's 341×256 copy at S = 224; a 4000×3000 photo 46×), and a batch's
decoded images are held at full size until its views are cut.
"""

from __future__ import annotations

import io
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import Tensor
from torchvision.io import ImageReadMode, decode_image, decode_jpeg

from ecl.data.errors import DataError
from ecl.data.images import decode_image as pil_decode
from ecl.data.images import open_image
from ecl.data.ragged import RaggedImages

__all__ = ["EncodedImages", "encoded_nbytes", "read_encoded"]

_KEPT = {"JPEG": ("RGB", "L"), "PNG": ("RGB", "L")}  # format → PIL modes whose bytes are kept as they are


def encoded_nbytes(paths: Sequence[str]) -> int:
    """Bytes of the files at `paths` (os.stat; DataError naming a file that cannot be read) — what
    `EncodedImages.from_files` holds, up to the few files it re-encodes."""
    total = 0
    for path in paths:
        try:
            total += os.stat(path).st_size
        except OSError as exc:
            raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return total


def read_encoded(path: str, where: str | None = None) -> tuple[bytes, bool]:
    """(bytes to store, is JPEG) of one file: its own bytes when `_KEPT`, else the per-image
    path's decode of it as a lossless PNG. DataError naming the file (and `where`)."""
    tag = f" [{where}]" if where else ""
    try:
        data = Path(path).read_bytes()
        with open_image(path) as img:
            kind, mode, transparent = img.format, img.mode, "transparency" in img.info
    except DataError as exc:
        raise DataError(f"{exc}{tag}") from None
    except Exception as exc:  # PIL raises many types
        raise DataError(f"{path}: not a readable image ({type(exc).__name__}: {exc}){tag}") from None
    if mode in _KEPT.get(kind or "", ()) and not transparent:
        return data, kind == "JPEG"
    out = io.BytesIO()
    pil_decode(path, where).save(out, format="PNG", compress_level=1)
    return out.getvalue(), False


@dataclass
class EncodedImages:
    """N image files' bytes in one flat CPU buffer, decoded per batch on `device` (module docstring)."""

    data: Tensor  # (T,) uint8, CPU
    offsets: Tensor  # (N,) int64, CPU
    lengths: Tensor  # (N,) int64, CPU
    jpeg: Tensor  # (N,) bool, CPU
    paths: list[str]  # file of each image (named when its decode fails)
    device: torch.device = torch.device("cpu")  # where batches are decoded

    @classmethod
    def from_files(cls, paths: Sequence[str], sources: Sequence[str] | None = None,
                   workers: int = 0) -> "EncodedImages":
        """Read every file once (`read_encoded`; `workers` > 1: that many reader threads)."""
        where = list(sources) if sources is not None else [""] * len(paths)
        jobs = list(zip(paths, where))
        if workers > 1:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                items = list(pool.map(lambda job: read_encoded(job[0], job[1] or None), jobs))
        else:
            items = [read_encoded(p, w or None) for p, w in jobs]
        lengths = torch.tensor([len(b) for b, _ in items], dtype=torch.int64)
        buffer = np.frombuffer(b"".join(b for b, _ in items), dtype=np.uint8)
        data = torch.from_numpy(buffer.copy()) if buffer.size else torch.zeros(0, dtype=torch.uint8)
        jpeg = torch.tensor([j for _, j in items], dtype=torch.bool)
        return cls(data, torch.cumsum(lengths, 0) - lengths, lengths, jpeg, [str(p) for p in paths])

    def __len__(self) -> int:
        return int(self.offsets.shape[0])

    @property
    def nbytes(self) -> int:
        return int(self.data.numel())

    def to(self, device: torch.device | str) -> "EncodedImages":
        """The same bytes (they stay on the CPU: the decoders read host memory), decoded on `device`."""
        return EncodedImages(self.data, self.offsets, self.lengths, self.jpeg, self.paths, torch.device(device))

    def index_select(self, dim: int, index: Tensor) -> "EncodedImages":
        """Images `index` (B,) over the same buffer (dim must be 0)."""
        if dim != 0:
            raise ValueError(f"EncodedImages.index_select: only dim 0, got {dim}")
        index = index.cpu()
        pick = index.tolist()
        return EncodedImages(self.data, self.offsets.index_select(0, index), self.lengths.index_select(0, index),
                             self.jpeg.index_select(0, index), [self.paths[i] for i in pick], self.device)

    def _files(self) -> list[Tensor]:
        """Every image's bytes as a (L_i,) uint8 view of the buffer."""
        return [self.data[o : o + n] for o, n in zip(self.offsets.tolist(), self.lengths.tolist())]

    def _decode_all(self, files: list[Tensor]) -> list[Tensor]:
        """(3,h_i,w_i) uint8 RGB on `device`: JPEGs in one decode_jpeg call, others one by one."""
        out: list[Tensor | None] = [None] * len(files)
        jpegs = [i for i, j in enumerate(self.jpeg.tolist()) if j]
        if jpegs:
            decoded = decode_jpeg([files[i] for i in jpegs], mode=ImageReadMode.RGB, device=self.device)
            for i, x in zip(jpegs, decoded):
                out[i] = x
        for i, x in enumerate(out):
            if x is None:
                out[i] = decode_image(files[i], mode=ImageReadMode.RGB).to(self.device)
        return out  # type: ignore[return-value]

    def decode(self) -> RaggedImages:
        """The batch's whole images, decoded at full size on `device`, as RaggedImages (pixels on
        `device`). DataError naming the first file that cannot be decoded."""
        files = self._files()
        try:
            images = self._decode_all(files)
        except RuntimeError:
            for i, path in enumerate(self.paths):  # find the file to name
                try:
                    self.index_select(0, torch.tensor([i]))._decode_all([files[i]])
                except RuntimeError as exc:
                    raise DataError(f"{path}: cannot decode image ({exc})") from None
            raise
        return RaggedImages.from_images(images)
