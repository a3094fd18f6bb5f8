import numpy as np
import pytest
import torch

from ecl.evaluation.calibration import expected_calibration_error


def _brute_force_ece(probs, labels, n_bins):
    conf = probs.max(1)
    pred = probs.argmax(1)
    total = 0.0
    for b in range(n_bins):
        lo, hi = b / n_bins, (b + 1) / n_bins
        mask = (conf > lo) & (conf <= hi) if b > 0 else (conf <= hi)
        if mask.any():
            total += mask.mean() * abs((pred[mask] == labels[mask]).mean() - conf[mask].mean())
    return total


def test_perfectly_calibrated_is_near_zero():
    rng = np.random.default_rng(0)
    n, c = 200_000, 5
    logits = rng.normal(size=(n, c)) * 2.0
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    # draw each label from the predicted distribution
    u = rng.random(n)[:, None]
    labels = (u > probs.cumsum(1)).sum(1).clip(max=c - 1)
    ece = expected_calibration_error(probs, labels, n_bins=15)
    assert ece < 0.01


def test_overconfident_wrong_is_large():
    rng = np.random.default_rng(1)
    n, c = 1000, 10
    labels = rng.integers(0, c, size=n)
    probs = np.full((n, c), 0.01 / (c - 1))
    wrong = (labels + 1) % c
    probs[np.arange(n), wrong] = 0.99
    assert expected_calibration_error(probs, labels) == pytest.approx(0.99, abs=1e-9)


def test_matches_brute_force_and_accepts_torch():
    rng = np.random.default_rng(2)
    probs = rng.dirichlet(np.ones(4) * 0.5, size=3000)
    labels = rng.integers(0, 4, size=3000)
    ref = _brute_force_ece(probs, labels, 10)
    assert expected_calibration_error(torch.from_numpy(probs).float(), torch.from_numpy(labels), 10) == pytest.approx(
        ref, abs=1e-6
    )


def test_bad_input():
    with pytest.raises(ValueError, match="labels"):
        expected_calibration_error(np.ones((3, 2)) / 2, [0, 1])
    with pytest.raises(ValueError, match="probs"):
        expected_calibration_error(np.ones(3), [0, 1, 1])
    with pytest.raises(ValueError, match="n_bins"):
        expected_calibration_error(np.ones((2, 2)) / 2, [0, 1], n_bins=0)
