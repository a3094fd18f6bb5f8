"""Batched RandAugment in timm's `rand-nN-mM-mstdS` form, each sample its own ops and magnitudes.

Op set: timm's `_RAND_TRANSFORMS` (AutoContrast, Equalize, Invert, Rotate, Posterize, Solarize,
SolarizeAdd, Color, Contrast, Brightness, Sharpness, ShearX, ShearY, TranslateXRel,
TranslateYRel). Per layer and sample: op uniform (with replacement across layers), applied with
probability `prob`, magnitude ~ N(M, S) clipped to [0, 10], sign negated with probability 0.5
for rotate/shear/translate. Level → argument as timm's non-"increasing" mappings:
rotate 30°·m/10, shear 0.3·m/10, translate 0.45·m/10 of the side, posterize int(4·m/10) bits,
solarize threshold min(256, int(256·m/10)), solarize-add min(128, int(110·m/10)) below 128,
enhance factors 1.8·m/10 + 0.1. Geometry fills with `fill` (timm's img_mean) and resamples
bilinearly or bicubically, drawn 50/50 per sample and layer as timm draws per op application
(`_RANDOM_INTERPOLATION`, when the hparams name no interpolation); bicubic is torch's cubic
convolution (A = −0.75), close to but not exactly PIL's kernel.

Images are float32 (B,3,H,W) holding whole levels 0..255, PIL's uint8 semantics (see pil_ops).
One layer costs: one histogram, one merged LUT gather for the eight point ops, one colour blend,
one 3×3 smoothing, one grid_sample per resampler for the five geometric ops — no loop over images.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from . import geometry as G
from . import pil_ops as P
from . import subset
from .subset import apply_where

__all__ = ["OPS", "RandAugmentSpec", "sample_layer", "sample_interpolation", "layer_arguments", "apply_layer",
           "rand_augment"]

OPS = (
    "AutoContrast",
    "Equalize",
    "Invert",
    "Rotate",
    "Posterize",
    "Solarize",
    "SolarizeAdd",
    "Color",
    "Contrast",
    "Brightness",
    "Sharpness",
    "ShearX",
    "ShearY",
    "TranslateXRel",
    "TranslateYRel",
)
_ID = {name: i for i, name in enumerate(OPS)}
_SIGNED = ("Rotate", "ShearX", "ShearY", "TranslateXRel", "TranslateYRel")
_ENHANCE = ("Color", "Contrast", "Brightness", "Sharpness")


@dataclass(frozen=True)
class RandAugmentSpec:
    """timm's config string `rand-n{num_ops}-m{magnitude}-mstd{magnitude_std}` (p = prob)."""

    num_ops: int = 2
    magnitude: float = 10.0
    magnitude_std: float = 0.5
    prob: float = 0.5
    magnitude_max: float = 10.0
    translate_pct: float = 0.45
    random_interpolation: bool = True  # timm's default: bilinear or bicubic per op; False: bilinear


def sample_layer(g: torch.Generator, n: int, spec: RandAugmentSpec) -> tuple[Tensor, Tensor, Tensor]:
    """One layer's draws → (op (n,) long, −1 where the op is skipped; magnitude (n,); sign (n,) ±1)."""
    op = torch.randint(0, len(OPS), (n,), generator=g, device=g.device)
    skip = torch.rand(n, generator=g, device=g.device) > spec.prob
    mag = torch.full((n,), float(spec.magnitude), device=g.device)
    if spec.magnitude_std > 0:
        mag = mag + spec.magnitude_std * torch.randn(n, generator=g, device=g.device)
    mag = mag.clamp(0.0, spec.magnitude_max)
    sign = torch.where(torch.rand(n, generator=g, device=g.device) > 0.5, -1.0, 1.0)
    return torch.where(skip, torch.full_like(op, -1), op), mag, sign


def sample_interpolation(g: torch.Generator, n: int) -> Tensor:
    """(n,) bool, True = bicubic: timm's random.choice((BILINEAR, BICUBIC)) for each sample's op."""
    return torch.rand(n, generator=g, device=g.device) < 0.5


def _level_table(spec: RandAugmentSpec) -> Tensor:
    """(15,5) per op: scale, offset, whole (floor), cap, signed — argument = f(m/10) as in timm."""
    rows = {name: (0.0, 0.0, 0.0, float("inf"), 0.0) for name in OPS}
    rows.update(
        Rotate=(30.0, 0.0, 0.0, float("inf"), 1.0),
        Posterize=(4.0, 0.0, 1.0, float("inf"), 0.0),
        Solarize=(256.0, 0.0, 1.0, 256.0, 0.0),
        SolarizeAdd=(110.0, 0.0, 1.0, 128.0, 0.0),
        ShearX=(0.3, 0.0, 0.0, float("inf"), 1.0),
        ShearY=(0.3, 0.0, 0.0, float("inf"), 1.0),
        TranslateXRel=(spec.translate_pct, 0.0, 0.0, float("inf"), 1.0),
        TranslateYRel=(spec.translate_pct, 0.0, 0.0, float("inf"), 1.0),
    )
    for name in _ENHANCE:
        rows[name] = (1.8, 0.1, 0.0, float("inf"), 0.0)
    return torch.tensor([rows[name] for name in OPS])


