"""Heads of the ECL network: cosine classifier, projection head, prototype maps (linear, BCL's MLP)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["CLASSIFIER_INITS", "CosineClassifier", "ProjectionHead", "PrototypeMap", "normed_uniform_"]

CLASSIFIER_INITS = ("normed", "kaiming")


def normed_uniform_(weight: Tensor) -> Tensor:
    """In place: uniform(−1, 1), then every row (class vector) rescaled to unit L2 norm; (C,d) → (C,d).

    The authors' NormedLinear initialisation (their weight is stored (d,C) and renormalised per
    column; ours is (C,d), one class per row).
    """
    with torch.no_grad():
        weight.uniform_(-1.0, 1.0)
        weight.div_(weight.norm(dim=1, keepdim=True).clamp_min(1e-12))
    return weight


class CosineClassifier(nn.Module):
    """``logit_c = s · <norm(h), norm(w_c)>``; ``weight``: (C, d); forward (N,d) -> (N,C).

    `init`: "normed" (default; the authors' NormedLinear: uniform(−1,1), unit rows) or "kaiming"
    (nn.Linear's default, rows of norm ≈ 0.58; the library's earlier behaviour).
    """

    def __init__(self, in_dim: int, num_classes: int, scale: float = 30.0, init: str = "normed") -> None:
        super().__init__()
        if in_dim < 1:
            raise ValueError(f"in_dim must be >= 1, got {in_dim}")
        if num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {num_classes}")
        if not scale > 0:
            raise ValueError(f"scale must be > 0, got {scale}")
        if init not in CLASSIFIER_INITS:
            raise ValueError(f"classifier init must be one of {', '.join(CLASSIFIER_INITS)}, got {init!r}")
        self.scale = float(scale)
        self.init = init
        self.weight = nn.Parameter(torch.empty(num_classes, in_dim))
        if init == "normed":
            normed_uniform_(self.weight)
        else:
            nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))

    def forward(self, h: Tensor) -> Tensor:  # (N,d) -> (N,C)
        return self.scale * F.normalize(h, dim=1) @ F.normalize(self.weight, dim=1).t()

    def extra_repr(self) -> str:
        c, d = self.weight.shape
        return f"in_dim={d}, num_classes={c}, scale={self.scale}, init={self.init}"


class ProjectionHead(nn.Module):
    """``norm(Linear(d,d_h) → BatchNorm1d → ReLU → Linear(d_h,d_z))``: (N,d) -> (N,d_z) unit rows; ``d_h = d``
    by default.

    Two uses, one structure: the projection head z = head(h) of the features, and BCL's prototype
    map ("head_fc", ``prototype_head="mlp"``) p_c = head(w_c) of the classifier weights (C,d). There
    the BatchNorm1d normalises over the C class vectors: in train mode with the statistics of these
    C rows (and updates its running averages); in eval mode with the running averages, as any
    BatchNorm1d (so eval-mode prototypes differ slightly from the last train-mode ones).
    """

    def __init__(self, in_dim: int, out_dim: int, hidden_dim: int | None = None) -> None:
        super().__init__()
        if out_dim < 1:
            raise ValueError(f"projection_dim must be >= 1, got {out_dim}")
        hidden = in_dim if hidden_dim is None else hidden_dim
        if hidden < 1:
            raise ValueError(f"hidden_dim must be >= 1, got {hidden_dim}")
        self.mlp = nn.Sequential(
            nn.Linear(in_dim, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True), nn.Linear(hidden, out_dim)
        )

    def forward(self, h: Tensor) -> Tensor:  # (N,d) -> (N,d_z)
        return F.normalize(self.mlp(h), dim=1)


class PrototypeMap(nn.Module):
    """``p_c = norm(A·w_c + b)``: classifier weights (C,d) -> unit prototypes (C,d_z)."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        if out_dim < 1:
            raise ValueError(f"projection_dim must be >= 1, got {out_dim}")
        self.linear = nn.Linear(in_dim, out_dim)

    def forward(self, weight: Tensor) -> Tensor:  # (C,d) -> (C,d_z)
        return F.normalize(self.linear(weight), dim=1)
