"""Batched colour operations on float images in [0, 1], one factor per sample.

Formulas are torchvision's (`transforms.v2.functional.adjust_*` on float tensors): brightness
scales, contrast blends with the mean of the grey image, saturation blends with the grey image,
all clamped to [0, 1]; hue rotates H in HSV.
Factors are (B,) tensors; a factor of 1 (hue: 0) leaves that sample unchanged.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .subset import apply_where

__all__ = [
    "grey",
    "adjust_hue",
    "color_jitter",
    "random_grayscale",
    "erase",
    "normalise",
]

_GREY = (0.2989, 0.587, 0.114)  # torchvision's rgb_to_grayscale weights


def grey(x: Tensor) -> Tensor:
    """(B,3,H,W) → (B,1,H,W) luma, torchvision's weights."""
    r, g, b = x.unbind(1)
    return (_GREY[0] * r + _GREY[1] * g + _GREY[2] * b).unsqueeze(1)


def _col(f: Tensor, x: Tensor) -> Tensor:
    return f.to(x.device, x.dtype).view(-1, 1, 1, 1)


def _blend(x: Tensor, other: Tensor, f: Tensor) -> Tensor:
    """f·x + (1−f)·other, clamped to [0, 1]."""
    return (other + _col(f, x) * (x - other)).clamp_(0.0, 1.0)


def adjust_hue(x: Tensor, f: Tensor) -> Tensor:
    """Shift hue by f (B,) in [−0.5, 0.5] turns, keeping HSV's S and V (torchvision's adjust_hue).

    RGB → 6·H as torchvision's _rgb2hsv computes it, then straight back with the closed form
    c_n = V − (V − min)·clamp(min(k, 4 − k), 0, 1), k = (n + 6·H′) mod 6, n = 5, 3, 1 for R, G, B.
    (kornia.enhance.adjust_hue has the same parameterisation in radians but runs ~4× slower on
    the CPU through its full HSV round trip.)
    """
    r, g, b = x.unbind(1)
    maxc, minc = x.amax(1), x.amin(1)
    delta = maxc - minc
    safe = torch.where(delta > 0, delta, torch.ones_like(delta))
    rc, gc, bc = (maxc - r) / safe, (maxc - g) / safe, (maxc - b) / safe
    h6 = torch.where(maxc == r, bc - gc, torch.where(maxc == g, 2.0 + rc - bc, 4.0 + gc - rc))
    h6 = h6 + _col(f, x).view(-1, 1, 1) * 6.0
    out = []
    for n in (5.0, 3.0, 1.0):
        k = torch.remainder(h6 + n, 6.0)
        out.append(maxc - delta * torch.minimum(k, 4.0 - k).clamp_(0.0, 1.0))
    return torch.stack(out, 1).clamp_(0.0, 1.0)


_NEUTRAL = (1.0, 1.0, 1.0, 0.0)


def _blend_kind(x: Tensor, kind: Tensor, f: Tensor) -> Tensor:
    """Brightness (kind 0), contrast (1) or saturation (2) per sample: one blend with its degenerate."""
    g = grey(x)
    k = kind.view(-1, 1, 1, 1)
    mean = g.mean(dim=(1, 2, 3), keepdim=True).expand_as(g)
    return _blend(x, torch.where(k == 0, torch.zeros_like(g), torch.where(k == 1, mean, g)), f)


def color_jitter(x: Tensor, factors: Tensor, order: Tensor, enabled: tuple[bool, ...] = (True,) * 4) -> Tensor:
    """torchvision ColorJitter with a per-sample random order.

    x: (B,3,H,W) in [0,1]; factors: (B,4) brightness, contrast, saturation, hue (a sample whose
    four factors are neutral, 1,1,1,0, skips the jitter); order: (B,4) long, a permutation of
    0..3 per sample; enabled: which of the four ops the recipe uses. At step t every sample
    applies op order[:, t]: brightness/contrast/saturation are all "blend with a degenerate
    image" and run as ONE blend over the samples that chose any of them, hue runs on the rest.
    """
    neutral = torch.tensor(_NEUTRAL, device=factors.device)
    on = (factors != neutral).any(1)
    en = torch.tensor(enabled, device=order.device)
    x = x.clone()
    for t in range(4):
        kind = order[:, t]
        chosen = on & en[kind]
        f = factors.gather(1, kind[:, None]).squeeze(1)
        x = apply_where(x, chosen & (kind < 3), _blend_kind, kind, f, inplace=True)
        if enabled[3]:
            x = apply_where(x, chosen & (kind == 3), adjust_hue, f, inplace=True)
    return x


def _grey3(x: Tensor) -> Tensor:
    return grey(x).expand_as(x).contiguous()


def random_grayscale(x: Tensor, apply: Tensor, inplace: bool = False) -> Tensor:
    """Grey (3 equal channels) where apply (B,) bool; x (B,3,H,W)."""
    return apply_where(x, apply, _grey3, inplace=inplace)


def erase(x: Tensor, boxes: Tensor, apply: Tensor, value: Tensor | float) -> Tensor:
    """Fill the box (top, left, h, w) (B,4) long with `value` (scalar or (3,)) where apply (B,)."""
    b, c, h, w = x.shape
    boxes = boxes.to(x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    top, left, bh, bw = (boxes[:, i].view(-1, 1, 1) for i in range(4))
    inside = (rows >= top) & (rows < top + bh) & (cols >= left) & (cols < left + bw)
    mask = (inside & apply.to(x.device).view(-1, 1, 1)).unsqueeze(1)
    if isinstance(value, (int, float)):
        return x.masked_fill(mask, float(value))
    val = torch.as_tensor(value, dtype=x.dtype, device=x.device)
    return torch.where(mask, val.view(1, -1, 1, 1) if val.ndim == 1 else val, x)


def normalise(x: Tensor, mean: Tensor, std: Tensor) -> Tensor:
    """(x − mean)/std per channel; mean/std (3,)."""
    return (x - mean.view(1, -1, 1, 1)).div_(std.view(1, -1, 1, 1))
