"""Whole images of different sizes in one buffer, for the tensor path on image files (docs/METHOD.md, views).

Storage (`RaggedImages`): one flat uint8 buffer `pixels` (T,) holding every image as a
C-contiguous (3, h_i, w_i) block, `offsets` (N,) int64 (where image i starts) and `shapes`
(N,2) int64 (h_i, w_i). Only `pixels` moves to the training device; offsets and shapes stay on
the CPU (the crop loop reads them as Python ints). A batch is the same buffer with selected
offsets/shapes (`index_select`, `repeat`): nothing is copied until a crop is cut.

Stored resolution (`stored_shape`): each file keeps its aspect ratio, scaled by
min(1, R / shorter side, 2R / longer side) — shorter side = R, the eval resize the run's
evaluation view needs (256 at S = 224, else S), longer side capped at 2R, never enlarged. Memory:
at most 3·R·2R bytes per image (2× the old R×R square; a 4:3 photo takes 4/3×): 384 KiB per
image at S = 224, 31 KiB at S = 64.

Views: `resized_crops` cuts each image's box from its own plane and resizes it to S×S with
torch's bilinear interpolate, antialiased (torchvision's tensor `resized_crop`; the per-image
path's PIL bilinear resize also antialiases). The crops differ in size, so this is a Python
loop over the B crops with one interpolate each — used only for image-file datasets; square
in-memory sets (embedded digits, MNIST, CIFAR) stay one batched grid_sample. `fitted` makes the
per-image path's Resize(S) + CenterCrop(S) of each image (recipes bcl/small start from it).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.transforms.v2 import functional as TF

from .batched import params as RP

__all__ = ["RaggedImages", "stored_shape", "LONG_SIDE_CAP", "ragged_first_geometry"]

LONG_SIDE_CAP = 2.0  # the longer stored side is at most this × R


def stored_shape(height: int, width: int, short: int, cap: float = LONG_SIDE_CAP) -> tuple[int, int]:
    """(h, w) an image of height×width is stored at: aspect kept, shorter side ≤ `short`, longer
    side ≤ cap·short, never enlarged (rounded to whole pixels, each side ≥ 1)."""
    factor = min(1.0, short / min(height, width), cap * short / max(height, width))
    if factor >= 1.0:
        return height, width
    return max(1, int(round(height * factor))), max(1, int(round(width * factor)))


@dataclass
class RaggedImages:
    """N uint8 images of their own sizes in one flat buffer (see the module docstring)."""

    pixels: Tensor  # (T,) uint8, on any device
    offsets: Tensor  # (N,) int64, CPU
    shapes: Tensor  # (N,2) int64 (h, w), CPU

    @classmethod
    def from_images(cls, images: list[Tensor]) -> "RaggedImages":
        """A list of (3,h_i,w_i) uint8 tensors → one RaggedImages."""
        shapes = torch.tensor([[int(x.shape[1]), int(x.shape[2])] for x in images], dtype=torch.int64).view(-1, 2)
        sizes = 3 * shapes[:, 0] * shapes[:, 1]
        offsets = torch.cumsum(sizes, 0) - sizes
        pixels = torch.cat([x.reshape(-1) for x in images]) if images else torch.zeros(0, dtype=torch.uint8)
        return cls(pixels, offsets, shapes)

    def __len__(self) -> int:
        return int(self.offsets.shape[0])

    @property
    def device(self) -> torch.device:
        return self.pixels.device

    @property
    def nbytes(self) -> int:
        return int(self.pixels.numel())

    def to(self, device: torch.device | str) -> "RaggedImages":
        return RaggedImages(self.pixels.to(device), self.offsets, self.shapes)

    def index_select(self, dim: int, index: Tensor) -> "RaggedImages":
        """Images `index` (B,) as a RaggedImages over the same buffer (dim must be 0)."""
        if dim != 0:
            raise ValueError(f"RaggedImages.index_select: only dim 0, got {dim}")
        index = index.to(self.offsets.device)
        return RaggedImages(self.pixels, self.offsets.index_select(0, index), self.shapes.index_select(0, index))

    def repeat(self, times: int, *_: int) -> "RaggedImages":
        """The batch `times` times over (as Tensor.repeat(times, 1, 1, 1) on a (B,3,H,W) batch)."""
        return RaggedImages(self.pixels, self.offsets.repeat(times), self.shapes.repeat(times, 1))

    def planes(self) -> list[Tensor]:
        """Every image as a (3,h_i,w_i) uint8 view of the buffer (no copy)."""
        return [self.pixels[start : start + 3 * h * w].view(3, h, w)
                for start, (h, w) in zip(self.offsets.tolist(), self.shapes.tolist())]

    def resized_crops(self, boxes: Tensor, size: int) -> Tensor:
        """boxes (B,4) (top, left, h, w) per image → (B,3,S,S) float32 in [0,1]: each box cut
        from its image and resized to S×S (bilinear, antialiased), one interpolate per crop."""
        out = torch.empty((len(self), 3, size, size), dtype=torch.float32, device=self.device)
        for i, (plane, (top, left, h, w)) in enumerate(zip(self.planes(), boxes.tolist())):
            patch = plane[:, top : top + h, left : left + w].unsqueeze(0).float().div_(255.0)
            out[i] = F.interpolate(patch, size=(size, size), mode="bilinear", align_corners=False,
                                   antialias=True)[0]
        return out

    def fitted(self, size: int) -> Tensor:
        """(B,3,S,S) float32 in [0,1]: each image's shorter side resized to S (antialiased), centre
        crop S×S — the per-image path's Resize(S) + CenterCrop(S), one image at a time."""
        out = torch.empty((len(self), 3, size, size), dtype=torch.float32, device=self.device)
        for i, plane in enumerate(self.planes()):
            x = plane.float().div_(255.0)
            if min(x.shape[-2:]) != size:
                x = TF.resize(x, [size], antialias=True)
            out[i] = TF.center_crop(x, [size, size])
        return out


def ragged_first_geometry(images: RaggedImages, g: torch.Generator, crop: str, scale: tuple[float, float],
                          ratio: tuple[float, float], size: int) -> Tensor:
    """The step that needs each image's own geometry, → (B,3,S,S) float32 in [0,1].

    crop "rrc": RandomResizedCrop boxes drawn on each image's own (h, w) (`rrc_boxes_each`, from
    `g`), cut and resized to S; "fit"/"pad": the image fitted to S×S (the recipe's later random
    crop, affine and flip then act on that square, as on the per-image path)."""
    if crop == "rrc":
        shapes = images.shapes
        boxes = RP.rrc_boxes_each(g, shapes[:, 0], shapes[:, 1], scale, ratio)
        return images.resized_crops(boxes.cpu(), size)
    return images.fitted(size)
