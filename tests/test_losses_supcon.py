"""SupCon (L_out) against an independent brute-force loop of Khosla et al. (2020), eq. 2."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from ecl.losses import SupConLoss


def brute_supcon(features, labels, tau: float) -> float | None:
    zs, ys = [], []
    for b in range(features.shape[0]):
        for v in range(features.shape[1]):
            zs.append([float(x) for x in features[b, v]])
            ys.append(int(labels[b]))
    dot = lambda u, w: sum(a * b for a, b in zip(u, w))  # noqa: E731
    terms = []
    for i in range(len(zs)):
        others = [a for a in range(len(zs)) if a != i]
        pos = [p for p in others if ys[p] == ys[i]]
        if not pos:
            continue
        log_den = math.log(sum(math.exp(dot(zs[i], zs[a]) / tau) for a in others))
        terms.append(-sum(dot(zs[i], zs[p]) / tau - log_den for p in pos) / len(pos))
    return sum(terms) / len(terms) if terms else None


@pytest.mark.parametrize(
    "b,v,d,tau,pool",
    [(6, 2, 5, 0.07, 3), (9, 2, 4, 0.5, 5), (5, 3, 6, 0.1, 5), (8, 1, 3, 0.2, 4), (7, 1, 4, 1.0, 7), (10, 2, 8, 0.05, 2)],
)
def test_matches_bruteforce(b, v, d, tau, pool):
    g = torch.Generator().manual_seed(b * 10 + v)
    features = F.normalize(torch.randn(b, v, d, generator=g, dtype=torch.float64), dim=-1)
    labels = torch.randint(0, pool, (b,), generator=g)
    expected = brute_supcon(features, labels, tau)
    got = SupConLoss(tau)(features, labels)
    if expected is None:
        assert got.item() == 0.0
    else:
        assert got.item() == pytest.approx(expected, rel=1e-10, abs=1e-12)


def test_anchors_without_positive_are_left_out():
    g = torch.Generator().manual_seed(1)
    features = F.normalize(torch.randn(5, 1, 4, generator=g, dtype=torch.float64), dim=-1)
    labels = torch.tensor([0, 0, 1, 2, 3])  # only anchors 0 and 1 have a positive
    got = SupConLoss(0.3)(features, labels)
    assert torch.isfinite(got)
    assert got.item() == pytest.approx(brute_supcon(features, labels, 0.3), rel=1e-10)


@pytest.mark.parametrize("b", [1, 4])
def test_no_positive_anywhere_is_zero_with_grad(b):
    features = F.normalize(torch.randn(b, 1, 4), dim=-1).requires_grad_(True)
    loss = SupConLoss()(features, torch.arange(b))
    assert loss.item() == 0.0 and loss.requires_grad
    loss.backward()
    assert torch.equal(features.grad, torch.zeros_like(features))


def test_gradcheck():
    g = torch.Generator().manual_seed(3)
    features = F.normalize(torch.randn(5, 2, 4, generator=g, dtype=torch.float64), dim=-1).requires_grad_(True)
    labels = torch.tensor([0, 1, 0, 2, 1])
    assert torch.autograd.gradcheck(lambda f: SupConLoss(0.5)(f, labels), (features,))
    f1 = features[:, :1].detach().clone().requires_grad_(True)  # class 2 singleton: left out
    assert torch.autograd.gradcheck(lambda f: SupConLoss(0.5)(f, labels), (f1,))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_finite_at_tau_005(dtype):
    g = torch.Generator().manual_seed(4)
    features = F.normalize(torch.randn(32, 2, 64, generator=g), dim=-1).to(dtype).requires_grad_(True)
    labels = torch.randint(0, 5, (32,), generator=g)
    loss = SupConLoss(0.05)(features, labels)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    (grad,) = torch.autograd.grad(loss, features)
    assert torch.isfinite(grad).all()


def test_invalid():
    for t in (0.0, -1.0, float("inf")):
        with pytest.raises(ValueError, match="temperature"):
            SupConLoss(t)
    with pytest.raises(ValueError, match="features"):
        SupConLoss()(torch.randn(4, 8), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="labels"):
        SupConLoss()(torch.randn(4, 2, 8), torch.zeros(3, dtype=torch.long))
