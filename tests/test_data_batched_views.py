"""BatchedViews recipes: shapes, determinism, and the distributions of their random draws.

Random-parameter distributions are compared with torchvision's own `get_params` over many draws
(an independent sampler of the same parameterisation); rates with binomial tolerances (≥ 4σ).
"""

from __future__ import annotations

import math

import pytest
import torch
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

from ecl.data.batched import params as RP
from ecl.data.batched.recipes import ViewSpec
from ecl.data.batched_views import RECIPES, BatchedViews, ViewConfigError, recipe_specs

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
ZERO, ONE = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)


def _images(b: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (b, 3, h, w), generator=g, dtype=torch.uint8)


# ---------------------------------------------------------------- API, shapes, determinism


@pytest.mark.parametrize("recipe", RECIPES)
@pytest.mark.parametrize("b,h,w,s", [(1, 32, 32, 32), (5, 7, 9, 13), (3, 8, 8, 16)])
def test_shapes_dtype_and_count(recipe, b, h, w, s):
    bv = BatchedViews(recipe, s, MEAN, STD, num_contrastive_views=2)
    views = bv(_images(b, h, w), torch.Generator().manual_seed(0))
    assert len(views) == 3
    for v in views:
        assert v.shape == (b, 3, s, s) and v.dtype == torch.float32 and torch.isfinite(v).all()
    assert bv.eval_view(_images(b, h, w)).shape == (b, 3, s, s)


@pytest.mark.parametrize("recipe", RECIPES)
def test_same_seed_same_views_other_seed_other_views(recipe):
    bv = BatchedViews(recipe, 16, MEAN, STD)
    x = _images(6, 16, 16)
    a = bv(x, torch.Generator().manual_seed(3))
    b = bv(x, torch.Generator().manual_seed(3))
    c = bv(x, torch.Generator().manual_seed(4))
    assert all(torch.equal(p, q) for p, q in zip(a, b))
    assert all(not torch.equal(p, q) for p, q in zip(a, c))
    assert not torch.equal(a[1], a[2])  # the two contrastive views differ


def test_uint8_and_float_input_agree():
    bv = BatchedViews("authors", 16, MEAN, STD)
    x = _images(4, 16, 16)
    a = bv(x, torch.Generator().manual_seed(1))
    b = bv(x.float() / 255.0, torch.Generator().manual_seed(1))
    assert all(torch.allclose(p, q, atol=1e-5) for p, q in zip(a, b))


def test_input_not_modified():
    x = _images(4, 12, 12)
    before = x.clone()
    BatchedViews("small", 12, MEAN, STD)(x, torch.Generator().manual_seed(0))
    assert torch.equal(x, before)


def test_bad_arguments_raise_value_errors():
    with pytest.raises(ViewConfigError, match="recipe"):
        BatchedViews("nope", 32, MEAN, STD)
    with pytest.raises(ValueError, match="mean/std"):
        BatchedViews("bcl", 32, MEAN, (0.1, 0.0, 0.1))
    with pytest.raises(ValueError, match="images"):
        BatchedViews("bcl", 32, MEAN, STD)(torch.zeros(2, 1, 32, 32), torch.Generator())


def test_eval_view_is_centre_resize_and_normalise():
    x = _images(3, 20, 30)
    out = BatchedViews("authors", 16, MEAN, STD, eval_crop_fraction=0.875).eval_view(x)
    side = round(0.875 * 20)
    ref = TF.resized_crop(x.float() / 255, round((20 - side) / 2), round((30 - side) / 2), side, side, [16, 16])
    ref = TF.normalize(ref, list(MEAN), list(STD))
    assert torch.allclose(out, ref, atol=1e-5)
    same = BatchedViews("bcl", 20, MEAN, STD).eval_view(_images(2, 20, 20))
    assert torch.allclose(same, TF.normalize(_images(2, 20, 20).float() / 255, list(MEAN), list(STD)), atol=1e-6)


def test_recipe_structure():
    cls, con = recipe_specs("authors")
    assert cls.crop == "rrc" and cls.rrc_scale == (0.08, 1.0) and cls.jitter == (0.4, 0.4, 0.4, 0.0)
    assert cls.randaugment.num_ops == 2 and cls.randaugment.magnitude == 10 and cls.erase_p == 0.5
    assert con.jitter == (0.4, 0.4, 0.4, 0.1) and con.jitter_p == 0.8 and con.grey_p == 0.2 and con.erase_p == 0.5
    cls, con = recipe_specs("bcl")
    assert cls.crop == con.crop == "pad" and con.erase_p == 0 and cls.erase_p == 0.5
    cls, con = recipe_specs("small")
    assert not cls.flip and not con.flip and cls.degrees == 10 and cls.translate == 0.1
    assert con.rrc_scale == (0.5, 1.0) and con.rrc_ratio == (0.8, 1.25)
    assert recipe_specs("small", flip=True)[0].flip


