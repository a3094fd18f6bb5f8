"""Expected calibration error (Guo et al. 2017, "On Calibration of Modern Neural Networks")."""

from __future__ import annotations

from typing import Any

import numpy as np

from .metrics import _int_vector, _to_numpy

__all__ = ["expected_calibration_error"]


def expected_calibration_error(probs: Any, labels: Any, n_bins: int = 15) -> float:
    """ECE of (N, C) class probabilities against (N,) labels.

    Confidence = max probability, prediction = its argmax. Confidences fall in
    ``n_bins`` equal-width bins over [0, 1] (bin b holds (b/n, (b+1)/n], the
    first bin also holds 0). ECE = Σ_b (|B_b|/N) · |acc(B_b) − conf(B_b)|.
    Returns 0.0 for N = 0.
    """
    p = _to_numpy(probs, "probs").astype(np.float64)
    y = _int_vector(labels, "labels")
    if p.ndim != 2:
        raise ValueError(f"probs must be (N, C), got shape {tuple(p.shape)}")
    if p.shape[0] != y.shape[0]:
        raise ValueError(f"probs has {p.shape[0]} rows but labels has {y.shape[0]} entries")
    if int(n_bins) != n_bins or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    n_bins = int(n_bins)
    num_classes = p.shape[1]
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes - 1}]")
    if not np.all(np.isfinite(p)):
        raise ValueError("probs holds non-finite values")
    n = p.shape[0]
    if n == 0:
        return 0.0
    conf = p.max(axis=1)
    correct = (p.argmax(axis=1) == y).astype(np.float64)
    # bin index: ceil(conf * n_bins) - 1, clipped so conf = 0 goes to bin 0 and conf = 1 to the last.
    idx = np.clip(np.ceil(conf * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    conf_sum = np.bincount(idx, weights=conf, minlength=n_bins)
    acc_sum = np.bincount(idx, weights=correct, minlength=n_bins)
    # Σ_b |B_b|/N · |acc_b − conf_b| = Σ_b |acc_sum_b − conf_sum_b| / N
    return float(np.abs(acc_sum - conf_sum).sum() / n)
