"""CC-GE loss ‖W/‖W‖_F − P/‖P‖_F‖_F against an explicit double loop."""

from __future__ import annotations

import math

import pytest
import torch

from ecl.losses import CCGELoss


def brute_ccge(w, p) -> float:
    nw = math.sqrt(sum(float(x) ** 2 for row in w for x in row))
    np_ = math.sqrt(sum(float(x) ** 2 for row in p for x in row))
    return math.sqrt(
        sum((float(w[i, j]) / nw - float(p[i, j]) / np_) ** 2 for i in range(w.shape[0]) for j in range(w.shape[1]))
    )


@pytest.mark.parametrize("c,d", [(2, 3), (5, 8), (10, 4)])
def test_matches_bruteforce(c, d):
    g = torch.Generator().manual_seed(c * d)
    w = torch.randn(c, d, generator=g, dtype=torch.float64)
    p = torch.nn.functional.normalize(torch.randn(c, d, generator=g, dtype=torch.float64), dim=1)
    assert CCGELoss()(w, p).item() == pytest.approx(brute_ccge(w, p), rel=1e-12)


def test_scale_invariant_and_zero_when_aligned():
    p = torch.nn.functional.normalize(torch.randn(4, 6, dtype=torch.float64), dim=1)
    assert CCGELoss()(3.7 * p, p).item() == pytest.approx(0.0, abs=1e-12)


def test_gradcheck_and_low_precision():
    w = torch.randn(4, 5, dtype=torch.float64, requires_grad=True)
    p = torch.randn(4, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: CCGELoss()(a, b), (w, p))
    out = CCGELoss()(w.detach().half(), p.detach().bfloat16())
    assert out.dtype == torch.float32 and torch.isfinite(out)


def test_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"d_z must equal d.*\(10, 64\).*\(10, 128\)"):
        CCGELoss()(torch.randn(10, 64), torch.randn(10, 128))
    with pytest.raises(ValueError, match=r"\(10, 64\).*\(9, 64\)"):
        CCGELoss()(torch.randn(10, 64), torch.randn(9, 64))
    with pytest.raises(ValueError, match="classifier_weight"):
        CCGELoss()(torch.randn(10), torch.randn(10, 64))
    with pytest.raises(ValueError, match="prototypes"):
        CCGELoss()(torch.randn(10, 64), torch.randn(2, 10, 64))
