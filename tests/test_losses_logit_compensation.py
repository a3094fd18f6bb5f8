"""Logit-compensated CE against an explicit loop: −log softmax(logits + τ·log π)_y."""

from __future__ import annotations

import math

import pytest
import torch

from ecl.losses import LogitCompensatedCE


def brute_lc(logits, labels, counts, tau) -> float:
    total = sum(counts)
    out = 0.0
    for row, y in zip(logits.tolist(), labels.tolist()):
        adj = [v + tau * math.log(n / total) for v, n in zip(row, counts)]
        out += -(adj[y] - math.log(sum(math.exp(a) for a in adj)))
    return out / len(labels)


@pytest.mark.parametrize("tau", [0.0, 0.5, 1.0, 2.0])
def test_matches_bruteforce(tau):
    counts = [500, 120, 30, 7, 1]
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(12, 5, generator=g, dtype=torch.float64) * 3
    labels = torch.randint(0, 5, (12,), generator=g)
    got = LogitCompensatedCE(counts, tau=tau)(logits, labels)
    # the log-prior buffer is float32 (module default dtype), hence rel=1e-6
    assert got.item() == pytest.approx(brute_lc(logits, labels, counts, tau), rel=1e-6)


def test_tau_zero_is_plain_ce():
    logits, labels = torch.randn(8, 3), torch.randint(0, 3, (8,))
    torch.testing.assert_close(
        LogitCompensatedCE([5, 2, 1], tau=0.0)(logits, labels), torch.nn.functional.cross_entropy(logits, labels)
    )


def test_log_prior_is_a_buffer_that_moves_with_to():
    m = LogitCompensatedCE([3, 1], tau=1.0)
    assert "log_prior" in dict(m.named_buffers()) and "log_prior" in m.state_dict()
    torch.testing.assert_close(m.log_prior, torch.log(torch.tensor([0.75, 0.25])))
    m = m.to(torch.float64)
    assert m.log_prior.dtype == torch.float64


def test_low_precision_logits():
    out = LogitCompensatedCE([10, 1])(torch.randn(4, 2).half(), torch.tensor([0, 1, 1, 0]))
    assert out.dtype == torch.float32 and torch.isfinite(out)


def test_invalid():
    with pytest.raises(ValueError, match="class 1 has count 0"):
        LogitCompensatedCE([3, 0, 2])
    with pytest.raises(ValueError, match="class 0 has count -1"):
        LogitCompensatedCE([-1, 2])
    with pytest.raises(ValueError, match="class_counts"):
        LogitCompensatedCE([])
    with pytest.raises(ValueError, match="tau"):
        LogitCompensatedCE([1, 2], tau=float("nan"))
    m = LogitCompensatedCE([1, 2, 3])
    with pytest.raises(ValueError, match=r"logits.*\(B, 3\)"):
        m(torch.randn(4, 2), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="label 3"):
        m(torch.randn(2, 3), torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="label -2"):
        m(torch.randn(2, 3), torch.tensor([-2, 0]))
    with pytest.raises(ValueError, match="labels"):
        m(torch.randn(2, 3), torch.tensor([0]))
