"""The training recipes of docs/METHOD.md "Views" as batched tensor pipelines: `BatchedViews`.

`BatchedViews(recipe, image_size, mean, std)(images, generator)` turns a uint8 (or [0,1] float)
batch (B,3,h,w) on any device into [classifier view, contrastive view 1..V], each (B,3,S,S)
float32 normalised. Every random number comes from the passed torch.Generator (parameters are
drawn on the generator's device), so a CPU generator seeded from (seed, epoch, step) makes the
views reproducible on any device.

Recipes (per view: geometry → colour jitter → grey → RandAugment → erasing → normalise):
- authors: view 1 RandomResizedCrop(S, 0.08–1, 3/4–4/3) → flip → ColorJitter(0.4,0.4,0.4,0) →
  timm rand-n2-m10-mstd0.5 (fill = mean colour) → RandomErasing(p 0.5, value 3, in [0,1] units,
  before normalisation); views 2.. RRC → flip → ColorJitter(0.4,0.4,0.4,0.1) p 0.8 → grey p 0.2 →
  RandomErasing(p 0.5, value 3).
- bcl: as authors with RandomCrop(S, padding S/8 = 4 at 32 px, zero fill) + flip instead of the
  RRC, and no erasing on the contrastive views.
- small: view 1 fit to S → RandomAffine(10°, translate 0.1, scale 0.9–1.1) → ColorJitter(0.3, 0.3)
  → rand-n1-m5-mstd0.5; views 2.. RRC(S, 0.5–1, 0.8–1.25) → RandomAffine(10°) →
  ColorJitter(0.4,0.4,0.4,0.1) p 0.8 → grey p 0.2; flip only with flip=True (digits: none).
All geometry of a view (fit/crop, affine, flip) is ONE matrix per sample and ONE bilinear
grid_sample (a crop without affine reads inside its box only, like cut-then-resize; sources
larger than S are resized with antialias first for fit/pad; an RRC box larger than S — only
when the stored images exceed S — is sampled bilinearly without antialias). torchvision's
RandomAffine defaults to nearest; we resample bilinearly. ColorJitter applies its ops in a
random order per sample. The V contrastive views are made as one batch of V·B.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
from torch import Tensor
from torchvision.transforms.v2 import functional as TF

from . import colour as C
from . import geometry as G
from . import params as RP
from .randaugment import RandAugmentSpec, rand_augment
from ..ragged import RaggedImages, ragged_first_geometry

__all__ = ["RECIPES", "ViewSpec", "BatchedViews", "ViewConfigError", "recipe_specs"]

RECIPES = ("authors", "bcl", "small")


class ViewConfigError(ValueError):
    """Bad BatchedViews argument; the message names it."""


@dataclass(frozen=True)
class ViewSpec:
    """One view's random operations (all probabilities and ranges as torchvision names them)."""

    crop: str = "rrc"  # "rrc" (RandomResizedCrop), "pad" (RandomCrop with padding), "fit" (whole image)
    rrc_scale: tuple[float, float] = (0.08, 1.0)
    rrc_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    pad_fraction: float = 1 / 8
    degrees: float = 0.0
    translate: float = 0.0
    scale: tuple[float, float] = (1.0, 1.0)
    flip: bool = True
    jitter: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    jitter_p: float = 1.0
    grey_p: float = 0.0
    randaugment: RandAugmentSpec | None = None
    erase_p: float = 0.0
    erase_scale: tuple[float, float] = (0.02, 0.33)
    erase_ratio: tuple[float, float] = (0.3, 3.3)

    @property
    def has_affine(self) -> bool:
        return self.degrees > 0 or self.translate > 0 or self.scale != (1.0, 1.0)


