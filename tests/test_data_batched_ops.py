"""Batched view operations against their per-image twins (timm's PIL ops, torchvision.v2.functional).

Bounds, and why:
- timm point/colour ops (autocontrast … sharpness): 0 levels — the batched LUTs reproduce PIL's
  integer arithmetic (truncating blends, PIL's "L" weights, SMOOTH kernel rounded).
- timm geometry (rotate/shear/translate): ≤ 1 level where the bilinear footprint lies inside the
  image (PIL truncates, float rounding differs by < 1e-3), exactly the fill where it lies fully
  outside; the ≤ 1 px band between differs by design (PIL repeats edge pixels up to half a
  pixel outside the image, we blend towards the fill colour).
- torchvision float colour ops / crop-resize / flip / erase: ≤ 1e-4 (float rounding), hue too.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image
from timm.data import auto_augment as aa
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

from ecl.data.batched import colour as C
from ecl.data.batched import geometry as G
from ecl.data.batched import params as RP
from ecl.data.batched import pil_ops as P
from ecl.data.batched import randaugment as R


def _apply_lut(x: torch.Tensor, lut: torch.Tensor) -> torch.Tensor:
    """x (B,3,H,W) levels, lut (B,3,256) → lut[b, c, x[b, c, i, j]], as RandAugment reads a table."""
    return P.apply_lut_index(P.levels_index(x), lut).view(x.shape)

H, W = 20, 24


def _images(n: int, seed: int = 0) -> list[np.ndarray]:
    """Smooth-ish uint8 RGB test images (H,W,3) with full-range texture."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        base = rng.normal(0, 20, (H, W, 3)).cumsum(0) / 3 + rng.normal(0, 30, (H, W, 3)) + rng.uniform(60, 180)
        out.append(np.clip(base, 0, 255).astype(np.uint8))
    return out


def _stack(arrs) -> torch.Tensor:
    return torch.stack([torch.from_numpy(np.array(a)).permute(2, 0, 1).float() for a in arrs])


@pytest.fixture(scope="module")
def batch():
    imgs = _images(5)
    return _stack(imgs), [Image.fromarray(a) for a in imgs]


# ---------------------------------------------------------------- PIL point and colour ops


def test_point_luts_match_timm_exactly(batch):
    x, pil = batch
    b = x.shape[0]
    hist = P.histogram(x)
    bits = torch.tensor([1, 2, 3, 4, 4])
    thresh = torch.tensor([0, 64, 128, 200, 256])
    add = torch.tensor([0, 30, 60, 110, 128])
    f = torch.tensor([0.1, 0.55, 1.0, 1.45, 1.9])
    cases = [
        (P.lut_autocontrast(hist), [aa.auto_contrast(p) for p in pil]),
        (P.lut_equalize(hist), [aa.equalize(p) for p in pil]),
        (P.lut_invert(b, "cpu"), [aa.invert(p) for p in pil]),
        (P.lut_posterize(bits), [aa.posterize(p, int(v)) for p, v in zip(pil, bits)]),
        (P.lut_solarize(thresh), [aa.solarize(p, int(v)) for p, v in zip(pil, thresh)]),
        (P.lut_solarize_add(add), [aa.solarize_add(p, int(v)) for p, v in zip(pil, add)]),
        (P.lut_blend_constant(torch.zeros(b), f), [aa.brightness(p, float(v)) for p, v in zip(pil, f)]),
        (P.lut_blend_constant(P.contrast_mean(x), f), [aa.contrast(p, float(v)) for p, v in zip(pil, f)]),
    ]
    for k, (lut, ref) in enumerate(cases):
        diff = (_apply_lut(x, lut) - _stack(ref)).abs().max()
        assert diff == 0, (k, diff)


def test_color_and_sharpness_match_timm_exactly(batch):
    x, pil = batch
    f = torch.tensor([0.1, 0.55, 1.0, 1.45, 1.9])
    assert torch.equal(P.color(x, f), _stack([aa.color(p, float(v)) for p, v in zip(pil, f)]))
    assert torch.equal(P.sharpness(x, f), _stack([aa.sharpness(p, float(v)) for p, v in zip(pil, f)]))


