"""Supervised contrastive loss, L_out form (Khosla et al., NeurIPS 2020).

For the ``N = B·V`` anchors ``z_i`` (unit vectors) with ``s_ij = z_i·z_j/τ``::

    P(i) = {j ≠ i : y_j = y_i}
    ℓ_i  = −(1/|P(i)|) Σ_{p∈P(i)} [ s_ip − log Σ_{a≠i} exp(s_ia) ]
    L    = mean of ℓ_i over the anchors with |P(i)| > 0

Anchors without a positive are left out (never NaN); when no anchor has a positive the loss is
an exact 0 that still carries a (zero) gradient. Computed with log-sum-exp in float32 (float64
for float64 inputs); float16/bfloat16 inputs are upcast.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .bc_ecl import _check_temperature, _compute_dtype, flatten_views

__all__ = ["SupConLoss", "supcon_per_anchor"]


def supcon_per_anchor(features: Tensor, labels: Tensor, temperature: float = 0.07) -> tuple[Tensor, Tensor]:
    """Per-anchor SupCon loss.

    Args:
        features: (B, V, d) unit vectors.
        labels: (B,) integer labels.
        temperature: τ > 0.

    Returns:
        ``(losses, has_positive)``: (N,) losses (0 where the anchor has no positive) and the (N,)
        boolean mask of anchors that have at least one positive; anchor ``b·V + v`` = view ``v``
        of sample ``b``.
    """
    temperature = _check_temperature(temperature)
    z, y = flatten_views(features, labels)
    z = z.to(_compute_dtype(features))
    n = z.shape[0]
    if n == 1:  # a single anchor never has a positive (avoids a −inf log-sum-exp)
        return (z.sum(dim=1) * 0.0), torch.zeros(1, dtype=torch.bool, device=z.device)
    eye = torch.eye(n, dtype=torch.bool, device=z.device)
    sim = (z @ z.T) / temperature
    sim_off = sim.masked_fill(eye, float("-inf"))
    log_denominator = torch.logsumexp(sim_off, dim=1)  # (N,), −inf only when N == 1
    pos_mask = (y[:, None] == y[None, :]) & ~eye
    n_pos = pos_mask.sum(dim=1)
    has_positive = n_pos > 0
    pos_sum = (sim * pos_mask).sum(dim=1)
    safe_log_den = torch.where(has_positive, log_denominator, torch.zeros_like(log_denominator))
    losses = safe_log_den - pos_sum / n_pos.clamp_min(1).to(z.dtype)
    return torch.where(has_positive, losses, torch.zeros_like(losses)), has_positive


class SupConLoss(nn.Module):
    """SupCon (L_out): ``mean_i −mean_{p∈P(i)} log softmax_{a≠i}(z_i·z_a/τ)_p``.

    Shapes: ``features`` (B, V, d) unit vectors, ``labels`` (B,) → scalar. Anchors with no
    positive are excluded; if none has one the result is ``0`` (with grad).
    """

    def __init__(self, temperature: float = 0.07) -> None:
        super().__init__()
        self.temperature = _check_temperature(temperature)

    def forward(self, features: Tensor, labels: Tensor) -> Tensor:
        losses, has_positive = supcon_per_anchor(features, labels, self.temperature)
        count = has_positive.sum()  # no anchor with a positive: 0 / 1 (the losses are all 0), no host read
        return losses.sum() / count.clamp_min(1).to(losses.dtype)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"
