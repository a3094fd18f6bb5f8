"""Every random parameter of the batched views against torchvision's own sampler, over many draws.

For each parameter (colour-jitter factors and hue, RandomResizedCrop boxes, RandomErasing boxes and
whether one fits, RandomAffine angle/shift/scale, the Bernoulli rates) we draw many values with
`ecl.data.batched.params` (or the view code that draws them) and many with torchvision's
`get_params` (the independent reference) and check, with tolerances set by the sampling noise:
the support (never outside the theoretical range, reaching the reference's outer quantiles),
the mean and the spread (within 4.5 standard errors), and the whole distribution (two-sample
Kolmogorov–Smirnov, p > 1e-4). RandAugment: each op's rate and argument (its
magnitude through timm's level function, with the random sign) against timm's own RandAugment.
"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch
from scipy.stats import ks_2samp
from torchvision import transforms as T
from torchvision.transforms import v2

from ecl.data.batched import params as RP
from ecl.data.batched import randaugment as R
from ecl.data.batched.recipes import RECIPES, ViewSpec, _affine_map, recipe_specs
from ecl.data.batched_views import BatchedViews

N = 20_000  # our draws (vectorised)
N_REF = 4_000  # torchvision's draws (a Python loop)
Z = 4.5  # standard errors allowed for a mean or a spread
P_MIN = 1e-4  # smallest KS p-value accepted


@pytest.fixture(autouse=True)
def _one_thread():
    """The references run thousands of tiny ops: a thread team only waits (10× slower on busy cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _np(x) -> np.ndarray:
    """float64 values rounded to 1e-5: our float32 draws and the float64 references then share
    their atoms (e.g. the magnitudes that clip at 10)."""
    return np.round(np.asarray(torch.as_tensor(x, dtype=torch.float64)), 5)


def _std_error_of_std(x: np.ndarray) -> float:
    """Standard error of the sample standard deviation: σ·√((κ − 1)/(4n)), κ the kurtosis."""
    centred = x - x.mean()
    var = centred.var()
    if var == 0:
        return 0.0
    kurtosis = (centred**4).mean() / var**2
    return math.sqrt(var * max(kurtosis - 1.0, 0.0) / (4 * len(x)))


def same_distribution(ours, ref, lo: float, hi: float, name: str) -> None:
    """ours and ref samples of one parameter whose theoretical support is [lo, hi]."""
    a, b = _np(ours), _np(ref)
    assert a.min() >= lo - 1e-6 and a.max() <= hi + 1e-6, f"{name}: outside [{lo}, {hi}]: {a.min()}, {a.max()}"
    q = max(0.001, 10 / len(b))  # a tail quantile the reference estimates from ≥ 10 draws
    low, high = np.quantile(b, q), np.quantile(b, 1 - q)
    assert a.min() <= low and a.max() >= high, (
        f"{name}: ours span {a.min():.4g}..{a.max():.4g}, the reference's {q:.2%} quantiles {low:.4g}..{high:.4g}")
    mean_tol = Z * math.hypot(a.std() / math.sqrt(len(a)), b.std() / math.sqrt(len(b)))
    assert abs(a.mean() - b.mean()) <= mean_tol + 1e-9, f"{name}: mean {a.mean():.4g} vs {b.mean():.4g}"
    std_tol = Z * math.hypot(_std_error_of_std(a), _std_error_of_std(b))
    assert abs(a.std() - b.std()) <= std_tol + 1e-9, f"{name}: std {a.std():.4g} vs {b.std():.4g}"
    test = ks_2samp(a, b)
    assert test.pvalue > P_MIN, f"{name}: KS D={test.statistic:.4f}, p={test.pvalue:.2g}"


def _rate_ok(observed: float, p: float, n: int) -> bool:
    return abs(observed - p) <= Z * math.sqrt(p * (1 - p) / n) + 1e-12


def _jitters() -> list[tuple[float, float, float, float]]:
    return sorted({spec.jitter for r in RECIPES for spec in recipe_specs(r) if any(spec.jitter)})


# ---------------------------------------------------------------- colour jitter


@pytest.mark.parametrize("strengths", _jitters())
def test_jitter_factors_match_torchvision(strengths):
    """Brightness, contrast, saturation ~ U(max(0, 1−s), 1+s), hue ~ U(−h, h), torchvision's ranges
    (ColorJitter.get_params); a zero strength leaves its factor neutral (torchvision: not applied)."""
    ours = RP.jitter_factors(torch.Generator().manual_seed(0), N, *strengths)
    assert ours.shape == (N, 4)
    jitter = T.ColorJitter(*strengths)
    ranges = [jitter.brightness, jitter.contrast, jitter.saturation, jitter.hue]
    torch.manual_seed(0)
    ref = [T.ColorJitter.get_params(*ranges)[1:] for _ in range(N_REF)]
    for k, (name, s) in enumerate(zip(("brightness", "contrast", "saturation", "hue"), strengths)):
        if s == 0:
            assert (ours[:, k] == (0.0 if k == 3 else 1.0)).all() and ranges[k] is None, name
            continue
        lo, hi = (-s, s) if k == 3 else (max(0.0, 1 - s), 1 + s)
        same_distribution(ours[:, k], [r[k] for r in ref], lo, hi, f"{name} {strengths}")


def test_jitter_and_grey_in_the_view_match_torchvision_pixel_for_pixel_distribution():
    """The contrastive view's colour stage (ColorJitter(0.4,0.4,0.4,0.1) p 0.8, random order, then
    RandomGrayscale(0.2)) on one fixed 2×2 image: the distribution of each of the 12 output values
    equals torchvision's v2 transforms' over the same image (factors, order, hue and rates at once)."""
    img = torch.tensor([[[0.9, 0.2], [0.5, 0.1]], [[0.3, 0.7], [0.5, 0.2]], [[0.1, 0.4], [0.6, 0.8]]])
    spec = ViewSpec(crop="fit", flip=False, jitter=(0.4, 0.4, 0.4, 0.1), jitter_p=0.8, grey_p=0.2)
    assert spec.jitter == recipe_specs("authors")[1].jitter and spec.grey_p == recipe_specs("authors")[1].grey_p
    bv = BatchedViews("authors", 2, (0.0,) * 3, (1.0,) * 3)
    ours = bv.view(img.expand(N, 3, 2, 2), torch.Generator().manual_seed(1), spec)
    ref_tf = v2.Compose([v2.RandomApply([v2.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8), v2.RandomGrayscale(0.2)])
    torch.manual_seed(1)
    ref = torch.stack([ref_tf(img) for _ in range(N_REF)])
    for c in range(3):
        for i in range(2):
            for j in range(2):
                same_distribution(ours[:, c, i, j], ref[:, c, i, j], 0.0, 1.0, f"pixel ({c},{i},{j})")


# ---------------------------------------------------------------- RandomResizedCrop


@pytest.mark.parametrize("h,w,scale,ratio", [
    (32, 32, (0.08, 1.0), (3 / 4, 4 / 3)),  # authors at 32 px
    (24, 40, (0.08, 1.0), (3 / 4, 4 / 3)),  # a non-square source
    (8, 8, (0.5, 1.0), (0.8, 1.25)),  # small's contrastive view on 8-px digits
    (28, 28, (0.5, 1.0), (0.8, 1.25)),
    (6, 30, (0.5, 1.0), (0.8, 1.25)),  # a strip: torchvision's fallback often
])
def test_rrc_boxes_match_torchvision(h, w, scale, ratio):
    boxes = RP.rrc_boxes(torch.Generator().manual_seed(0), N, h, w, scale, ratio)
    torch.manual_seed(0)
    blank = torch.zeros(3, h, w)
    ref = torch.tensor([T.RandomResizedCrop.get_params(blank, list(scale), list(ratio)) for _ in range(N_REF)])
    top, left, bh, bw = boxes.unbind(1)
    assert (bh >= 1).all() and (bw >= 1).all() and (top >= 0).all() and (left >= 0).all()
    assert (top + bh <= h).all() and (left + bw <= w).all()
    tag = f"{h}x{w} scale {scale} ratio {ratio}"
    same_distribution(bh, ref[:, 2], 1, h, f"height {tag}")
    same_distribution(bw, ref[:, 3], 1, w, f"width {tag}")
    same_distribution(top, ref[:, 0], 0, h - 1, f"top {tag}")
    same_distribution(left, ref[:, 1], 0, w - 1, f"left {tag}")
    same_distribution(bh * bw / (h * w), ref[:, 2] * ref[:, 3] / (h * w), 0, 1, f"area {tag}")
    same_distribution(torch.log(bw / bh), torch.log(ref[:, 3] / ref[:, 2]), -math.log(w), math.log(w),
                      f"log aspect {tag}")


# ---------------------------------------------------------------- RandomErasing


@pytest.mark.parametrize("size", [32, 12, 224])
def test_erase_boxes_and_fit_rate_match_torchvision(size):
    """The recipes' RandomErasing box (scale 0.02–0.33, ratio 0.3–3.3, ten attempts): whether one
    fits, and its height, width and position, against RandomErasing.get_params."""
    spec = recipe_specs("authors")[0]
    boxes, found = RP.erase_boxes(torch.Generator().manual_seed(0), N, size, size, spec.erase_scale, spec.erase_ratio)
    torch.manual_seed(0)
    img = torch.zeros(3, size, size)
    ref = torch.tensor([T.RandomErasing.get_params(img, spec.erase_scale, spec.erase_ratio, [3.0])[:4]
                        for _ in range(N_REF)])
    ref_found = ref[:, 2] < size  # torchvision's "nothing fits": the whole image, returned unerased
    p = ref_found.double().mean().item()
    assert abs(found.double().mean().item() - p) <= Z * math.sqrt(max(p * (1 - p), 1 / N_REF) / N_REF)
    boxes, ref = boxes[found], ref[ref_found]
    top, left, bh, bw = boxes.unbind(1)
    assert (bh < size).all() and (bw < size).all() and (top + bh <= size).all() and (left + bw <= size).all()
    for k, name in enumerate(("top", "left", "height", "width")):
        same_distribution(boxes[:, k], ref[:, k], 0, size - 1, f"erase {name} at {size}")
    area = bh * bw / size**2
    same_distribution(area, ref[:, 2] * ref[:, 3] / size**2, 0, 1, f"erase area at {size}")


# ---------------------------------------------------------------- RandomAffine (small recipe)


def _decompose(m: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Read map (B,3,3) = rotation(angle)·scaling(sc)·translation(−t) about the centre →
    (angle in degrees, tx, ty, sc), each (B,)."""
    lin = m[:, :2, :2].double()
    sc = 1.0 / torch.sqrt(torch.det(lin))
    angle = -torch.rad2deg(torch.atan2(lin[:, 0, 1], lin[:, 0, 0]))
    c = torch.tensor([size / 2.0, size / 2.0], dtype=torch.float64)
    at_centre = (m.double() @ torch.tensor([size / 2.0, size / 2.0, 1.0], dtype=torch.float64))[:, :2]
    t = torch.linalg.solve(lin, (c - at_centre).unsqueeze(-1)).squeeze(-1)
    return angle, t[:, 0], t[:, 1], sc


@pytest.mark.parametrize("recipe_view,size", [(0, 8), (0, 32), (1, 28)])
def test_affine_draws_match_torchvision(recipe_view, size):
    """small's RandomAffine: angle U(±10°), whole-pixel shift round(U(±0.1·S)), scale U(0.9, 1.1)
    (classifier view; the contrastive view rotates only), against RandomAffine.get_params."""
    spec = recipe_specs("small")[recipe_view]
    angle, tx, ty, sc = _decompose(_affine_map(torch.Generator().manual_seed(0), N, spec, size), size)
    assert torch.allclose(tx, tx.round(), atol=1e-4) and torch.allclose(ty, ty.round(), atol=1e-4)
    translate = [spec.translate, spec.translate] if spec.translate else None
    scale = list(spec.scale) if spec.scale != (1.0, 1.0) else None
    torch.manual_seed(0)
    ref = [T.RandomAffine.get_params([-spec.degrees, spec.degrees], translate, scale, None, [size, size])
           for _ in range(N_REF)]
    d, max_d = spec.degrees, spec.translate * size
    same_distribution(angle, [r[0] for r in ref], -d, d, "angle")
    if translate is None:
        assert (tx.round() == 0).all() and (ty.round() == 0).all()
    else:
        same_distribution(tx.round(), [r[1][0] for r in ref], -round(max_d), round(max_d), "tx")
        same_distribution(ty.round(), [r[1][1] for r in ref], -round(max_d), round(max_d), "ty")
    if scale is None:
        assert torch.allclose(sc, torch.ones_like(sc))
    else:
        same_distribution(sc, [r[2] for r in ref], *scale, "scale")


# ---------------------------------------------------------------- Bernoulli rates


def _rates() -> list[tuple[str, float]]:
    """Every probability a recipe's views draw (flip 0.5, jitter, grey, erasing)."""
    found = set()
    for recipe in RECIPES:
        for spec in recipe_specs(recipe):
            found |= {("flip", 0.5)} if spec.flip else set()
            found |= {("jitter", spec.jitter_p)} if any(spec.jitter) and spec.jitter_p < 1 else set()
            found |= {("grey", spec.grey_p)} if spec.grey_p else set()
            found |= {("erase", spec.erase_p)} if spec.erase_p else set()
    return sorted(found)


@pytest.mark.parametrize("what,p", _rates())
def test_bernoulli_rates_and_independence(what, p):
    """torchvision's `torch.rand(1) < p` per image: the rate within binomial noise, for the whole
    batch and in each of 20 blocks (one draw per image, not per batch), and two successive draws
    independent (P(both) = p²)."""
    g = torch.Generator().manual_seed(0)
    a, b = RP.bernoulli(g, N, p), RP.bernoulli(g, N, p)
    assert a.dtype == torch.bool and a.shape == (N,)
    assert _rate_ok(a.double().mean().item(), p, N), what
    blocks = a.view(20, -1).double().mean(1)
    assert all(_rate_ok(r, p, N // 20) for r in blocks.tolist()), what
    assert _rate_ok((a & b).double().mean().item(), p * p, N), what


# ---------------------------------------------------------------- RandAugment


def _timm_layers(spec: R.RandAugmentSpec, calls: int) -> dict[str, list[float]]:
    """timm's RandAugment of `spec` called `calls` times with every op replaced by a recorder:
    {op: [its argument (level function of the sampled magnitude, random sign) per application]}."""
    from PIL import Image
    from timm.data import auto_augment as aa

    config = f"rand-n{spec.num_ops}-m{spec.magnitude:g}-mstd{spec.magnitude_std:g}-p{spec.prob:g}"
    transform = aa.rand_augment_transform(config, {"translate_pct": spec.translate_pct, "img_mean": (0, 0, 0)})
    applied: dict[str, list[float]] = {name: [] for name in R.OPS}

    def recorder(name: str):
        def record(img, *args, **kwargs):
            applied[name].append(float(args[0]) if args else 0.0)
            return img
        return record

    for op in transform.ops:
        op.aug_fn = recorder(op.name)
    random.seed(0), np.random.seed(0)
    img = Image.new("RGB", (1, 1))
    for _ in range(calls):
        transform(img)
    return applied


_ARG_RANGE = {"Rotate": 30.0, "ShearX": 0.3, "ShearY": 0.3, "TranslateXRel": 0.45, "TranslateYRel": 0.45,
              "Posterize": (0.0, 4.0), "Solarize": (0.0, 256.0), "SolarizeAdd": (0.0, 110.0),
              "Color": (0.1, 1.9), "Contrast": (0.1, 1.9), "Brightness": (0.1, 1.9), "Sharpness": (0.1, 1.9)}


@pytest.mark.parametrize("recipe", ["authors", "small"])
def test_randaugment_ops_and_arguments_match_timms_sampler(recipe):
    """Per layer: each op's rate (p/15, uniform choice with replacement, skipped with 1 − p) and the
    distribution of its argument (magnitude ~ N(M, S) clipped to [0, 10] through timm's level
    function, signed at random) against timm's RandAugment (authors: rand-n2-m10-mstd0.5, where half
    the magnitudes clip at 10; small: rand-n1-m5-mstd0.5)."""
    spec = recipe_specs(recipe)[0].randaugment
    op, mag, sign = R.sample_layer(torch.Generator().manual_seed(0), N * 3, spec)
    args = R.layer_arguments(op, mag, sign, spec)
    calls = 12_000 // spec.num_ops
    ref = _timm_layers(spec, calls)
    for k, name in enumerate(R.OPS):
        ours = args[op == k]
        layers = calls * spec.num_ops
        assert _rate_ok(ours.numel() / (N * 3), spec.prob / len(R.OPS), N * 3), name
        assert _rate_ok(len(ref[name]) / layers, spec.prob / len(R.OPS), layers), name
        if name in _ARG_RANGE:
            bound = _ARG_RANGE[name]
            lo, hi = (-bound, bound) if isinstance(bound, float) else bound
            same_distribution(ours, ref[name], lo, hi, f"{recipe} {name}")