# ---------------------------------------------------------------- distributions through the pipeline


def _view(spec: ViewSpec, x: torch.Tensor, seed: int, size: int, mean=ZERO, std=ONE, **kw) -> torch.Tensor:
    bv = BatchedViews("bcl", size, mean, std, **kw)
    return bv.view(x.float() / 255.0, torch.Generator().manual_seed(seed), spec)


def test_flip_rate_half():
    ramp = torch.arange(16, dtype=torch.uint8).mul(15).view(1, 1, 1, 16).expand(4000, 3, 16, 16).contiguous()
    out = _view(ViewSpec(crop="fit", flip=True), ramp, 0, 16)
    flipped = out[:, 0, 0, 0] > out[:, 0, 0, -1]
    assert torch.allclose(out[flipped], ramp[flipped].flip(-1).float() / 255, atol=1e-5)
    assert torch.allclose(out[~flipped], ramp[~flipped].float() / 255, atol=1e-5)
    assert abs(flipped.float().mean().item() - 0.5) < 0.035


def test_grey_rate_and_jitter_probability():
    x = _images(4000, 8, 8)
    spec = ViewSpec(crop="fit", flip=False, grey_p=0.2)
    out = _view(spec, x, 1, 8)
    grey = (out[:, 0] == out[:, 1]).flatten(1).all(1) & (out[:, 1] == out[:, 2]).flatten(1).all(1)
    assert abs(grey.float().mean().item() - 0.2) < 0.03
    jit = ViewSpec(crop="fit", flip=False, jitter=(0.4, 0.0, 0.0, 0.0), jitter_p=0.8)
    out = _view(jit, x, 2, 8)
    changed = (out - x.float() / 255).abs().flatten(1).amax(1) > 1e-6
    assert abs(changed.float().mean().item() - 0.8) < 0.03


def test_erasing_rate_value_and_area():
    x = torch.zeros(4000, 3, 32, 32, dtype=torch.uint8)
    out = _view(ViewSpec(crop="fit", flip=False, erase_p=0.5), x, 3, 32, mean=MEAN, std=STD)
    val = (3.0 - torch.tensor(MEAN)) / torch.tensor(STD)
    erased = (out == val.view(1, 3, 1, 1)).all(1)  # (B,H,W)
    rate = erased.flatten(1).any(1).float()
    assert abs(rate.mean().item() - 0.5) < 0.035
    frac = erased.flatten(1).float().mean(1)[rate.bool()]
    ref = []
    torch.manual_seed(0)
    eraser = v2.RandomErasing(p=1.0, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=3.0)
    for _ in range(2000):
        img = torch.zeros(3, 32, 32)
        ref.append((eraser(img) == 3.0).all(0).float().mean().item())
    ref_t = torch.tensor(ref)
    assert frac.min() >= 0.015 and frac.max() <= 0.36
    assert abs(frac.mean().item() - ref_t.mean().item()) < 0.01
    assert abs(frac.std().item() - ref_t.std().item()) < 0.01


def test_rrc_boxes_match_torchvision_distribution():
    n, h, w = 20000, 24, 32
    boxes = RP.rrc_boxes(torch.Generator().manual_seed(0), n, h, w, (0.08, 1.0), (3 / 4, 4 / 3))
    top, left, bh, bw = boxes.unbind(1)
    assert (bh >= 1).all() and (bw >= 1).all() and (top + bh <= h).all() and (left + bw <= w).all()
    area = (bh * bw).float() / (h * w)
    torch.manual_seed(0)
    blank = torch.zeros(3, h, w)
    ref = torch.tensor([v2.RandomResizedCrop.get_params(blank, [0.08, 1.0], [3 / 4, 4 / 3]) for _ in range(5000)])
    ref_area = (ref[:, 2] * ref[:, 3]).float() / (h * w)
    assert area.min() >= 0.06 and area.max() <= 1.0
    assert abs(area.mean() - ref_area.mean()) < 0.015
    assert abs(area.std() - ref_area.std()) < 0.015
    lr, ref_lr = torch.log(bw / bh.float()), torch.log(ref[:, 3] / ref[:, 2].float())
    assert abs(lr.mean() - ref_lr.mean()) < 0.02 and abs(lr.std() - ref_lr.std()) < 0.02
    cx = (left + bw / 2) / w
    assert abs(cx.mean().item() - 0.5) < 0.01


