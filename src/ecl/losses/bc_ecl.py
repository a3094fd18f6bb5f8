"""Balanced-contribution ECL loss (DESIGN.md §1, Loss 2) and its BCL special case.

Notation (per anchor ``i`` of the ``N = B·V`` batch features; prototypes are never anchors)::

    s_ij = z_i·z_j / τ            q_ic = z_i·p_c / τ
    A_c(i) = {j ≠ i : y_j = c},   m_c(i) = |A_c(i)|,   T_c(i) = Σ_{j∈A_c(i)} exp(s_ij)

    S_c(i) = a_c(i)·T_c(i) + b_c(i)·exp(q_ic),     D(i) = Σ_c S_c(i)
    ℓ_i    = log D(i) − a_{y_i}(i)·Σ_{j∈A_{y_i}(i)} s_ij − b_{y_i}(i)·q_{i,y_i}

with the per-class weights

* ``prototype_weight = λ ∈ (0,1)`` (BC-ECL):  ``a_c = (1−λ)/m_c``, ``b_c = λ`` when ``m_c > 0``;
  ``a_c = 0``, ``b_c = 1`` when ``m_c = 0`` (the prototype stands for the absent class and, for the
  anchor's own class, takes the whole positive share);
* ``prototype_weight = "bcl"`` (BCL, Zhu et al. 2022):  ``a_c = b_c = 1/(m_c + 1)`` — the prototype
  is one more sample of its class, in the denominator's class average and in the positive average.

Implementation: one (N, N) sample-similarity matrix and one (N, C) prototype-similarity matrix; the
per-class sums ``T_c(i)`` are a segment sum (``index_add_``) of the stabilised ``exp`` over the
columns grouped by label, so memory is O(N·(N+C)); no N×N×C tensor is ever formed. ``log D`` is a
log-sum-exp (row maximum subtracted, then added back), inputs in float16/bfloat16 are upcast to
float32.
"""

from __future__ import annotations

from typing import Union

import torch
from torch import Tensor, nn

__all__ = ["BCECLLoss", "bc_ecl_per_anchor", "PrototypeWeight"]

PrototypeWeight = Union[float, str]
_ANCHOR_WEIGHTINGS = ("sample", "class")


def _check_temperature(temperature: float) -> float:
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
        raise ValueError(f"temperature must be a positive number, got {temperature!r}")
    if not float(temperature) > 0.0 or temperature != temperature or temperature == float("inf"):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
    return float(temperature)


def _check_prototype_weight(prototype_weight: PrototypeWeight) -> PrototypeWeight:
    if isinstance(prototype_weight, str):
        if prototype_weight != "bcl":
            raise ValueError(
                f"prototype_weight must be a float in (0, 1) or 'bcl', got {prototype_weight!r}"
            )
        return prototype_weight
    if isinstance(prototype_weight, bool) or not isinstance(prototype_weight, (int, float)):
        raise ValueError(
            f"prototype_weight must be a float in (0, 1) or 'bcl', got {prototype_weight!r}"
        )
    if not 0.0 < float(prototype_weight) < 1.0:
        raise ValueError(f"prototype_weight must lie in the open interval (0, 1), got {prototype_weight!r}")
    return float(prototype_weight)


def _check_anchor_weighting(anchor_weighting: str) -> str:
    if anchor_weighting not in _ANCHOR_WEIGHTINGS:
        raise ValueError(
            f"anchor_weighting must be one of {_ANCHOR_WEIGHTINGS}, got {anchor_weighting!r}"
        )
    return anchor_weighting


def _compute_dtype(*tensors: Tensor) -> torch.dtype:
    """float64 if any input is float64, float32 otherwise (half/bfloat16 are upcast)."""
    return torch.float64 if any(t.dtype == torch.float64 for t in tensors) else torch.float32


