"""Balanced-contribution ECL loss (docs/METHOD.md, Loss 2) and its BCL special case.

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

Implementation: one (N, N+C) similarity matrix (samples, then prototypes as extra columns) and
constant per-column weights ``w_ij`` (``a_{y_j}(i)`` for a sample column, ``b_c(i)`` for a
prototype column, ``w_ii = 0``): the per-class sums are a segment sum over the columns grouped by
label, which, with one weight per segment, is ``D(i) = Σ_j w_ij·exp(logit_ij)`` — evaluated as a
single ``logsumexp(logit + log w)`` (no overflow at small τ; float16/bfloat16 inputs are upcast to
float32). Memory is O(N·(N+C)); no N×N×C (nor N×C scatter) tensor is formed.
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
    return features.reshape(b * v, d), (labels if v == 1 else labels.repeat_interleave(v))


def _check_labels(labels: Tensor, num_classes: int) -> None:
    if labels.numel() == 0:
        return
    lo_t, hi_t = torch.aminmax(labels)
    lo, hi = int(lo_t), int(hi_t)
    if lo < 0 or hi >= num_classes:
        bad = lo if lo < 0 else hi
        raise ValueError(f"labels must lie in [0, {num_classes}), got label {bad}")


def _class_counts(labels: Tensor, num_classes: int, dtype: torch.dtype) -> Tensor:
    """(C,) count of each class among (N,) labels, as `dtype`: a sum of ones (exact), not
    torch.bincount, which reads the labels' range back to the host on a GPU."""
    ones = torch.ones(labels.shape, dtype=dtype, device=labels.device)
    return torch.zeros(num_classes, dtype=dtype, device=labels.device).index_add_(0, labels, ones)