def recipe_specs(recipe: str, flip: bool | None = None, erasing: bool | None = None) -> tuple[ViewSpec, ViewSpec]:
    """(classifier view, contrastive view) specs of a recipe; flip=None keeps the recipe's default;
    erasing=False drops RandomErasing from both (None/True: the recipe's)."""
    ra2 = RandAugmentSpec(num_ops=2, magnitude=10, magnitude_std=0.5)
    simclr = dict(jitter=(0.4, 0.4, 0.4, 0.1), jitter_p=0.8, grey_p=0.2)
    if recipe == "authors":
        cls = ViewSpec(jitter=(0.4, 0.4, 0.4, 0.0), randaugment=ra2, erase_p=0.5)
        con = ViewSpec(erase_p=0.5, **simclr)
    elif recipe == "bcl":
        cls = ViewSpec(crop="pad", jitter=(0.4, 0.4, 0.4, 0.0), randaugment=ra2, erase_p=0.5)
        con = ViewSpec(crop="pad", **simclr)
    elif recipe == "small":
        cls = ViewSpec(
            crop="fit", degrees=10, translate=0.1, scale=(0.9, 1.1), flip=False, jitter=(0.3, 0.3, 0.0, 0.0),
            randaugment=RandAugmentSpec(num_ops=1, magnitude=5, magnitude_std=0.5),
        )
        con = ViewSpec(rrc_scale=(0.5, 1.0), rrc_ratio=(0.8, 1.25), degrees=10, flip=False, **simclr)
    else:
        raise ViewConfigError(f"recipe: must be one of {', '.join(RECIPES)}, got {recipe!r}")
    if flip is not None:
        cls, con = replace(cls, flip=bool(flip)), replace(con, flip=bool(flip))
    if erasing is not None and not erasing:
        cls, con = replace(cls, erase_p=0.0), replace(con, erase_p=0.0)
    return cls, con


def _centre_square(x: Tensor, size: int) -> Tensor:
    """torchvision's FitSquare as far as it is exact without resampling: antialiased resize when the
    shorter side exceeds S (never downsample in the warp), then the centre square by slicing
    (CenterCrop's rounding). (B,3,h,w) → (B,3,s,s) with s = min(h, w) (or S)."""
    if min(x.shape[-2:]) > size:
        x = TF.resize(x, [size], antialias=True)
    h, w = x.shape[-2:]
    side = min(h, w)
    top, left = int(round((h - side) / 2.0)), int(round((w - side) / 2.0))
    return x[..., top : top + side, left : left + side]


def _affine_map(g: torch.Generator, b: int, spec: ViewSpec, size: int) -> Tensor:
    """torchvision RandomAffine draws (angle U(±deg), whole-pixel shift U(±t·S), scale U) → read map."""
    angle = RP.uniform(g, b, -spec.degrees, spec.degrees)
    max_d = spec.translate * size
    tx = torch.round(RP.uniform(g, b, -max_d, max_d))
    ty = torch.round(RP.uniform(g, b, -max_d, max_d))
    sc = RP.uniform(g, b, spec.scale[0], spec.scale[1])
    return G.rotation(angle, size, size) @ G.scaling_about_centre(sc, size, size) @ G.translation(-tx, -ty)


def _crop_map(g: torch.Generator, b: int, spec: ViewSpec, h: int, w: int, size: int) -> tuple[Tensor, Tensor | None]:
    """Source → S×S map of the view's crop and the clamp box (crops without affine), both (B,…).

    "fit" and "pad" expect the square from `_centre_square` (h == w).
    """
    if spec.crop == "rrc":
        top, left, bh, bw = RP.rrc_boxes(g, b, h, w, spec.rrc_scale, spec.rrc_ratio).unbind(1)
        box = torch.stack([left, top, left + bw - 1, top + bh - 1], 1).float()
        return G.box_to_output(top, left, bh, bw, size, size), (None if spec.has_affine else box)
    zero, side = torch.zeros(b, device=g.device), torch.full((b,), h, device=g.device)
    fit = G.box_to_output(zero, zero, side, side, size, size)
    if spec.crop == "pad":  # padding reads zeros outside the image: no clamp
        pad = max(1, round(size * spec.pad_fraction))
        off = torch.randint(0, 2 * pad + 1, (b, 2), generator=g, device=g.device).float() - pad
        return fit @ G.translation(off[:, 1], off[:, 0]), None
    whole = torch.tensor([[0.0, 0.0, h - 1.0, h - 1.0]]).expand(b, 4)
    return fit, (None if spec.has_affine else whole)


