"""Classifier–class-centre geometric equilibrium loss (docs/METHOD.md, Loss 3).

``L_CC-GE = ‖ W/‖W‖_F − P/‖P‖_F ‖_F`` with ``W`` (C, d) the classifier weights (rows = classes)
and ``P`` (C, d_z) the prototypes. Requires ``d_z = d``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["CCGELoss"]


class CCGELoss(nn.Module):
    """``forward(classifier_weight (C, d), prototypes (C, d)) → scalar`` Frobenius distance of the
    Frobenius-normalised matrices (computed in float32, or float64 for float64 inputs)."""

    def __init__(self, eps: float = 1e-12) -> None:
        super().__init__()
        self.eps = float(eps)

    def forward(self, classifier_weight: Tensor, prototypes: Tensor) -> Tensor:
        if classifier_weight.ndim != 2:
            raise ValueError(
                f"classifier_weight must have shape (C, d), got {tuple(classifier_weight.shape)}"
            )
        if prototypes.ndim != 2:
            raise ValueError(f"prototypes must have shape (C, d_z), got {tuple(prototypes.shape)}")
        if classifier_weight.shape != prototypes.shape:
            raise ValueError(
                f"CC-GE needs classifier_weight (C, d) and prototypes (C, d_z) of the same shape "
                f"(d_z must equal d): got classifier_weight {tuple(classifier_weight.shape)} and "
                f"prototypes {tuple(prototypes.shape)}"
            )
        dtype = torch.float64 if torch.float64 in (classifier_weight.dtype, prototypes.dtype) else torch.float32
        w = classifier_weight.to(dtype)
        p = prototypes.to(dtype)
        w = w / torch.linalg.matrix_norm(w).clamp_min(self.eps)
        p = p / torch.linalg.matrix_norm(p).clamp_min(self.eps)
        return torch.linalg.matrix_norm(w - p)
