"""Random parameters for the batched views, drawn from one torch.Generator, (B,)-shaped.

Every draw happens on the generator's device (a CPU generator gives the same parameters
whichever device the images live on) and follows torchvision's parameterisation.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["uniform", "bernoulli", "randint", "rrc_boxes", "rrc_boxes_each", "erase_boxes", "jitter_factors", "permutations"]

_ATTEMPTS = 10  # torchvision's RandomResizedCrop / RandomErasing try 10 times


def uniform(g: torch.Generator, shape, lo: float, hi: float) -> Tensor:
    """U(lo, hi) float32 of `shape` (int or tuple)."""
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return torch.rand(shape, generator=g, device=g.device).mul_(hi - lo).add_(lo)


def bernoulli(g: torch.Generator, n: int, p: float) -> Tensor:
    """(n,) bool, True with probability p (torchvision's `torch.rand(1) < p`)."""
    return torch.rand(n, generator=g, device=g.device) < p


def randint(g: torch.Generator, high: Tensor) -> Tensor:
    """Per-element integer in [0, high) for a (n,) long tensor high ≥ 1."""
    u = torch.rand(high.shape, generator=g, device=g.device)
    return torch.minimum((u * high.float()).long(), high - 1)


def _first_valid(valid: Tensor) -> tuple[Tensor, Tensor]:
    """valid (n, A) bool → (index of the first True per row, whether any)."""
    any_ok = valid.any(1)
    first = torch.argmax(valid.int(), dim=1)
    return first, any_ok


def rrc_boxes(
    g: torch.Generator, n: int, height: int, width: int, scale: tuple[float, float], ratio: tuple[float, float]
) -> Tensor:
    """torchvision RandomResizedCrop.get_params for n images of height×width → (n,4) long (top, left, h, w).

    Ten attempts per image (area ~ U(scale)·H·W, log-ratio ~ U(log ratio)); the first that fits
    wins; images with none get torchvision's fallback (the whole image, or its centre clipped to
    the ratio range). The square path's special case of `rrc_boxes_each`.
    """
    full = torch.full((n,), 0, dtype=torch.long, device=g.device)
    return rrc_boxes_each(g, full + int(height), full + int(width), scale, ratio)


def rrc_boxes_each(
    g: torch.Generator, heights: Tensor, widths: Tensor, scale: tuple[float, float], ratio: tuple[float, float]
) -> Tensor:
    """RandomResizedCrop.get_params on each image's own geometry, vectorised over the batch.

    heights, widths: (n,) long, image i is heights[i]×widths[i]. → (n,4) long (top, left, h, w)
    on the generator's device. Per image: ten attempts (area ~ U(scale)·h_i·w_i, log-ratio ~
    U(log ratio)), the first that fits wins, else torchvision's fallback (`_fallback_each`).
    """
    dev = g.device
    height, width = heights.to(dev).long(), widths.to(dev).long()
    n = height.shape[0]
    area = (height * width).float()[:, None]
    target = uniform(g, (n, _ATTEMPTS), scale[0], scale[1]) * area
    aspect = torch.exp(uniform(g, (n, _ATTEMPTS), math.log(ratio[0]), math.log(ratio[1])))
    w = torch.round(torch.sqrt(target * aspect)).long()
    h = torch.round(torch.sqrt(target / aspect)).long()
    valid = (w > 0) & (w <= width[:, None]) & (h > 0) & (h <= height[:, None])
    first, ok = _first_valid(valid)
    w = w.gather(1, first[:, None]).squeeze(1)
    h = h.gather(1, first[:, None]).squeeze(1)
    top = randint(g, (height - h + 1).clamp(min=1))
    left = randint(g, (width - w + 1).clamp(min=1))
    fb_h, fb_w = _fallback_each(height, width, ratio)
    h, w = torch.where(ok, h, fb_h), torch.where(ok, w, fb_w)
    top = torch.where(ok, top, (height - fb_h) // 2)
    left = torch.where(ok, left, (width - fb_w) // 2)
    return torch.stack([top, left, h, w], 1)


def _fallback_each(height: Tensor, width: Tensor, ratio: tuple[float, float]) -> tuple[Tensor, Tensor]:
    """torchvision's fallback box (h, w) per image: the whole image, its ratio clamped to the range
    (too tall: w kept, h = round(w / min ratio); too wide: h kept, w = round(h · max ratio))."""
    in_ratio = width.double() / height.double()
    tall, wide = in_ratio < min(ratio), in_ratio > max(ratio)
    h = torch.where(tall, torch.round(width.double() / min(ratio)).long(), height)
    w = torch.where(wide, torch.round(height.double() * max(ratio)).long(), width)
    return h, w


def erase_boxes(
    g: torch.Generator, n: int, height: int, width: int, scale: tuple[float, float], ratio: tuple[float, float]
) -> tuple[Tensor, Tensor]:
    """torchvision RandomErasing.get_params → ((n,4) long (top, left, h, w), (n,) bool found).

    Ten attempts; an attempt fits when h < H and w < W; images with none are left as they are.
    """
    area = float(height * width)
    target = uniform(g, (n, _ATTEMPTS), scale[0], scale[1]) * area
    aspect = torch.exp(uniform(g, (n, _ATTEMPTS), math.log(ratio[0]), math.log(ratio[1])))
    h = torch.round(torch.sqrt(target * aspect)).long()
    w = torch.round(torch.sqrt(target / aspect)).long()
    valid = (h < height) & (w < width)
    first, ok = _first_valid(valid)
    h = h.gather(1, first[:, None]).squeeze(1)
    w = w.gather(1, first[:, None]).squeeze(1)
    top = randint(g, (height - h + 1).clamp(min=1))
    left = randint(g, (width - w + 1).clamp(min=1))
    return torch.stack([top, left, h, w], 1), ok


def jitter_factors(
    g: torch.Generator, n: int, brightness: float, contrast: float, saturation: float, hue: float
) -> Tensor:
    """(n,4) ColorJitter factors: U(max(0,1−s), 1+s) for the first three, U(−hue, hue) for hue."""
    cols = [uniform(g, n, max(0.0, 1.0 - s), 1.0 + s) for s in (brightness, contrast, saturation)]
    cols.append(uniform(g, n, -hue, hue))
    return torch.stack(cols, 1)


def permutations(g: torch.Generator, n: int, k: int) -> Tensor:
    """(n,k) long: an independent uniform permutation of 0..k−1 per row."""
    return torch.argsort(torch.rand((n, k), generator=g, device=g.device), dim=1)
