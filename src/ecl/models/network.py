"""The ECL network: encoder + cosine classifier + projection head + prototype map (docs/METHOD.md, "Network").

Prototype maps (``prototype_head``): "linear" (ECL / ProConDual: ``p_c = norm(A·w_c + b)``) or
"mlp" (BCL's own: Linear(d,d)-BN-ReLU-Linear(d,d_z) on the classifier rows, see
:class:`~ecl.models.heads.ProjectionHead`).
"""

from __future__ import annotations

from typing import NamedTuple, Optional

from torch import Tensor, nn

from .heads import CosineClassifier, ProjectionHead, PrototypeMap
from .registry import build_backbone

__all__ = ["PROTOTYPE_HEADS", "ECLOutput", "ECLNetwork", "CosineClassifier", "ProjectionHead", "PrototypeMap"]

PROTOTYPE_HEADS = ("linear", "mlp")


class ECLOutput(NamedTuple):
    """Outputs of :class:`ECLNetwork` for a batch of N images and C classes."""

    features: Tensor  # (N, d) backbone features h
    logits: Tensor  # (N, C) cosine logits s·cos(h, w_c)
    projections: Optional[Tensor]  # (N, d_z) unit rows, or None without projection head
    prototypes: Optional[Tensor]  # (C, d_z) unit rows, or None without projection head


class ECLNetwork(nn.Module):
    """Encoder ``f`` (N,3,H,W)->(N,d), cosine classifier W (C,d), projection head, prototype map.

    All views of a batch are encoded in one forward call (shared BatchNorm statistics);
    the caller concatenates them along the batch axis. `prototype_head`: "linear" (default) or
    "mlp" (BCL); `classifier_init`: "normed" (default, unit class vectors) or "kaiming".
    """

    def __init__(
        self,
        backbone: str | nn.Module,
        num_classes: int,
        *,
        projection_dim: int | None = None,
        scale: float = 30.0,
        with_projection: bool = True,
        prototype_head: str = "linear",
        classifier_init: str = "normed",
    ) -> None:
        super().__init__()
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
        if projection_dim is not None and (
            isinstance(projection_dim, bool) or not isinstance(projection_dim, int) or projection_dim < 1
        ):
            raise ValueError(f"projection_dim must be None or an int >= 1, got {projection_dim!r}")
        if not isinstance(scale, (int, float)) or isinstance(scale, bool) or not scale > 0:
            raise ValueError(f"scale must be a number > 0, got {scale!r}")
        if prototype_head not in PROTOTYPE_HEADS:
            raise ValueError(f"prototype_head must be one of {', '.join(PROTOTYPE_HEADS)}, got {prototype_head!r}")
        if isinstance(backbone, str):
            backbone = build_backbone(backbone)
        elif not isinstance(backbone, nn.Module):
            raise ValueError(f"backbone must be a registered name or an nn.Module, got {type(backbone).__name__}")
        out_dim = getattr(backbone, "out_dim", None)
        if isinstance(out_dim, bool) or not isinstance(out_dim, int) or out_dim < 1:
            raise ValueError("backbone must have a positive integer attribute out_dim")
        self.backbone = backbone
        self.backbone_name: str | None = getattr(backbone, "backbone_name", None)
        self.feature_dim: int = out_dim
        self.num_classes: int = num_classes
        self.projection_dim: int = out_dim if projection_dim is None else projection_dim
        self.with_projection: bool = bool(with_projection)
        self.prototype_head: str = prototype_head
        self.classifier = CosineClassifier(out_dim, num_classes, scale, init=classifier_init)
        self.projection_head: ProjectionHead | None = None
        self.prototype_map: PrototypeMap | ProjectionHead | None = None
        if self.with_projection:
            self.projection_head = ProjectionHead(out_dim, self.projection_dim)
            head = PrototypeMap if prototype_head == "linear" else ProjectionHead
            self.prototype_map = head(out_dim, self.projection_dim)

    @property
    def scale(self) -> float:
        return self.classifier.scale

    @property
    def classifier_weight(self) -> Tensor:
        """Classifier weight W, (C, d) (the parameter itself, gradients flow)."""
        return self.classifier.weight

    def prototypes(self) -> Tensor:
        """Unit class prototypes from the classifier rows, (C, d_z) (linear or BCL's MLP map)."""
        if self.prototype_map is None:
            raise RuntimeError("prototypes() needs with_projection=True")
        return self.prototype_map(self.classifier.weight)

    def forward(self, x: Tensor) -> ECLOutput:  # x: (N,3,H,W)
        if x.dim() != 4:
            raise ValueError(f"x must be a (N,3,H,W) batch, got shape {tuple(x.shape)}")
        h = self.backbone(x)
        logits = self.classifier(h)
        if self.projection_head is None or self.prototype_map is None:
            return ECLOutput(h, logits, None, None)
        return ECLOutput(h, logits, self.projection_head(h), self.prototype_map(self.classifier.weight))
