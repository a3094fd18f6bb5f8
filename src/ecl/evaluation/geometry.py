"""Representation geometry after Papyan, Han & Donoho (2020), "Prevalence of neural collapse".

All computations are in float64. With ``C`` = the number of classes present in
the evaluation set (classes without an evaluation sample are left out of every
quantity, including the rows of the classifier weight ``W``):

* ``μ_c``: mean feature of class ``c``;
* ``μ_G``: the **mean of the class means**, ``(1/C) Σ_c μ_c``. Papyan et al.
  use the mean of all samples, which on balanced data is the same thing. On
  long-tailed data the sample mean is pulled towards the head classes, so even
  a perfect regular simplex of class means would not be centred on it and MS /
  SD would not vanish; the mean of class means is the centre of the simplex.
* ``Σ_W = (1/C) Σ_c (1/n_c) Σ_{i: y_i=c} (h_i − μ_c)(h_i − μ_c)ᵀ``: within-class
  covariance, every class weighted equally (same reason: the head classes
  would otherwise dominate);
* ``Σ_B = (1/C) Σ_c (μ_c − μ_G)(μ_c − μ_G)ᵀ = MᵀM / C``, ``M`` the (C, d) matrix
  with rows ``μ_c − μ_G``;
* ``FC = Tr(Σ_W Σ_B^†) / C`` (Moore–Penrose pseudo-inverse; singular values
  below ``1e-10 · σ_max`` count as zero, because ``M`` has rank ≤ C − 1 by
  construction and round-off must not be inverted);
* ``MS = mean_{c < c'} |cos(μ_c − μ_G, μ_c' − μ_G) + 1/(C − 1)|``;
* ``SD = ‖W/‖W‖_F − M/‖M‖_F‖_F``.

All three are 0 at neural collapse and lower is better. With fewer than two
present classes they are undefined and returned as NaN.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .metrics import _int_vector, _to_numpy

__all__ = ["geometry_metrics", "class_means"]

_PINV_RTOL = 1e-10


def _pinv(a: np.ndarray) -> np.ndarray:
    """Pseudo-inverse dropping singular values below ``_PINV_RTOL · σ_max``."""
    u, s, vt = np.linalg.svd(a, full_matrices=False)
    if s.size == 0 or s[0] == 0:
        return np.zeros(a.T.shape, dtype=a.dtype)
    keep = s > _PINV_RTOL * s[0]
    return (vt[keep].T / s[keep]) @ u[:, keep].T


_CHUNK = 8192  # rows converted to float64 at a time (keeps memory at O(chunk · d) beyond the input)


def _check(h: np.ndarray, y: np.ndarray, num_classes: int) -> None:
    if h.ndim != 2:
        raise ValueError(f"features must be (N, d), got shape {tuple(h.shape)}")
    if h.shape[0] != y.shape[0]:
        raise ValueError(f"features has {h.shape[0]} rows but labels has {y.shape[0]} entries")
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes - 1}] (num_classes={num_classes})")


def class_means(features: Any, labels: Any, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(C, d) float64 class means and (C,) int64 sample counts; rows of absent classes are 0."""
    h = _to_numpy(features, "features")
    y = _int_vector(labels, "labels")
    _check(h, y, num_classes)
    counts = np.bincount(y, minlength=num_classes).astype(np.int64)
    sums = np.zeros((num_classes, h.shape[1]), dtype=np.float64)
    for start in range(0, h.shape[0], _CHUNK):
        chunk = h[start:start + _CHUNK].astype(np.float64)
        if not np.all(np.isfinite(chunk)):
            raise ValueError(f"features holds non-finite values (in rows {start}..{start + len(chunk) - 1})")
        np.add.at(sums, y[start:start + _CHUNK], chunk)
    means = np.divide(sums, counts[:, None], out=np.zeros_like(sums), where=counts[:, None] > 0)
    return means, counts


def geometry_metrics(features: Any, labels: Any, classifier_weight: Any) -> dict[str, float]:
    """FC, MS, SD of (N, d) features with (N,) labels and a (C, d) classifier weight.

    See the module docstring for the exact definitions and conventions.
    """
    w_all = _to_numpy(classifier_weight, "classifier_weight").astype(np.float64)
    if w_all.ndim != 2:
        raise ValueError(f"classifier_weight must be (C, d), got shape {tuple(w_all.shape)}")
    h = _to_numpy(features, "features")
    if h.ndim != 2 or h.shape[1] != w_all.shape[1]:
        raise ValueError(
            f"features must be (N, {w_all.shape[1]}) to match classifier_weight, got shape {tuple(h.shape)}"
        )
    y = _int_vector(labels, "labels")
    means_all, counts_all = class_means(h, y, w_all.shape[0])
    present = np.flatnonzero(counts_all > 0)
    num = present.size
    nan = float("nan")
    if num < 2:
        return {"FC": nan, "MS": nan, "SD": nan}

    mu = means_all[present]  # (C, d)
    w = w_all[present]
    mu_g = mu.mean(axis=0)
    m = mu - mu_g  # (C, d)

    # Σ_W = Xwᵀ Xw with rows x_i = (h_i − μ_{y_i}) / sqrt(C · n_{y_i}).
    # Σ_B = MᵀM / C  ⇒  Σ_B^† = C · M^† (M^†)ᵀ, so Tr(Σ_W Σ_B^†) / C = ‖Xw M^†‖_F²
    # (never forms a d×d matrix; d may be 2048). Rows are processed in chunks.
    m_pinv = _pinv(m)  # (d, C)
    means_proj = means_all @ m_pinv  # (C_all, C)
    weight = 1.0 / (num * np.maximum(counts_all, 1).astype(np.float64))  # per class
    fc_sum = 0.0
    for start in range(0, h.shape[0], _CHUNK):
        yc = y[start:start + _CHUNK]
        proj = h[start:start + _CHUNK].astype(np.float64) @ m_pinv - means_proj[yc]
        fc_sum += float(np.sum(np.sum(proj**2, axis=1) * weight[yc]))
    fc = fc_sum

    norms = np.linalg.norm(m, axis=1)
    unit = np.divide(m, norms[:, None], out=np.zeros_like(m), where=norms[:, None] > 0)
    cos = unit @ unit.T
    iu = np.triu_indices(num, k=1)
    ms = float(np.mean(np.abs(cos[iu] + 1.0 / (num - 1))))

    w_n = np.linalg.norm(w)
    m_n = np.linalg.norm(m)
    w_hat = w / w_n if w_n > 0 else w
    m_hat = m / m_n if m_n > 0 else m
    sd = float(np.linalg.norm(w_hat - m_hat))
    return {"FC": fc, "MS": ms, "SD": sd}