def test_rrc_fallback_matches_torchvision():
    """No attempt can fit on a 4×40 strip with ratio ~1 and scale ≥ 0.9: torchvision's centre fallback."""
    boxes = RP.rrc_boxes(torch.Generator().manual_seed(0), 50, 4, 40, (0.9, 1.0), (0.9, 1.1))
    ref = v2.RandomResizedCrop.get_params(torch.zeros(3, 4, 40), [0.9, 1.0], [0.9, 1.1])
    assert (boxes == torch.tensor(ref)).all()
    tall = RP.rrc_boxes(torch.Generator().manual_seed(0), 5, 40, 4, (0.9, 1.0), (0.9, 1.1))
    assert (tall == torch.tensor(v2.RandomResizedCrop.get_params(torch.zeros(3, 40, 4), [0.9, 1.0], [0.9, 1.1]))).all()


def test_padded_crop_offsets_uniform():
    """bcl geometry: a constant image padded by 4 shows a zero border whose width is uniform on 0..8."""
    x = torch.full((6000, 3, 32, 32), 255, dtype=torch.uint8)
    out = _view(ViewSpec(crop="pad", flip=False), x, 4, 32)
    left_zero = (out[:, 0, 16, :] < 0.5).int().cumprod(1).sum(1)  # zero columns at the left edge
    right_zero = (out[:, 0, 16, :].flip(-1) < 0.5).int().cumprod(1).sum(1)
    shift = left_zero - right_zero  # −4..4
    counts = torch.bincount(shift + 4, minlength=9).float() / 6000
    assert (counts - 1 / 9).abs().max() < 0.02


def test_small_affine_angles_within_ten_degrees():
    """A centred bar rotated by the small recipe's affine: its angle stays within ±10° (+ pixel error)."""
    x = torch.zeros(500, 3, 32, 32, dtype=torch.uint8)
    x[:, :, 15:17, 4:28] = 255
    spec = ViewSpec(crop="fit", flip=False, degrees=10)
    out = _view(spec, x, 5, 32)[:, 0]
    ys, xs = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    m = out.sum((1, 2))
    cx, cy = (out * xs).sum((1, 2)) / m, (out * ys).sum((1, 2)) / m
    dx, dy = xs - cx[:, None, None], ys - cy[:, None, None]
    cxx, cyy, cxy = (out * dx * dx).sum((1, 2)), (out * dy * dy).sum((1, 2)), (out * dx * dy).sum((1, 2))
    ang = torch.rad2deg(0.5 * torch.atan2(2 * cxy, cxx - cyy))
    assert ang.abs().max() < 10.5 and ang.abs().max() > 8.5
    assert abs(ang.mean().item()) < 1.0
    assert abs(ang.std().item() - 20 / math.sqrt(12)) < 0.6  # uniform on ±10°


def test_randomresizedcrop_view_equals_crop_then_resize():
    """authors' contrastive geometry without flip: the view is the torchvision crop+resize of its box."""
    x = _images(8, 24, 24)
    spec = ViewSpec(flip=False)
    out = _view(spec, x, 6, 16)
    boxes = RP.rrc_boxes(torch.Generator().manual_seed(6), 8, 24, 24, spec.rrc_scale, spec.rrc_ratio)
    for i in range(8):
        t, l, h, w = boxes[i].tolist()
        ref = TF.resized_crop(x[i].float() / 255, t, l, h, w, [16, 16], antialias=False)
        assert (out[i] - ref).abs().max() < 1e-4


def test_fit_of_a_larger_source_is_antialiased_resize_and_centre_crop():
    for h, w in [(40, 50), (40, 54), (9, 7)]:
        x = _images(3, h, w)
        out = _view(ViewSpec(crop="fit", flip=False), x, 0, 16)
        small = TF.resize(x.float() / 255, [16], antialias=True) if min(h, w) > 16 else x.float() / 255
        side = min(small.shape[-2:])
        ref = TF.resize(TF.center_crop(small, [side, side]), [16, 16], antialias=False)
        assert (out - ref).abs().max() < 1e-4, (h, w)


@pytest.mark.parametrize("recipe", RECIPES)
def test_accelerator_strategy_gives_the_same_views(recipe, monkeypatch):
    """On GPUs ops run on the whole batch and torch.where selects (no sync): same numbers as the CPU subsets."""
    from ecl.data.batched import subset

    bv = BatchedViews(recipe, 16, MEAN, STD)
    x = _images(24, 16, 16)
    cpu = bv(x, torch.Generator().manual_seed(7))
    monkeypatch.setattr(subset, "use_subsets", lambda device: False)
    acc = bv(x, torch.Generator().manual_seed(7))
    assert all((p - q).abs().max() < 1e-4 for p, q in zip(cpu, acc))


