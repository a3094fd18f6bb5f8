"""PIL-semantics image ops on batches of 8-bit levels, one parameter per sample.

timm's RandAugment acts on PIL uint8 images; these ops reproduce PIL's integer arithmetic on a
float32 tensor (B,3,H,W) holding whole levels 0..255. Every per-channel point op (autocontrast,
equalize, invert, posterize, solarize, solarize-add, brightness, contrast) is a per-sample,
per-channel look-up table (B,3,256); the tables of different ops are merged per sample and
applied with ONE gather, so a batch where each sample draws a different op costs one pass.
Colour (blend with PIL's "L" grey) and sharpness (kornia.enhance.sharpness, PIL's SMOOTH kernel)
are the two ops that are not point ops. PIL's `Image.blend` truncates toward zero; so do we.
"""

from __future__ import annotations

import kornia
import torch
from torch import Tensor

__all__ = [
    "levels_index",
    "histogram",
    "lut_identity",
    "lut_autocontrast",
    "lut_equalize",
    "lut_invert",
    "lut_posterize",
    "lut_solarize",
    "lut_solarize_add",
    "lut_blend_constant",
    "apply_lut_index",
    "pil_grey",
    "color",
    "sharpness",
]


def _levels(device) -> Tensor:
    return torch.arange(256, device=device, dtype=torch.float32).view(1, 1, 256)


def levels_index(x: Tensor) -> Tensor:
    """(B,3,H,W) levels → (B,3,H·W) int64 FLAT indices into a (B,3,256) table: level + 256·(3b + c).

    Convert once per layer: `histogram` counts them, `apply_lut_index` reads a table through them.
    """
    b, c = x.shape[:2]
    offset = torch.arange(b * c, device=x.device).view(b, c, 1) * 256
    return x.reshape(b, c, -1).long().add_(offset)


def histogram(x: Tensor) -> Tensor:
    """(B,3,H,W) levels, or their `levels_index`, → (B,3,256) float32 pixel counts per channel."""
    idx = levels_index(x) if x.is_floating_point() else x
    b, c = idx.shape[:2]
    return torch.bincount(idx.view(-1), minlength=b * c * 256).view(b, c, 256).float()


def lut_identity(b: int, device) -> Tensor:
    """(B,3,256) identity tables."""
    return _levels(device).expand(b, 3, 256).clone()


def lut_autocontrast(hist: Tensor) -> Tensor:
    """PIL ImageOps.autocontrast (cutoff 0): stretch [lo, hi] to [0, 255] per channel, truncating."""
    lv = _levels(hist.device)
    present = hist > 0
    lo = torch.where(present, lv, torch.full_like(lv, 256.0)).amin(2, keepdim=True)
    hi = torch.where(present, lv, torch.full_like(lv, -1.0)).amax(2, keepdim=True)
    flat = hi <= lo
    # PIL computes int(ix·scale + offset) in Python floats; a 256-entry table in float64 keeps
    # its rounding (float32 lands a level lower where the product is a whole number).
    lv64, lo64 = lv.double(), lo.double()
    span = (hi.double() - lo64).clamp(min=1.0)
    scale = torch.full_like(span, 255.0) / span  # tensor / tensor: `255.0 / t` is 255·(1/t) in torch
    out = torch.trunc(lv64 * scale + (-lo64 * scale)).clamp(0.0, 255.0).float()
    return torch.where(flat, lv.expand_as(out), out)


def lut_equalize(hist: Tensor) -> Tensor:
    """PIL ImageOps.equalize per channel: lut[i] = (step//2 + Σ_{j<i} h_j) // step."""
    lv = _levels(hist.device)
    present = hist > 0
    last = torch.where(present, lv, torch.full_like(lv, -1.0)).amax(2, keepdim=True).clamp(min=0).long()
    step = torch.div(hist.sum(2, keepdim=True) - hist.gather(2, last), 255, rounding_mode="floor")
    before = hist.cumsum(2) - hist
    out = torch.div(before + torch.div(step, 2, rounding_mode="floor"), step.clamp(min=1), rounding_mode="floor")
    keep = (step == 0) | (present.sum(2, keepdim=True) <= 1)
    return torch.where(keep, lv.expand_as(out), out.clamp(0.0, 255.0))