def _geometry(x: Tensor | RaggedImages, g: torch.Generator, spec: ViewSpec, size: int) -> Tensor:
    """(B,3,h,w) [0,1] → (B,3,S,S): crop/fit, affine and flip in one grid_sample.

    RaggedImages (image files, whole and of their own sizes): first the RRC cut from each whole
    image and resized to S (or the image fitted to S for fit/pad), then the rest (pad crop,
    affine, flip) on that S×S batch — see `ecl.data.ragged`."""
    if isinstance(x, RaggedImages):
        x = ragged_first_geometry(x, g, spec.crop, spec.rrc_scale, spec.rrc_ratio, size)
        spec = replace(spec, crop="fit") if spec.crop == "rrc" else spec
    if spec.crop != "rrc":
        x = _centre_square(x, size)
    b, _, h, w = x.shape
    m, clamp = _crop_map(g, b, spec, h, w, size)
    if spec.has_affine:
        m = m @ _affine_map(g, b, spec, size)
    if spec.flip:
        m = m @ G.hflip(RP.bernoulli(g, b, 0.5), size)
    return G.warp(x, m, (size, size), clamp_box=clamp)


def _colour(x: Tensor, g: torch.Generator, spec: ViewSpec) -> Tensor:
    """ColorJitter (with probability jitter_p, random order per sample) then RandomGrayscale.

    x: (B,3,S,S) in [0,1], owned by the caller (grey is written in place); returns the same shape.
    """
    b = x.shape[0]
    if any(spec.jitter):
        factors = RP.jitter_factors(g, b, *spec.jitter)
        order = RP.permutations(g, b, 4)
        if spec.jitter_p < 1.0:
            off = ~RP.bernoulli(g, b, spec.jitter_p)
            neutral = torch.tensor([1.0, 1.0, 1.0, 0.0], device=factors.device)
            factors = torch.where(off[:, None], neutral, factors)
        enabled = tuple(s > 0 for s in spec.jitter)
        x = C.color_jitter(x, factors.to(x.device), order.to(x.device), enabled)
    if spec.grey_p > 0:
        x = C.random_grayscale(x, RP.bernoulli(g, b, spec.grey_p), inplace=True)
    return x