def test_authors_views_have_the_per_image_paths_statistics():
    """One image through the batched authors' views and through torchvision v2 + timm RandAugment
    (the per-image path), 600 times each: erased fraction, mean level, within-image contrast and
    colourfulness agree within ~4 standard errors."""
    import random

    import numpy as np
    from PIL import Image
    from timm.data.auto_augment import rand_augment_transform

    n, s = 600, 32
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:s, 0:s]
    img = np.stack([xx * 8, yy * 8, (xx + yy) * 4], -1) + rng.integers(-20, 20, (s, s, 3))
    img = np.clip(img, 0, 255).astype(np.uint8)
    mean = (0.5, 0.45, 0.4)
    random.seed(0), np.random.seed(0), torch.manual_seed(0)
    hp = {"img_mean": tuple(round(255 * m) for m in mean), "translate_pct": 0.45, "interpolation": Image.BILINEAR}
    tail = [v2.PILToTensor(), v2.ToDtype(torch.float32, scale=True), v2.RandomErasing(p=0.5, value=3.0)]
    head = [v2.RandomResizedCrop(s), v2.RandomHorizontalFlip()]
    cls = v2.Compose(head + [v2.ColorJitter(0.4, 0.4, 0.4, 0), rand_augment_transform("rand-n2-m10-mstd0.5", hp)] + tail)
    jitter = v2.RandomApply([v2.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8)
    con = v2.Compose(head + [jitter, v2.RandomGrayscale(0.2)] + tail)
    pil = Image.fromarray(img)
    ref = [torch.stack([cls(pil) for _ in range(n)]), torch.stack([con(pil) for _ in range(n)])]
    bv = BatchedViews("authors", s, ZERO, ONE, num_contrastive_views=1, fill=mean)
    batch = torch.from_numpy(img).permute(2, 0, 1)[None].expand(n, 3, s, s).contiguous()
    ours = bv(batch, torch.Generator().manual_seed(0))

    def stats(t: torch.Tensor) -> torch.Tensor:
        erased = (t == 3.0).all(1)
        kept = torch.where(erased[:, None], torch.nan, t)
        per_std = torch.stack([k[~torch.isnan(k)].std() for k in kept])
        return torch.stack(
            [erased.float().mean(), kept.nanmean(), per_std.mean(), kept.nanmean((2, 3)).std(1).nanmean()]
        )

    for r, o in zip(ref, ours):
        diff = (stats(r) - stats(o)).abs()
        assert (diff <= torch.tensor([0.025, 0.025, 0.02, 0.01])).all(), diff


def test_jitter_order_permutations_uniform():
    perms = RP.permutations(torch.Generator().manual_seed(0), 24000, 4)
    assert (perms.sort(1).values == torch.arange(4)).all()
    code = (perms * torch.tensor([64, 16, 4, 1])).sum(1)
    counts = torch.unique(code, return_counts=True)[1].float() / 24000
    assert counts.numel() == 24 and (counts - 1 / 24).abs().max() < 0.006


@pytest.mark.parametrize("recipe", RECIPES)
def test_each_views_geometry_is_one_grid_sample(recipe, monkeypatch):
    """crop/fit + affine + flip compose into one matrix per sample: one grid_sample per view
    (RandAugment's own geometric ops add one per layer, for the samples that drew them)."""
    from dataclasses import replace

    from ecl.data.batched import geometry

    calls = []
    real = geometry.F.grid_sample
    monkeypatch.setattr(geometry.F, "grid_sample", lambda *a, **k: calls.append(1) or real(*a, **k))
    bv = BatchedViews(recipe, 16, MEAN, STD)
    x = _images(8, 12, 12).float() / 255
    for spec in recipe_specs(recipe):
        calls.clear()
        bv.view(x, torch.Generator().manual_seed(0), replace(spec, randaugment=None))
        assert len(calls) == 1


@pytest.mark.parametrize("recipe", ["authors", "bcl"])
def test_erasing_false_drops_erasing_from_every_batched_view(recipe):
    # a mid-grey batch: every pixel ≤ 1 before normalising, so a value above (1 − mean)/std is an erased patch
    x = torch.full((64, 3, 32, 32), 128, dtype=torch.uint8)
    top = ((1.0 - torch.tensor(MEAN)) / torch.tensor(STD)).view(1, 3, 1, 1) + 1e-4
    erased = BatchedViews(recipe, 32, MEAN, STD, erasing=True)(x, torch.Generator().manual_seed(0))
    assert bool((erased[0] > top).flatten(1).any(1).float().mean() > 0.3)  # p 0.5 on the classifier view
    views = BatchedViews(recipe, 32, MEAN, STD, erasing=False)(x, torch.Generator().manual_seed(0))
    assert all(bool((v <= top).all()) for v in views)
    assert all(spec.erase_p == 0 for spec in recipe_specs(recipe, erasing=False))