def flatten_views(features: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    """(B, V, d) features and (B,) labels → (N, d) anchors and (N,) labels, ``N = B·V``.

    Anchor ``b·V + v`` is view ``v`` of sample ``b`` (sample-major order).
    """
    if features.ndim != 3:
        raise ValueError(f"features must have shape (B, V, d), got {tuple(features.shape)}")
    if labels.ndim != 1 or labels.shape[0] != features.shape[0]:
        raise ValueError(
            f"labels must have shape (B,) = ({features.shape[0]},), got {tuple(labels.shape)}"
        )
    if labels.dtype.is_floating_point or labels.dtype == torch.bool or labels.is_complex():
        raise ValueError(f"labels must be an integer tensor, got dtype {labels.dtype}")
    b, v, d = features.shape
    if b == 0 or v == 0:
        raise ValueError(f"features must hold at least one sample and one view, got {tuple(features.shape)}")
    return features.reshape(b * v, d), labels.repeat_interleave(v)


def _check_labels(labels: Tensor, num_classes: int) -> None:
    if labels.numel() == 0:
        return
    lo, hi = int(labels.min()), int(labels.max())
    if lo < 0 or hi >= num_classes:
        bad = lo if lo < 0 else hi
        raise ValueError(f"labels must lie in [0, {num_classes}), got label {bad}")


def bc_ecl_per_anchor(
    features: Tensor,
    labels: Tensor,
    prototypes: Tensor,
    temperature: float = 0.07,
    prototype_weight: PrototypeWeight = 0.5,
) -> Tensor:
    """Per-anchor BC-ECL loss ``ℓ_i``.

    Args:
        features: (B, V, d) unit vectors (V ≥ 1 views per sample).
        labels: (B,) integer labels in [0, C).
        prototypes: (C, d) unit vectors.
        temperature: τ > 0.
        prototype_weight: λ ∈ (0, 1) or ``"bcl"``.

    Returns:
        (N,) tensor, ``N = B·V``, anchor ``b·V + v`` = view ``v`` of sample ``b``; float32, or
        float64 for float64 inputs.
    """
    temperature = _check_temperature(temperature)
    prototype_weight = _check_prototype_weight(prototype_weight)
    z, y = flatten_views(features, labels)
    if prototypes.ndim != 2:
        raise ValueError(f"prototypes must have shape (C, d), got {tuple(prototypes.shape)}")
    if prototypes.shape[1] != z.shape[1]:
        raise ValueError(
            f"prototypes (C, d) = {tuple(prototypes.shape)} and features (B, V, d) = "
            f"{tuple(features.shape)} must share the feature dimension d"
        )
    num_classes = prototypes.shape[0]
    if num_classes == 0:
        raise ValueError("prototypes must hold at least one class, got shape (0, d)")
    _check_labels(y, num_classes)

    dtype = _compute_dtype(features, prototypes)
    z = z.to(dtype)
    p = prototypes.to(dtype)
    y = y.long()
    n = z.shape[0]
    inv_t = 1.0 / temperature

    sim = (z @ z.T) * inv_t  # (N, N) s_ij
    proto_sim = (z @ p.T) * inv_t  # (N, C) q_ic
    eye = torch.eye(n, dtype=torch.bool, device=z.device)

    # Row-wise stabiliser (any constant per row leaves ℓ_i unchanged; detached on purpose).
    # The diagonal is set to −inf before exp so that neither exp nor its gradient sees s_ii.
    sim_off = sim.masked_fill(eye, float("-inf"))
    row_max = torch.maximum(sim_off.amax(dim=1), proto_sim.amax(dim=1)).detach()
    exp_sim = torch.exp(sim_off - row_max[:, None])  # (N, N), zero diagonal
    exp_proto = torch.exp(proto_sim - row_max[:, None])  # (N, C)

    # Segment sum over columns grouped by label: T[i, c] = Σ_{j≠i, y_j=c} exp(s_ij − M_i).
    class_sum = torch.zeros(n, num_classes, dtype=dtype, device=z.device)
    class_sum = class_sum.index_add(1, y, exp_sim)

    # m_c(i) = (batch count of c) − [c = y_i].
    own = torch.nn.functional.one_hot(y, num_classes).to(dtype)  # (N, C)
    counts = torch.bincount(y, minlength=num_classes).to(dtype)
    m = counts[None, :] - own  # (N, C)

    if prototype_weight == "bcl":
        a = 1.0 / (m + 1.0)
        b = a
    else:
        lam = float(prototype_weight)
        present = m > 0
        a = torch.where(present, (1.0 - lam) / m.clamp_min(1.0), torch.zeros_like(m))
        b = torch.where(present, torch.full_like(m, lam), torch.ones_like(m))

    denom = (a * class_sum + b * exp_proto).sum(dim=1)  # D(i)·exp(−M_i)
    log_d = torch.log(denom) + row_max

    pos_mask = (y[:, None] == y[None, :]) & ~eye  # (N, N)
    pos_sum = (sim * pos_mask).sum(dim=1)  # Σ_{j∈P(i)} s_ij
    a_own = a.gather(1, y[:, None]).squeeze(1)
    b_own = b.gather(1, y[:, None]).squeeze(1)
    q_own = proto_sim.gather(1, y[:, None]).squeeze(1)
    return log_d - a_own * pos_sum - b_own * q_own


def reduce_anchors(per_anchor: Tensor, anchor_labels: Tensor, anchor_weighting: str) -> Tensor:
    """Mean of (N,) ``ℓ_i``: over anchors (``"sample"``) or per class then over classes present (``"class"``)."""
    if anchor_weighting == "sample":
        return per_anchor.mean()
    classes, inverse, counts = torch.unique(anchor_labels, return_inverse=True, return_counts=True)
    class_sum = torch.zeros(classes.numel(), dtype=per_anchor.dtype, device=per_anchor.device)
    class_sum = class_sum.index_add(0, inverse, per_anchor)
    return (class_sum / counts.to(per_anchor.dtype)).mean()


class BCECLLoss(nn.Module):
    """Balanced-contribution ECL loss ``L = mean ℓ_i`` (DESIGN.md §1, Loss 2).

    ``ℓ_i = log Σ_c S_c(i) − (1−λ)·mean_{j∈P(i)} z_i·z_j/τ − λ·z_i·p_{y_i}/τ`` with
    ``S_c(i) = (1−λ)·mean_{j∈A_c(i)} exp(z_i·z_j/τ) + λ·exp(z_i·p_c/τ)`` (``exp(z_i·p_c/τ)`` alone
    when the batch holds no other sample of class ``c``). ``prototype_weight="bcl"`` reproduces BCL
    (prototype = one more sample, share ``1/(m_c+1)``).

    Args:
        temperature: τ > 0.
        prototype_weight: λ ∈ (0, 1) or ``"bcl"``.
        anchor_weighting: ``"sample"`` (mean over anchors, the paper) or ``"class"`` (mean within
            each class, then over the classes present).

    Shapes: ``features`` (B, V, d) unit vectors, ``labels`` (B,), ``prototypes`` (C, d) unit
    vectors → scalar.
    """

    def __init__(
        self,
        temperature: float = 0.07,
        prototype_weight: PrototypeWeight = 0.5,
        anchor_weighting: str = "sample",
    ) -> None:
        super().__init__()
        self.temperature = _check_temperature(temperature)
        self.prototype_weight = _check_prototype_weight(prototype_weight)
        self.anchor_weighting = _check_anchor_weighting(anchor_weighting)

    def per_anchor(self, features: Tensor, labels: Tensor, prototypes: Tensor) -> Tensor:
        """(N,) per-anchor losses ``ℓ_i``, ``N = B·V``, anchor ``b·V + v`` = view ``v`` of sample ``b``."""
        return bc_ecl_per_anchor(
            features, labels, prototypes, self.temperature, self.prototype_weight
        )

    def forward(self, features: Tensor, labels: Tensor, prototypes: Tensor) -> Tensor:
        losses = self.per_anchor(features, labels, prototypes)
        anchor_labels = labels.repeat_interleave(features.shape[1])
        return reduce_anchors(losses, anchor_labels, self.anchor_weighting)

    def extra_repr(self) -> str:
        return (
            f"temperature={self.temperature}, prototype_weight={self.prototype_weight!r}, "
            f"anchor_weighting={self.anchor_weighting!r}"
        )