def bc_ecl_per_anchor(
    features: Tensor,
    labels: Tensor,
    prototypes: Tensor,
    temperature: float = 0.07,
    prototype_weight: PrototypeWeight = 0.5,
    check_labels: bool = True,
) -> Tensor:
    """Per-anchor BC-ECL loss ``ℓ_i``.

    Args:
        features: (B, V, d) unit vectors (V ≥ 1 views per sample).
        labels: (B,) integer labels in [0, C).
        prototypes: (C, d) unit vectors.
        temperature: τ > 0.
        prototype_weight: λ ∈ (0, 1) or ``"bcl"``.
        check_labels: raise ValueError for a label outside [0, C) (reads the labels' range back
            to the host; the training objective, whose labels were checked when the data was
            loaded, turns it off so that a GPU step never waits).

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
    if check_labels:
        _check_labels(y, num_classes)

    dtype = _compute_dtype(features, prototypes)
    z = z.to(dtype)
    p = prototypes.to(dtype)
    y = y.long()
    n = z.shape[0]

    with torch.no_grad():
        # Per-column weights. The class average of the denominator is a segment sum over the
        # columns grouped by label; it is folded into per-column weights w_ij (a_{y_j}(i) for a
        # sample column, b_c(i) for a prototype column, w_ii = 0), so that
        # log D(i) = logsumexp_j(logit_ij + log w_ij): one overflow-free log-sum-exp and no (N, C)
        # scatter. The weights depend on the anchor only through "same class as the anchor or
        # not": row 0 of the tables is for c ≠ y_i (m_c = n_c), row 1 for c = y_i (m_c = n_c − 1).
        counts = _class_counts(y, num_classes, dtype)  # n_c in the batch
        m = torch.stack([counts, counts - 1.0])  # (2, C)
        a, b = _class_weights(m, prototype_weight)  # (2, C) each
        proto_cols = torch.arange(num_classes, device=z.device)
        w = torch.cat([a, b], dim=1)[:, torch.cat([y, proto_cols + num_classes])]  # (2, N + C)
        same = y[:, None] == torch.cat([y, proto_cols])[None, :]  # (N, N + C)
        same[:, :n].fill_diagonal_(False)  # positives: j ≠ i
        # π_ij: a_{y_i}(i) on the other samples of the anchor's class, b_{y_i}(i) on p_{y_i}
        pos_weight = same.to(dtype) * w[1]
        log_w = w.log()
        log_w = torch.where(same, log_w[1], log_w[0])
        # j ≠ i: a huge finite negative log-weight (exp underflows to exactly 0; finite, so that
        # π_ij·(logit_ij + log w_ij) stays 0 there)
        log_w[:, :n].fill_diagonal_(_NEG)
        # Σ_j π_ij·log w_ij in closed form: m·a·log a + b·log b of the anchor's class
        a_own, b_own = a[1], b[1]
        pos_log_w = (m[1].clamp_min(0.0) * torch.special.xlogy(a_own, a_own) + torch.special.xlogy(b_own, b_own))[y]

    return _WeightedLogSumExpLoss.apply(z, p, log_w, pos_weight, 1.0 / temperature) + pos_log_w


class _WeightedLogSumExpLoss(torch.autograd.Function):
    """``ℓ_i = logsumexp_j(x_ij) − Σ_j π_ij·x_ij`` with ``x = [z; p]-similarities/τ + log w``.

    Forward: one fused GEMM ``x = log w + (z @ [z; p]ᵀ)/τ`` of shape (N, N + C). Backward by hand:
    ``∂ℓ_i/∂x_ij = softmax_j(x_i) − π_ij``; the sample block of the similarity matrix is
    symmetric, so ``∂/∂z = (G_s + G_sᵀ) z / τ + G_p p / τ`` costs one N×N×d GEMM instead of
    two, and only the softmax (N, N + C) is kept for backward (computed in place of ``x``).
    """

    @staticmethod
    def forward(ctx, z: Tensor, p: Tensor, log_w: Tensor, pos_weight: Tensor, inv_t: float) -> Tensor:  # type: ignore[override]
        x = torch.addmm(log_w, z, torch.cat([z, p], dim=0).T, alpha=inv_t)
        lse = torch.logsumexp(x, dim=1)
        loss = lse - (pos_weight * x).sum(dim=1)
        softmax = x.sub_(lse[:, None]).exp_()
        ctx.save_for_backward(z, p, softmax, pos_weight)
        ctx.inv_t = inv_t
        return loss

    @staticmethod
    def backward(ctx, grad_loss: Tensor):  # type: ignore[override]
        z, p, softmax, pos_weight = ctx.saved_tensors
        n = z.shape[0]
        grad_x = (softmax - pos_weight).mul_(grad_loss[:, None] * ctx.inv_t)
        g_s, g_p = grad_x[:, :n], grad_x[:, n:]
        grad_z = grad_p = None
        if ctx.needs_input_grad[0]:
            grad_z = torch.addmm(g_p @ p, g_s + g_s.T, z)
        if ctx.needs_input_grad[1]:
            grad_p = g_p.T @ z
        return grad_z, grad_p, None, None, None


_NEG = -1.0e30


def _class_weights(m: Tensor, prototype_weight: PrototypeWeight) -> tuple[Tensor, Tensor]:
    """Weights ``(a, b)`` of the samples and of the prototype of a class that has ``m`` other
    samples in the batch (see the module docstring); ``a = 0`` when ``m ≤ 0``."""
    present = (m > 0).to(m.dtype)
    if prototype_weight == "bcl":
        share = (m.clamp_min(0.0) + 1.0).reciprocal()
        return share * present, share
    lam = float(prototype_weight)
    a = present * ((1.0 - lam) / m.clamp_min(1.0))
    b = lam * present + (1.0 - present)  # exactly λ or 1
    return a, b


def reduce_anchors(per_anchor: Tensor, anchor_labels: Tensor, anchor_weighting: str, num_classes: int) -> Tensor:
    """Mean of (N,) ``ℓ_i``: over anchors (``"sample"``) or per class then over classes present (``"class"``)."""
    if anchor_weighting == "sample":
        return per_anchor.mean()
    labels = anchor_labels.long()
    class_sum = torch.zeros(num_classes, dtype=per_anchor.dtype, device=per_anchor.device)
    class_sum = class_sum.index_add(0, labels, per_anchor)
    counts = _class_counts(labels, num_classes, per_anchor.dtype)
    present = counts > 0  # mean over the classes present, without a boolean index (a host read on a GPU)
    means = torch.where(present, class_sum / counts.clamp_min(1), torch.zeros_like(class_sum))
    return means.sum() / present.sum().to(per_anchor.dtype)


class BCECLLoss(nn.Module):
    """Balanced-contribution ECL loss ``L = mean ℓ_i`` (docs/METHOD.md, Loss 2).

    ``ℓ_i = log Σ_c S_c(i) − (1−λ)·mean_{j∈P(i)} z_i·z_j/τ − λ·z_i·p_{y_i}/τ`` with
    ``S_c(i) = (1−λ)·mean_{j∈A_c(i)} exp(z_i·z_j/τ) + λ·exp(z_i·p_c/τ)`` (``exp(z_i·p_c/τ)`` alone
    when the batch holds no other sample of class ``c``). ``prototype_weight="bcl"`` reproduces BCL
    (prototype = one more sample, share ``1/(m_c+1)``).

    Args:
        temperature: τ > 0.
        prototype_weight: λ ∈ (0, 1) or ``"bcl"``.
        anchor_weighting: ``"sample"`` (mean over anchors, the paper) or ``"class"`` (mean within
            each class, then over the classes present).
        check_labels: check that labels lie in [0, C) (a host read; see :func:`bc_ecl_per_anchor`).

    Shapes: ``features`` (B, V, d) unit vectors, ``labels`` (B,), ``prototypes`` (C, d) unit
    vectors → scalar.
    """

    def __init__(
        self,
        temperature: float = 0.07,
        prototype_weight: PrototypeWeight = 0.5,
        anchor_weighting: str = "sample",
        check_labels: bool = True,
    ) -> None:
        super().__init__()
        self.check_labels = bool(check_labels)
        self.temperature = _check_temperature(temperature)
        self.prototype_weight = _check_prototype_weight(prototype_weight)
        self.anchor_weighting = _check_anchor_weighting(anchor_weighting)

    def per_anchor(self, features: Tensor, labels: Tensor, prototypes: Tensor) -> Tensor:
        """(N,) per-anchor losses ``ℓ_i``, ``N = B·V``, anchor ``b·V + v`` = view ``v`` of sample ``b``."""
        return bc_ecl_per_anchor(
            features, labels, prototypes, self.temperature, self.prototype_weight, self.check_labels
        )

    def forward(self, features: Tensor, labels: Tensor, prototypes: Tensor) -> Tensor:
        losses = self.per_anchor(features, labels, prototypes)
        if self.anchor_weighting == "sample":
            return losses.mean()
        anchor_labels = labels.repeat_interleave(features.shape[1])
        return reduce_anchors(losses, anchor_labels, self.anchor_weighting, prototypes.shape[0])

    def extra_repr(self) -> str:
        return (
            f"temperature={self.temperature}, prototype_weight={self.prototype_weight!r}, "
            f"anchor_weighting={self.anchor_weighting!r}"
        )
