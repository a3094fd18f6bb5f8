"""The method table: which loss components each method of the framework uses (DATA, not code).

``METHODS[name]`` is a :class:`MethodSpec`; the engine's ``Objective`` builds the losses it asks for
and ``ecl.config`` validates ``loss.method`` against it. Imports nothing from the rest of ``ecl``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional, Union

__all__ = ["MethodSpec", "METHODS", "FAMILIES", "FAMILY_PROTOCOLS", "method_protocol", "BCL_WEIGHTS",
           "BCL_TEMPERATURE", "BCL_PROJECTION_DIM", "BCL_IMAGENET_LT"]

_CLASSIFIER_LOSSES = ("ce", "la")
_CONTRASTIVE = (None, "supcon", "bc-ecl")
_PROTOTYPE_HEADS = ("linear", "mlp")
_WEIGHTINGS = ("auto", "fixed")
#: Protocol families: the sources publish different values per family ("imagenet-lt": ImageNet-LT;
#: "cifar": every other dataset, the sources' CIFAR values). The engine maps a dataset to its family.
FAMILIES = ("cifar", "imagenet-lt")
#: BCL's own weights and d_z on CIFAR-LT (CE 2.0, BCL 0.6, d_z 128, τ 0.1; BCL paper).
BCL_WEIGHTS = (2.0, 0.6, 0.0)
BCL_TEMPERATURE = 0.1
BCL_PROJECTION_DIM = 128
#: BCL's ImageNet-LT values (BCL's public `main.py`: --alpha 1.0 --beta 0.35 --temp 0.07 --feat_dim 1024).
BCL_IMAGENET_LT = dict(weights=(1.0, 0.35, 0.0), temperature=0.07, projection_dim=1024)


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
        prototype_head: the prototype map, ``"linear"`` (``p_c = norm(A·w_c + b)``, ECL/ProConDual)
            or ``"mlp"`` (BCL's Linear-BN-ReLU-Linear).
        weighting: the method's loss weighting when ``loss.weighting`` is null: ``"auto"`` or ``"fixed"``.
        weights: the method's fixed (α, β, γ) when ``loss.alpha/beta/gamma`` are null.
        temperature: the method's contrastive τ when ``loss.temperature`` is null.
        projection_dim: the method's d_z when ``model.projection_dim`` is null (``None``: d_z = d).

    The last five are the method's *protocol*: they fill the configuration keys the user left
    null; a value the user (or a preset) set explicitly always wins.
    """

    name: str
    classifier_loss: str
    contrastive: Optional[str]
    prototype_weight: Union[float, str, None]
    anchor_weighting: Optional[str]
    ccge: bool
    prototype_head: str = "linear"
    weighting: str = "auto"
    weights: tuple[float, float, float] = (1.0, 1.0, 1.0)
    temperature: float = 0.07
    projection_dim: Optional[int] = None

    def __post_init__(self) -> None:
        if self.classifier_loss not in _CLASSIFIER_LOSSES:
            raise ValueError(f"classifier_loss must be one of {_CLASSIFIER_LOSSES}, got {self.classifier_loss!r}")
        if self.contrastive not in _CONTRASTIVE:
            raise ValueError(f"contrastive must be one of {_CONTRASTIVE}, got {self.contrastive!r}")
        if self.ccge and self.contrastive != "bc-ecl":
            raise ValueError(f"method {self.name!r}: ccge needs prototypes, i.e. contrastive='bc-ecl'")
        if self.prototype_head not in _PROTOTYPE_HEADS:
            raise ValueError(f"prototype_head must be one of {_PROTOTYPE_HEADS}, got {self.prototype_head!r}")
        if self.weighting not in _WEIGHTINGS:
            raise ValueError(f"weighting must be one of {_WEIGHTINGS}, got {self.weighting!r}")
        if self.ccge and self.projection_dim is not None:
            raise ValueError(f"method {self.name!r}: CC-GE needs d_z = d, so projection_dim must be None")


def _spec(name: str, classifier_loss: str = "la", contrastive: Optional[str] = "bc-ecl",
          prototype_weight: Union[float, str, None] = None, anchor_weighting: Optional[str] = None,
          ccge: bool = True, **protocol) -> tuple[str, MethodSpec]:
    return name, MethodSpec(name, classifier_loss, contrastive, prototype_weight, anchor_weighting, ccge, **protocol)


#: Methods and ablations (docs/METHOD.md, "The total loss and its weights").
METHODS: dict[str, MethodSpec] = dict(
    [
        # single-loss methods train with their one loss at weight 1 (plain CE; Menon et al.'s LA):
        # the authors' auto weight would only scale the learning rate
        _spec("ce", classifier_loss="ce", contrastive=None, ccge=False, weighting="fixed", weights=(1.0, 0.0, 0.0)),
        _spec("la", contrastive=None, ccge=False, weighting="fixed", weights=(1.0, 0.0, 0.0)),
        _spec("supcon", contrastive="supcon", ccge=False),
        # BCL as BCL runs it (Zhu et al. 2022): LA + BCL loss, MLP prototype map, fixed weights
        # CE 2.0 / BCL 0.6, τ 0.1, d_z 128, no CC-GE.
        _spec("bcl", prototype_weight="bcl", ccge=False, prototype_head="mlp", weighting="fixed",
              weights=BCL_WEIGHTS, temperature=BCL_TEMPERATURE, projection_dim=BCL_PROJECTION_DIM),
        # the earlier `bcl`: LA + BCL weighting inside ECL's network (linear prototype map, d_z = d, auto weights)
        _spec("la-bcl-linear", prototype_weight="bcl", ccge=False),
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

#: (method, family) → the protocol values that differ from the method's own in that family.
FAMILY_PROTOCOLS: dict[tuple[str, str], dict] = {("bcl", "imagenet-lt"): BCL_IMAGENET_LT}


def method_protocol(name: str, family: str = "cifar") -> MethodSpec:
    """``METHODS[name]`` with the values its sources publish for `family` (one of :data:`FAMILIES`)."""
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
    return replace(METHODS[name], **FAMILY_PROTOCOLS.get((name, family), {}))
