"""Training objective ``L = α·L_LC + β·L_contrastive + γ·L_CC-GE`` (docs/METHOD.md, total loss).

Which components a method uses is DATA (:data:`METHODS`); :class:`Objective` builds the losses a
:class:`MethodSpec` asks for and weights them ("auto": the authors' one-epoch calibration,
"fixed": user weights). α, β, γ and the calibrated flag are buffers, so they are saved in
checkpoints through ``state_dict``.
"""

from __future__ import annotations

import math
from typing import Mapping, NamedTuple, Optional, Sequence, Union

import torch
from torch import Tensor, nn

from ecl.engine.training import distributed
from ecl.losses import BCECLLoss, CCGELoss, LogitCompensatedCE, SupConLoss
from ecl.losses.methods import METHODS, MethodSpec  # noqa: F401  (METHODS: kept importable from here)

__all__ = ["Objective", "ObjectiveOutput", "AUTO_TARGETS"]

_WEIGHTINGS = ("auto", "fixed")
#: target share of each component after the first epoch under ``weighting="auto"``
AUTO_TARGETS: dict[str, float] = {"lc": 0.7, "contrastive": 0.3, "ccge": 0.5}
_WEIGHT_OF = {"lc": "alpha", "contrastive": "beta", "ccge": "gamma"}


class ObjectiveOutput(NamedTuple):
    """``total``: scalar with grad; ``components``: detached scalars keyed "lc"/"contrastive"/"ccge"."""

    total: Tensor
    components: dict[str, Tensor]