class BatchedViews:
    """Three (1 + V) augmented views of a batch per call, per docs/METHOD.md "Views", no loop over images.

    recipe: "authors" | "bcl" | "small"; image_size: S; mean/std: 3 values each (normalisation);
    num_contrastive_views: V ≥ 0; fill: RandAugment's fill colour in [0,1] units (default: mean,
    timm's img_mean); flip: override the recipe's horizontal flip (small: off by default);
    erasing: False drops RandomErasing from every view (None/True: the recipe's);
    erase_value: RandomErasing's value in [0,1] units (3: a bright patch); eval_crop_fraction:
    the evaluation view's centre crop (1.0: the whole image; 0.875: Resize 256 → CenterCrop 224).
    """

    def __init__(
        self,
        recipe: str,
        image_size: int,
        mean: Sequence[float],
        std: Sequence[float],
        num_contrastive_views: int = 2,
        fill: Sequence[float] | None = None,
        flip: bool | None = None,
        erase_value: float = 3.0,
        eval_crop_fraction: float = 1.0,
        erasing: bool | None = None,
    ) -> None:
        if int(image_size) < 1:
            raise ViewConfigError(f"image_size: must be ≥ 1, got {image_size!r}")
        if len(mean) != 3 or len(std) != 3 or any(float(s) <= 0 for s in std):
            raise ViewConfigError(f"mean/std: expected 3 values each (std > 0), got {mean!r}, {std!r}")
        if int(num_contrastive_views) < 0:
            raise ViewConfigError(f"num_contrastive_views: must be ≥ 0, got {num_contrastive_views!r}")
        if not 0 < float(eval_crop_fraction) <= 1:
            raise ViewConfigError(f"eval_crop_fraction: must be in (0, 1], got {eval_crop_fraction!r}")
        fill = mean if fill is None else fill
        if len(fill) != 3:
            raise ViewConfigError(f"fill: expected 3 values, got {fill!r}")
        self.recipe = recipe
        self.classifier_spec, self.contrastive_spec = recipe_specs(recipe, flip, erasing)
        self.size = int(image_size)
        self.mean = torch.tensor([float(v) for v in mean])
        self.std = torch.tensor([float(v) for v in std])
        self.fill_levels = torch.tensor([float(round(255 * float(v))) for v in fill])  # timm: img_mean tuple
        self.num_contrastive_views = int(num_contrastive_views)
        self.erase_value = float(erase_value)
        self.eval_crop_fraction = float(eval_crop_fraction)

    def __repr__(self) -> str:
        return (
            f"BatchedViews(recipe={self.recipe!r}, image_size={self.size}, "
            f"num_contrastive_views={self.num_contrastive_views})"
        )

    def _check(self, images: Tensor | RaggedImages) -> Tensor | RaggedImages:
        """(B,3,h,w) uint8 or float in [0,1] → float32 [0,1]; RaggedImages as they are (B ≥ 1)."""
        if isinstance(images, RaggedImages) and len(images) >= 1:
            return images
        if not isinstance(images, Tensor) or images.ndim != 4 or images.shape[1] != 3 or images.shape[0] < 1:
            shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
            raise ViewConfigError(f"images: expected a (B,3,H,W) tensor with B ≥ 1, got {shape}")
        if images.dtype == torch.uint8:
            return images.to(torch.float32).div_(255.0)
        if not images.is_floating_point():
            raise ViewConfigError(f"images: expected uint8 or float, got {images.dtype}")
        return images.to(torch.float32)

    def view(self, x: Tensor | RaggedImages, g: torch.Generator, spec: ViewSpec) -> Tensor:
        """One view of a [0,1] float batch (B,3,h,w) or RaggedImages → (B,3,S,S) float32 normalised."""
        y = _colour(_geometry(x, g, spec, self.size), g, spec)
        if spec.randaugment is not None:
            levels = y.mul(255.0).round_()
            y = rand_augment(levels, g, spec.randaugment, self.fill_levels.to(y.device)).div_(255.0)
        if spec.erase_p > 0:
            b = y.shape[0]
            boxes, found = RP.erase_boxes(g, b, self.size, self.size, spec.erase_scale, spec.erase_ratio)
            apply = RP.bernoulli(g, b, spec.erase_p) & found
            y = C.erase(y, boxes, apply, self.erase_value)
        return C.normalise(y, self.mean.to(y.device), self.std.to(y.device))

    def __call__(self, images: Tensor | RaggedImages, generator: torch.Generator) -> list[Tensor]:
        """images (B,3,h,w) uint8 (or RaggedImages of B whole images) → [classifier view,
        contrastive views…], each (B,3,S,S) float32."""
        x = self._check(images)
        views = [self.view(x, generator, self.classifier_spec)]
        if self.num_contrastive_views:  # all contrastive views as one batch of V·B: fewer, larger ops
            rep = x.repeat(self.num_contrastive_views, 1, 1, 1)
            views += list(self.view(rep, generator, self.contrastive_spec).split(len(x)))
        return views

    def eval_view(self, images: Tensor) -> Tensor:
        """Deterministic centre view: centre square (× eval_crop_fraction) resized to S (antialiased)."""
        x = self._check(images)
        h, w = x.shape[-2:]
        side = int(round(self.eval_crop_fraction * min(h, w)))
        if (h, w) != (side, side) or side != self.size:
            top, left = int(round((h - side) / 2)), int(round((w - side) / 2))
            x = TF.resized_crop(x, top, left, side, side, [self.size, self.size], antialias=True)
        return C.normalise(x, self.mean.to(x.device), self.std.to(x.device))