def lut_invert(b: int, device) -> Tensor:
    return 255.0 - lut_identity(b, device)


def lut_posterize(bits: Tensor) -> Tensor:
    """Keep the top `bits` (B,) bits (0..8) of every level."""
    q = torch.pow(2.0, 8 - bits.float()).view(-1, 1, 1)
    return torch.floor(_levels(bits.device) / q) * q * torch.ones(1, 3, 1, device=bits.device)


def lut_solarize(thresh: Tensor) -> Tensor:
    """PIL ImageOps.solarize: levels ≥ thresh (B,) are inverted."""
    lv = _levels(thresh.device).expand(thresh.shape[0], 3, 256)
    return torch.where(lv < thresh.float().view(-1, 1, 1), lv, 255.0 - lv)


def lut_solarize_add(add: Tensor, thresh: float = 128.0) -> Tensor:
    """timm's solarize_add: levels below thresh get min(255, level + add (B,))."""
    lv = _levels(add.device).expand(add.shape[0], 3, 256)
    return torch.where(lv < thresh, (lv + add.float().view(-1, 1, 1)).clamp(max=255.0), lv)


def lut_blend_constant(const: Tensor, factor: Tensor) -> Tensor:
    """PIL Image.blend(constant image, image, factor): trunc(c + f·(level − c)) clipped; const (B,), factor (B,)."""
    lv = _levels(const.device)
    c = const.float().view(-1, 1, 1)
    out = c + factor.float().view(-1, 1, 1) * (lv - c)
    return torch.trunc(out).clamp(0.0, 255.0).expand(const.shape[0], 3, 256)


def apply_lut_index(index: Tensor, lut: Tensor) -> Tensor:
    """index (B,3,N) from `levels_index`, lut (B,3,256) → (B,3,N) float32."""
    return lut.reshape(-1).take(index)


def pil_grey(x: Tensor) -> Tensor:
    """PIL's RGB → "L": (R·19595 + G·38470 + B·7471 + 32768) >> 16 → (B,1,H,W) levels."""
    r, g, b = x.unbind(1)
    return torch.floor((r * 19595.0 + g * 38470.0 + b * 7471.0 + 32768.0) / 65536.0).unsqueeze(1)


def contrast_mean(x: Tensor) -> Tensor:
    """PIL ImageEnhance.Contrast's grey level: int(mean of "L" + 0.5) → (B,)."""
    return torch.floor(pil_grey(x).mean(dim=(1, 2, 3)) + 0.5)


def color(x: Tensor, factor: Tensor) -> Tensor:
    """PIL ImageEnhance.Color: blend the image with its "L" grey, truncating, per-sample factor (B,)."""
    g = pil_grey(x)
    out = g + factor.float().view(-1, 1, 1, 1) * (x - g)
    return torch.trunc(out).clamp_(0.0, 255.0)


def sharpness(x: Tensor, factor: Tensor) -> Tensor:
    """PIL ImageEnhance.Sharpness: blend with PIL's SMOOTH-filtered image (border pixels kept).

    The smoothed image is kornia.enhance.sharpness at factor 0 (kernel [[1,1,1],[1,5,1],[1,1,1]]/13),
    rounded to levels as PIL's filter does; the blend truncates as PIL's Image.blend does.
    """
    zero = torch.zeros(x.shape[0], device=x.device, dtype=x.dtype)
    smooth = torch.round(kornia.enhance.sharpness(x / 255.0, zero) * 255.0)
    out = smooth + factor.to(x.device, x.dtype).view(-1, 1, 1, 1) * (x - smooth)
    return torch.trunc(out).clamp_(0.0, 255.0)