def test_equalize_and_autocontrast_on_flat_and_two_level_images():
    flat = torch.full((1, 3, 4, 5), 77.0)
    two = torch.zeros(1, 3, 4, 5)
    two[..., :2, :] = 200.0
    x = torch.cat([flat, two])
    pil = [Image.fromarray(a.permute(1, 2, 0).byte().numpy()) for a in x]
    hist = P.histogram(x)
    assert torch.equal(_apply_lut(x, P.lut_equalize(hist)), _stack([aa.equalize(p) for p in pil]))
    assert torch.equal(_apply_lut(x, P.lut_autocontrast(hist)), _stack([aa.auto_contrast(p) for p in pil]))


# ---------------------------------------------------------------- timm geometry

_GEOMETRY = [
    ("Rotate", aa.rotate, [0.0, 30.0, -30.0, 17.0, -5.0]),
    ("ShearX", aa.shear_x, [0.3, -0.3, 0.1, 0.0, 0.2]),
    ("ShearY", aa.shear_y, [0.3, -0.3, 0.1, 0.0, 0.2]),
    ("TranslateXRel", aa.translate_x_rel, [0.45, -0.45, 0.1, 0.3, -0.2]),
    ("TranslateYRel", aa.translate_y_rel, [0.45, -0.45, 0.1, 0.3, -0.2]),
]


@pytest.mark.parametrize("name,fn,args", _GEOMETRY, ids=[g[0] for g in _GEOMETRY])
def test_geometric_ops_match_timm(batch, name, fn, args):
    x, pil = batch
    fill = (124, 116, 104)
    op = torch.full((len(args),), R.OPS.index(name))
    arg = torch.tensor(args)
    out = R.apply_layer(x, op, arg, torch.tensor(fill, dtype=torch.float32))
    ref = _stack([fn(p, a, fillcolor=fill, resample=Image.BILINEAR) for p, a in zip(pil, args)])
    cover = G.warp(torch.ones(len(args), 1, H, W), R._geometry(op, arg, H, W), (H, W))
    inside = (cover > 1 - 1e-4).expand_as(out)
    outside = (cover < 1e-4).expand_as(out)
    assert inside.float().mean() > 0.5
    assert (out - ref).abs()[inside].max() <= 1.0
    assert torch.equal(out[outside], ref[outside])


def test_per_sample_fill_colour():
    x = torch.full((2, 3, 8, 8), 50.0)
    fill = torch.tensor([[255.0, 0.0, 0.0], [0.0, 0.0, 255.0]])
    m = G.translation(torch.tensor([100.0, 100.0]), torch.zeros(2))  # everything reads outside
    out = G.warp(x, m, (8, 8), fill=fill)
    assert torch.allclose(out, fill.view(2, 3, 1, 1).expand_as(out))
    op = torch.tensor([R.OPS.index("TranslateXRel"), R.OPS.index("Invert")])
    out = R.apply_layer(x, op, torch.tensor([0.45, 0.0]), fill)
    assert torch.equal(out[0, :, :, -1], fill[0].view(3, 1).expand(3, 8))  # right edge: this sample's fill
    assert torch.equal(out[1], 255.0 - x[1])


def test_mixed_ops_in_one_batch_equal_each_op_alone(batch):
    """Each sample its own op: the batch result equals running every sample alone."""
    x, _ = batch
    names = ["Equalize", "Rotate", "Color", "Sharpness", "Posterize"]
    op = torch.tensor([R.OPS.index(n) for n in names])
    arg = torch.tensor([0.0, 20.0, 1.5, 0.4, 2.0])
    fill = torch.tensor([10.0, 20.0, 30.0])
    out = R.apply_layer(x, op, arg, fill)
    for i in range(len(names)):
        alone = R.apply_layer(x[i : i + 1], op[i : i + 1], arg[i : i + 1], fill)
        assert torch.equal(out[i : i + 1], alone)
    skipped = R.apply_layer(x, torch.full((5,), -1), arg, fill)
    assert torch.equal(skipped, x)


