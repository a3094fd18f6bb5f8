"""The method table: which loss components each method of the framework uses (DATA, not code).

``METHODS[name]`` is a :class:`MethodSpec`; the engine's ``Objective`` builds the losses it asks for
and ``ecl.config`` validates ``loss.method`` against it. Imports nothing from the rest of ``ecl``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

__all__ = ["MethodSpec", "METHODS"]

_CLASSIFIER_LOSSES = ("ce", "la")
_CONTRASTIVE = (None, "supcon", "bc-ecl")


@dataclass(frozen=True)
class MethodSpec:
    """One method of the framework.

    Attributes:
        name: key in :data:`METHODS`.
        classifier_loss: ``"ce"`` (plain cross-entropy) or ``"la"`` (logit-compensated CE).
        contrastive: ``None``, ``"supcon"`` or ``"bc-ecl"``.
        prototype_weight: λ for BC-ECL, ``"bcl"``, or ``None`` (take the configuration's).
        anchor_weighting: ``"sample"``/``"class"`` or ``None`` (take the configuration's).
        ccge: whether L_CC-GE is added.
    """

    name: str
    classifier_loss: str
    contrastive: Optional[str]
    prototype_weight: Union[float, str, None]
    anchor_weighting: Optional[str]
    ccge: bool

    def __post_init__(self) -> None:
        if self.classifier_loss not in _CLASSIFIER_LOSSES:
            raise ValueError(f"classifier_loss must be one of {_CLASSIFIER_LOSSES}, got {self.classifier_loss!r}")
        if self.contrastive not in _CONTRASTIVE:
            raise ValueError(f"contrastive must be one of {_CONTRASTIVE}, got {self.contrastive!r}")
        if self.ccge and self.contrastive != "bc-ecl":
            raise ValueError(f"method {self.name!r}: ccge needs prototypes, i.e. contrastive='bc-ecl'")

    @property
    def uses_contrastive_views(self) -> bool:
        """True when the method needs the two contrastive views (projections)."""
        return self.contrastive is not None


def _spec(name: str, classifier_loss: str = "la", contrastive: Optional[str] = "bc-ecl",
          prototype_weight: Union[float, str, None] = None, anchor_weighting: Optional[str] = None,
          ccge: bool = True) -> tuple[str, MethodSpec]:
    return name, MethodSpec(name, classifier_loss, contrastive, prototype_weight, anchor_weighting, ccge)


#: Methods and ablations (DESIGN.md §1 "Baselines in the same framework").
METHODS: dict[str, MethodSpec] = dict(
    [
        _spec("ce", classifier_loss="ce", contrastive=None, ccge=False),
        _spec("la", contrastive=None, ccge=False),
        _spec("supcon", contrastive="supcon", ccge=False),
        _spec("bcl", prototype_weight="bcl", ccge=False),
        _spec("procondual", prototype_weight="bcl"),
        _spec("ecl"),
        _spec("ecl-no-ccge", ccge=False),
        _spec("ecl-no-lc", classifier_loss="ce"),
        _spec("ecl-bcl-weighting", prototype_weight="bcl"),
        _spec("ecl-class-anchors", anchor_weighting="class"),
        _spec("ecl-lambda0.25", prototype_weight=0.25),
        _spec("ecl-lambda0.5", prototype_weight=0.5),
        _spec("ecl-lambda0.75", prototype_weight=0.75),
    ]
)
