"""Heads of the ECL network: cosine classifier, projection head, prototype map."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["CosineClassifier", "ProjectionHead", "PrototypeMap"]


class CosineClassifier(nn.Module):
    """``logit_c = s · <norm(h), norm(w_c)>``; ``weight``: (C, d); forward (N,d) -> (N,C)."""

    def __init__(self, in_dim: int, num_classes: int, scale: float = 30.0) -> None:
        super().__init__()
        if in_dim < 1:
            raise ValueError(f"in_dim must be >= 1, got {in_dim}")
        if num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {num_classes}")
        if not scale > 0:
            raise ValueError(f"scale must be > 0, got {scale}")
        self.scale = float(scale)
        self.weight = nn.Parameter(torch.empty(num_classes, in_dim))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))

    def forward(self, h: Tensor) -> Tensor:  # (N,d) -> (N,C)
        return self.scale * F.normalize(h, dim=1) @ F.normalize(self.weight, dim=1).t()

    def extra_repr(self) -> str:
        c, d = self.weight.shape
        return f"in_dim={d}, num_classes={c}, scale={self.scale}"


class ProjectionHead(nn.Module):
    """``z = norm(Linear(d,d) → BatchNorm1d → ReLU → Linear(d,d_z))(h)``: (N,d) -> (N,d_z) unit rows."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        if out_dim < 1:
            raise ValueError(f"projection_dim must be >= 1, got {out_dim}")
        self.mlp = nn.Sequential(
            nn.Linear(in_dim, in_dim), nn.BatchNorm1d(in_dim), nn.ReLU(inplace=True), nn.Linear(in_dim, out_dim)
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