def layer_arguments(op: Tensor, mag: Tensor, sign: Tensor, spec: RandAugmentSpec) -> Tensor:
    """(n,) float argument of each sample's op, timm's level→argument mapping (skipped ops: 0).

    One table look-up per sample instead of a branch per op: arg = min(level·scale + offset, cap),
    floored for the integer-valued ops, times the random sign for rotate/shear/translate.
    """
    row = _level_table(spec).to(mag.device)[op.clamp(min=0)]  # (n,5)
    arg = (mag / 10.0) * row[:, 0] + row[:, 1]
    arg = torch.where(row[:, 2] > 0, torch.floor(arg), arg).minimum(row[:, 3])
    arg = torch.where(row[:, 4] > 0, arg * sign, arg)
    return torch.where(op >= 0, arg, torch.zeros_like(arg))


def _any(mask: Tensor) -> bool:
    """Whether an op is needed: asked on the CPU only (free there); elsewhere always (no sync)."""
    return bool(mask.any()) if subset.use_subsets(mask.device) else True


def _point_lut(x: Tensor, index: Tensor, op: Tensor, arg: Tensor) -> Tensor:
    """Merged (B,3,256) table of the eight point ops (identity for every other sample)."""
    b = x.shape[0]
    hist = P.histogram(index)
    luts = {
        "AutoContrast": lambda: P.lut_autocontrast(hist),
        "Equalize": lambda: P.lut_equalize(hist),
        "Invert": lambda: P.lut_invert(b, x.device),
        "Posterize": lambda: P.lut_posterize(arg),
        "Solarize": lambda: P.lut_solarize(arg),
        "SolarizeAdd": lambda: P.lut_solarize_add(arg),
        "Contrast": lambda: P.lut_blend_constant(P.contrast_mean(x), arg),
        "Brightness": lambda: P.lut_blend_constant(torch.zeros_like(arg), arg),
    }
    lut = P.lut_identity(b, x.device)
    for name, make in luts.items():
        chosen = (op == _ID[name]).view(-1, 1, 1)
        if _any(chosen):
            lut = torch.where(chosen, make(), lut)
    return lut


def _geometry(op: Tensor, arg: Tensor, h: int, w: int) -> Tensor:
    """(B,3,3) output→input maps of the five geometric ops (identity elsewhere)."""
    zero = torch.zeros_like(arg)
    rot = G.rotation(torch.where(op == _ID["Rotate"], arg, zero), w, h)
    sh = G.shear(torch.where(op == _ID["ShearX"], arg, zero), torch.where(op == _ID["ShearY"], arg, zero))
    tr = G.translation(
        torch.where(op == _ID["TranslateXRel"], arg * w, zero), torch.where(op == _ID["TranslateYRel"], arg * h, zero)
    )
    return rot @ sh @ tr


def apply_layer(x: Tensor, op: Tensor, arg: Tensor, fill: Tensor, bicubic: Tensor | None = None) -> Tensor:
    """Apply each sample's op to (B,3,H,W) levels; op (B,) (−1: none), arg (B,), fill (3,) or (B,3) levels;
    bicubic (B,) bool: resample that sample's geometric op bicubically (None: all bilinear)."""
    op, arg = op.to(x.device), arg.to(x.device)
    index = P.levels_index(x)
    out = P.apply_lut_index(index, _point_lut(x, index, op, arg)).view(x.shape)
    out = apply_where(out, op == _ID["Color"], P.color, arg, inplace=True)
    out = apply_where(out, op == _ID["Sharpness"], P.sharpness, arg, inplace=True)
    geo = torch.zeros_like(op, dtype=torch.bool)
    for name in _SIGNED:
        geo |= op == _ID[name]
    h, w = x.shape[-2:]
    fills = fill.to(x.device, x.dtype).expand(x.shape[0], 3)  # (3,) or (B,3) → (B,3)

    def warp(mode: str):
        def run(imgs: Tensor, o: Tensor, a: Tensor, f: Tensor) -> Tensor:
            moved = G.warp(imgs, _geometry(o, a, h, w), (h, w), fill=f, mode=mode)
            return moved.add_(1e-3).trunc_().clamp_(0.0, 255.0)  # PIL truncates to uint8 (bicubic overshoots)
        return run

    if bicubic is None:
        return apply_where(out, geo, warp("bilinear"), op, arg, fills, inplace=True)
    bicubic = bicubic.to(x.device)
    out = apply_where(out, geo & ~bicubic, warp("bilinear"), op, arg, fills, inplace=True)
    return apply_where(out, geo & bicubic, warp("bicubic"), op, arg, fills, inplace=True)


def rand_augment(x: Tensor, g: torch.Generator, spec: RandAugmentSpec, fill: Tensor) -> Tensor:
    """`spec.num_ops` layers on (B,3,H,W) levels → same shape, whole levels 0..255."""
    for _ in range(spec.num_ops):
        op, mag, sign = sample_layer(g, x.shape[0], spec)
        bicubic = sample_interpolation(g, x.shape[0]) if spec.random_interpolation else None
        x = apply_layer(x, op, layer_arguments(op, mag, sign, spec), fill, bicubic)
    return x