# ---------------------------------------------------------------- torchvision colour ops (float)


def test_colour_ops_match_torchvision(batch):
    """Hue and grey here; brightness, contrast and saturation through color_jitter below."""
    x = batch[0] / 255.0
    hue = torch.tensor([-0.1, -0.03, 0.0, 0.05, 0.1])
    for i in range(x.shape[0]):
        assert (C.adjust_hue(x, hue)[i] - TF.adjust_hue(x[i], float(hue[i]))).abs().max() <= 1e-5
    assert torch.allclose(C.grey(x).expand_as(x), TF.rgb_to_grayscale(x, num_output_channels=3), atol=1e-6)


def test_color_jitter_follows_each_samples_order(batch):
    x = batch[0] / 255.0
    g = torch.Generator().manual_seed(3)
    factors = RP.jitter_factors(g, 5, 0.4, 0.4, 0.4, 0.1)
    order = RP.permutations(g, 5, 4)
    out = C.color_jitter(x, factors, order)
    fns = [TF.adjust_brightness, TF.adjust_contrast, TF.adjust_saturation, TF.adjust_hue]
    for i in range(5):
        ref = x[i]
        for k in order[i].tolist():
            ref = fns[k](ref, float(factors[i, k]))
        assert (out[i] - ref).abs().max() <= 1e-5


def test_grayscale_and_erase_match_torchvision(batch):
    x = batch[0] / 255.0
    apply = torch.tensor([True, False, True, False, True])
    out = C.random_grayscale(x, apply)
    for i in range(5):
        ref = TF.rgb_to_grayscale(x[i], num_output_channels=3) if apply[i] else x[i]
        assert torch.allclose(out[i], ref, atol=1e-6)
    boxes = torch.tensor([[0, 0, 3, 4], [5, 2, 7, 1], [10, 11, 9, 12], [1, 1, 1, 1], [0, 0, 19, 23]])
    out = C.erase(x, boxes, apply, 3.0)
    for i in range(5):
        t, l, h, w = boxes[i].tolist()
        ref = TF.erase(x[i], t, l, h, w, torch.tensor(3.0)) if apply[i] else x[i]
        assert torch.equal(out[i], ref)


# ---------------------------------------------------------------- crop / resize / flip / pad


def test_crop_resize_and_flip_match_torchvision(batch):
    x = batch[0] / 255.0
    boxes = torch.tensor([[0, 0, 20, 24], [3, 5, 10, 7], [8, 1, 12, 20], [0, 20, 2, 4], [19, 23, 1, 1]])
    flip = torch.tensor([False, True, False, True, True])
    s = 13
    top, left, h, w = boxes.unbind(1)
    m = G.box_to_output(top, left, h, w, s, s) @ G.hflip(flip, s)
    clamp = torch.stack([left, top, left + w - 1, top + h - 1], 1).float()
    out = G.warp(x, m, (s, s), clamp_box=clamp)
    for i in range(5):
        t, l, hh, ww = boxes[i].tolist()
        ref = TF.resized_crop(x[i], t, l, hh, ww, [s, s], antialias=False)
        ref = TF.horizontal_flip(ref) if flip[i] else ref
        assert (out[i] - ref).abs().max() <= 1e-4


def test_padded_random_crop_matches_torchvision(batch):
    x = batch[0] / 255.0
    offs = torch.tensor([[0, 0], [8, 8], [3, 5], [4, 4], [8, 0]])
    m = G.translation(offs[:, 1].float() - 4, offs[:, 0].float() - 4)
    out = G.warp(x, m, (H, W))
    for i in range(5):
        padded = TF.pad(x[i], [4, 4, 4, 4], fill=0)
        ref = TF.crop(padded, int(offs[i, 0]), int(offs[i, 1]), H, W)
        assert (out[i] - ref).abs().max() <= 1e-5


