"""Batched RandAugment (timm rand-n2-m10-mstd0.5): draws over many samples, and per-sample ops.

References are independent: numpy draws of N(10, 0.5) clipped to [0, 10] for the magnitude, and
timm's level→argument functions (`timm.data.auto_augment.LEVEL_TO_ARG`) for the arguments.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from timm.data import auto_augment as aa

from ecl.data.batched import randaugment as R

N = 60_000


@pytest.fixture(scope="module")
def draws():
    g = torch.Generator().manual_seed(0)
    spec = R.RandAugmentSpec()
    op, mag, sign = R.sample_layer(g, N, spec)
    return spec, op, mag, sign, R.layer_arguments(op, mag, sign, spec)


def test_op_set_is_timms():
    assert list(R.OPS) == list(aa._RAND_TRANSFORMS)


def test_skip_rate_and_uniform_op_choice(draws):
    _, op, *_ = draws
    applied = op[op >= 0]
    assert abs(applied.numel() / N - 0.5) < 0.01
    freq = torch.bincount(applied, minlength=15).float() / applied.numel()
    assert (freq - 1 / 15).abs().max() < 0.01  # ~2000 per op: 4σ ≈ 0.006


def test_magnitude_mean_std_and_clip(draws):
    _, _, mag, _, _ = draws
    ref = np.clip(np.random.default_rng(1).normal(10.0, 0.5, N), 0, 10)
    assert mag.min() >= 0 and mag.max() <= 10
    assert abs(mag.mean().item() - ref.mean()) < 0.01
    assert abs(mag.std().item() - ref.std()) < 0.01
    assert abs((mag == 10).float().mean().item() - 0.5) < 0.01


def test_arguments_follow_timms_level_functions(draws):
    spec, op, mag, sign, arg = draws
    hp = dict(translate_pct=0.45, translate_const=250, img_mean=(0, 0, 0))
    for i in range(0, 3000, 7):
        k = int(op[i])
        if k < 0:
            continue
        name = R.OPS[k]
        fn = aa.LEVEL_TO_ARG[name]
        if fn is None:
            continue
        if name in R._SIGNED:  # timm negates at random; compare magnitudes and check the sign separately
            ref = abs(fn(float(mag[i]), hp)[0])
            assert abs(abs(float(arg[i])) - ref) < 1e-4, name
        else:
            assert abs(float(arg[i]) - fn(float(mag[i]), hp)[0]) < 1e-4, name


def test_rotation_range_and_sign(draws):
    _, op, _, _, arg = draws
    rot = arg[op == R.OPS.index("Rotate")]
    assert rot.abs().max() <= 30.0 + 1e-5
    assert rot.abs().max() > 29.99
    assert abs((rot > 0).float().mean().item() - 0.5) < 0.05
    assert rot.abs().min() > 20.0  # m ~ N(10, 0.5): |angle| = 3·m, below 20° is a 6.7σ event
    tr = arg[op == R.OPS.index("TranslateXRel")]
    assert tr.abs().max() <= 0.45 + 1e-6


def test_posterize_bits_at_m10(draws):
    _, op, mag, _, arg = draws
    bits = arg[op == R.OPS.index("Posterize")]
    assert set(bits.unique().tolist()) <= {3.0, 4.0}
    assert abs((bits == 4).float().mean().item() - 0.5) < 0.05


def test_two_layers_each_sample_its_own_ops():
    g = torch.Generator().manual_seed(5)
    x = torch.randint(0, 256, (64, 3, 12, 12)).float()
    out = R.rand_augment(x, g, R.RandAugmentSpec(), torch.tensor([124.0, 116.0, 104.0]))
    assert out.shape == x.shape and out.dtype == torch.float32
    assert torch.equal(out, out.round()) and out.min() >= 0 and out.max() <= 255
    changed = (out != x).flatten(1).any(1).float().mean().item()
    assert 0.5 < changed < 0.95  # P(both layers skip) = 1/4, some ops can be no-ops


def test_same_generator_state_same_result():
    x = torch.randint(0, 256, (16, 3, 10, 10)).float()
    fill = torch.tensor([1.0, 2.0, 3.0])
    a = R.rand_augment(x, torch.Generator().manual_seed(9), R.RandAugmentSpec(), fill)
    b = R.rand_augment(x, torch.Generator().manual_seed(9), R.RandAugmentSpec(), fill)
    c = R.rand_augment(x, torch.Generator().manual_seed(10), R.RandAugmentSpec(), fill)
    assert torch.equal(a, b) and not torch.equal(a, c)


# --- bilinear or bicubic per op application, as timm (_RANDOM_INTERPOLATION) -----------------------

def test_each_geometric_op_is_bilinear_or_bicubic_half_the_time():
    """End to end: which resampler each sample's geometric op used, read from the output (it equals
    exactly one of the two resamplings); the bicubic share is 0.5 within binomial noise."""
    from test_data_batched_ops import _images, _stack  # the ops tests' textured images

    n = 2000
    x = _stack(_images(1)).expand(n, -1, -1, -1).contiguous()
    spec = R.RandAugmentSpec(num_ops=1, magnitude=10, magnitude_std=0.0, prob=1.0)
    fill = torch.tensor([124.0, 116.0, 104.0])
    out = R.rand_augment(x.clone(), torch.Generator().manual_seed(3), spec, fill)
    op, mag, sign = R.sample_layer(torch.Generator().manual_seed(3), n, spec)  # the same op draws
    arg = R.layer_arguments(op, mag, sign, spec)
    bilinear = R.apply_layer(x.clone(), op, arg, fill)
    bicubic = R.apply_layer(x.clone(), op, arg, fill, bicubic=torch.ones(n, dtype=torch.bool))
    geometric = torch.isin(op, torch.tensor([R.OPS.index(k) for k in R._SIGNED]))
    is_bil = (out == bilinear).flatten(1).all(1)
    is_bic = (out == bicubic).flatten(1).all(1)
    # the resamplers differ except on a whole-pixel shift (TranslateYRel: 0.45·20 = 9 px)
    differ = geometric & ~(bilinear == bicubic).flatten(1).all(1)
    assert bool((is_bil ^ is_bic)[differ].all())  # and exactly one of them was used
    assert bool((is_bil & is_bic)[~differ].all())  # point ops: no resampling
    k = int(differ.sum())
    assert k > 0.2 * n  # 4 of the 15 ops move by a fraction of a pixel
    share = float(is_bic[differ].float().mean())
    assert abs(share - 0.5) <= 4 * math.sqrt(0.25 / k)
    fixed = R.RandAugmentSpec(num_ops=1, magnitude=10, magnitude_std=0.0, prob=1.0, random_interpolation=False)
    only = R.rand_augment(x.clone(), torch.Generator().manual_seed(3), fixed, fill)
    assert torch.equal(only, bilinear)  # random_interpolation=False: bilinear only