class Objective(nn.Module):
    """``L = α·L_LC + β·L_contrastive + γ·L_CC-GE`` over the components the method uses.

    Args:
        method: a :class:`MethodSpec` (e.g. ``METHODS["ecl"]``).
        class_counts: training-set class counts (length C, all > 0; whole training set).
        temperature: τ of the contrastive loss.
        prototype_weight: λ (or "bcl") used when the method leaves it ``None``.
        anchor_weighting: "sample"/"class" used when the method leaves it ``None``.
        lc_tau: logit-compensation strength of the "la" classifier loss.
        weighting: "auto" (α=β=γ=1 in epoch 1, then 0.7/mean(L_LC), 0.3/mean(L_con), 0.5/mean(L_CC-GE),
            frozen) or "fixed" (``weights``).
        weights: (α, β, γ) for "fixed".
        gather: gather projections and labels over ranks before the contrastive loss when
            torch.distributed is initialised with world size > 1.
    """

    alpha: Tensor
    beta: Tensor
    gamma: Tensor
    calibrated: Tensor

    def __init__(
        self,
        method: MethodSpec,
        class_counts: Sequence[int],
        *,
        temperature: float = 0.07,
        prototype_weight: Union[float, str] = 0.5,
        anchor_weighting: str = "sample",
        lc_tau: float = 1.0,
        weighting: str = "auto",
        weights: Sequence[float] = (1.0, 1.0, 1.0),
        gather: bool = False,
    ) -> None:
        super().__init__()
        if not isinstance(method, MethodSpec):
            raise ValueError(f"method must be a MethodSpec (see METHODS), got {method!r}")
        if weighting not in _WEIGHTINGS:
            raise ValueError(f"weighting must be one of {_WEIGHTINGS}, got {weighting!r}")
        weights = tuple(float(w) for w in weights)
        if len(weights) != 3 or not all(math.isfinite(w) and w >= 0 for w in weights):
            raise ValueError(f"weights must be three finite numbers >= 0 (alpha, beta, gamma), got {weights!r}")
        self.method = method
        self.weighting = weighting
        self.gather = bool(gather)

        # labels come from a data set checked when it was loaded: the losses' per-step label check
        # (a read back to the host, a wait on a GPU) is off
        self.classifier_loss = LogitCompensatedCE(class_counts, tau=lc_tau if method.classifier_loss == "la" else 0.0,
                                                  check_labels=False)
        self.contrastive_loss: Optional[nn.Module]
        if method.contrastive == "supcon":
            self.contrastive_loss = SupConLoss(temperature)
        elif method.contrastive == "bc-ecl":
            self.contrastive_loss = BCECLLoss(
                temperature,
                method.prototype_weight if method.prototype_weight is not None else prototype_weight,
                method.anchor_weighting if method.anchor_weighting is not None else anchor_weighting,
                check_labels=False,
            )
        else:
            self.contrastive_loss = None
        self.ccge_loss: Optional[CCGELoss] = CCGELoss() if method.ccge else None

        initial = (1.0, 1.0, 1.0) if weighting == "auto" else weights
        for name, value in zip(("alpha", "beta", "gamma"), initial):
            self.register_buffer(name, torch.tensor(value, dtype=torch.float32))
        self.register_buffer("calibrated", torch.tensor(weighting == "fixed"))

    @property
    def components(self) -> tuple[str, ...]:
        """Active component keys, among "lc", "contrastive", "ccge"."""
        keys = ["lc"]
        if self.contrastive_loss is not None:
            keys.append("contrastive")
        if self.ccge_loss is not None:
            keys.append("ccge")
        return tuple(keys)

    @property
    def weights(self) -> dict[str, float]:
        return {"alpha": float(self.alpha), "beta": float(self.beta), "gamma": float(self.gamma)}

    def end_epoch(self, means: Mapping[str, float]) -> None:
        """Called by the trainer after every epoch with that epoch's mean component losses.

        Under "auto" the first call sets α = round(0.7/mean(lc), 2), β = round(0.3/mean(contrastive), 2),
        γ = round(0.5/mean(ccge), 2) (active components only; rounded to 2 decimals as the authors do)
        and freezes them; later calls do nothing. `means` are sample-weighted epoch means (each
        step's loss weighted by its batch size). The trainer calls it from the first epoch after
        warm-up on (:mod:`ecl.engine.training.loop`), so a warm-up epoch never sets the weights.
        """
        if self.weighting != "auto" or bool(self.calibrated):
            return
        new = {}
        for key in self.components:
            if key not in means:
                raise ValueError(f"end_epoch needs the epoch mean of {key!r}, got keys {sorted(means)}")
            value = float(means[key])
            if not math.isfinite(value) or value <= 0.0:
                raise ValueError(
                    f"cannot calibrate the auto loss weights: the calibration epoch's mean of {key!r} is {value!r} "
                    "(must be finite and > 0)"
                )
            new[_WEIGHT_OF[key]] = round(AUTO_TARGETS[key] / value, 2)
        for name, value in new.items():
            getattr(self, name).fill_(value)
        self.calibrated.fill_(True)

    def forward(
        self,
        logits: Tensor,
        labels: Tensor,
        projections: Optional[Tensor] = None,
        prototypes: Optional[Tensor] = None,
        classifier_weight: Optional[Tensor] = None,
    ) -> ObjectiveOutput:
        """Args: ``logits`` (B, C) of the classifier view, ``labels`` (B,), ``projections``
        (B, V, d_z) of the contrastive views, ``prototypes`` (C, d_z), ``classifier_weight`` (C, d)."""
        values: dict[str, Tensor] = {"lc": self.classifier_loss(logits, labels)}
        if self.contrastive_loss is not None:
            if projections is None:
                raise ValueError(f"method {self.method.name!r} needs projections (B, V, d_z), got None")
            con_labels = labels
            if self.gather and distributed.get_world_size() > 1:
                projections = distributed.gather_with_grad(projections)
                con_labels = distributed.gather_no_grad(labels, check_shapes=False)  # B checked above
            if isinstance(self.contrastive_loss, BCECLLoss):
                if prototypes is None:
                    raise ValueError(f"method {self.method.name!r} needs prototypes (C, d_z), got None")
                values["contrastive"] = self.contrastive_loss(projections, con_labels, prototypes)
            else:
                values["contrastive"] = self.contrastive_loss(projections, con_labels)
        if self.ccge_loss is not None:
            if prototypes is None or classifier_weight is None:
                raise ValueError(
                    f"method {self.method.name!r} needs classifier_weight (C, d) and prototypes (C, d_z) for CC-GE"
                )
            values["ccge"] = self.ccge_loss(classifier_weight, prototypes)
        coeff = {"lc": self.alpha, "contrastive": self.beta, "ccge": self.gamma}
        total = sum(coeff[k].to(v.dtype) * v for k, v in values.items())
        return ObjectiveOutput(total, {k: v.detach() for k, v in values.items()})

    def extra_repr(self) -> str:
        return f"method={self.method.name!r}, weighting={self.weighting!r}, gather={self.gather}"