def test_affine_about_centre_matches_torchvision(batch):
    """Rotation + whole-pixel shift + scale about the centre = v2.functional.affine (bilinear).

    v2.functional.affine's angle is clockwise; ours (PIL's rotate) counter-clockwise.
    """
    x = batch[0] / 255.0
    ang = torch.tensor([0.0, 10.0, -10.0, 7.0, -3.0])
    tx = torch.tensor([0.0, 2.0, -1.0, 0.0, 3.0])
    ty = torch.tensor([0.0, -2.0, 1.0, 2.0, 0.0])
    sc = torch.tensor([1.0, 0.9, 1.1, 1.05, 0.95])
    # content: scale+rotate about the centre, then move by (tx, ty); read maps chain first op first
    m = G.rotation(ang, W, H) @ G.scaling_about_centre(sc, W, H) @ G.translation(-tx, -ty)
    out = G.warp(x, m, (H, W))
    cover = G.warp(torch.ones(5, 1, H, W), m, (H, W)) > 1 - 1e-4
    for i in range(5):
        ref = TF.affine(
            x[i], angle=-float(ang[i]), translate=[int(tx[i]), int(ty[i])], scale=float(sc[i]), shear=[0.0, 0.0],
            interpolation=v2.InterpolationMode.BILINEAR,
        )
        diff = (out[i] - ref).abs()[cover[i].expand(3, H, W)]
        assert diff.max() <= 1e-3


def test_grid_equals_affine_grid():
    theta = torch.randn(7, 2, 3, generator=torch.Generator().manual_seed(0))
    ref = torch.nn.functional.affine_grid(theta, [7, 3, 5, 9], align_corners=False)
    assert (G._grid(theta, (5, 9), "cpu") - ref).abs().max() <= 1e-5


_FRACTIONAL = [  # moves of a fraction of a pixel (a whole-pixel shift is the same in both resamplers)
    ("Rotate", aa.rotate, [30.0, -30.0, 17.0, -5.0, 12.0]),
    ("ShearX", aa.shear_x, [0.3, -0.3, 0.1, 0.07, 0.2]),
    ("ShearY", aa.shear_y, [0.3, -0.3, 0.1, 0.07, 0.2]),
    ("TranslateXRel", aa.translate_x_rel, [0.45, -0.45, 0.1, 0.3, -0.2]),  # of 24 px
    ("TranslateYRel", aa.translate_y_rel, [0.33, -0.17, 0.12, 0.27, -0.43]),  # of 20 px
]


@pytest.mark.parametrize("name,fn,args", _FRACTIONAL, ids=[g[0] for g in _FRACTIONAL])
def test_bicubic_geometric_ops_are_closer_to_timms_bicubic(batch, name, fn, args):
    """The bicubic resampling is PIL's bicubic up to the kernel (torch A = −0.75): closer to timm's
    BICUBIC op than to its BILINEAR one, and not the bilinear output."""
    x, pil = batch
    fill = (124, 116, 104)
    op, arg = torch.full((len(args),), R.OPS.index(name)), torch.tensor(args)
    everywhere = torch.ones(len(args), dtype=torch.bool)
    out = R.apply_layer(x, op, arg, torch.tensor(fill, dtype=torch.float32), bicubic=everywhere)
    bic = _stack([fn(p, a, fillcolor=fill, resample=Image.BICUBIC) for p, a in zip(pil, args)])
    bil = _stack([fn(p, a, fillcolor=fill, resample=Image.BILINEAR) for p, a in zip(pil, args)])
    cover = G.warp(torch.ones(len(args), 1, H, W), R._geometry(op, arg, H, W), (H, W))
    inside = (cover > 1 - 1e-4).expand_as(out)
    to_bic, to_bil = (out - bic).abs()[inside].mean(), (out - bil).abs()[inside].mean()
    assert to_bic <= 3.0 and to_bic < 0.5 * to_bil
