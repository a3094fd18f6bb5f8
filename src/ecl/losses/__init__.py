"""Losses of Equilibrium Contrastive Learning; pure functions of tensors, no I/O, no other ecl imports."""

from .bc_ecl import BCECLLoss, bc_ecl_per_anchor
from .ccge import CCGELoss
from .logit_compensation import LogitCompensatedCE
from .methods import METHODS, MethodSpec
from .supcon import SupConLoss, supcon_per_anchor

__all__ = [
    "BCECLLoss",
    "bc_ecl_per_anchor",
    "SupConLoss",
    "supcon_per_anchor",
    "CCGELoss",
    "LogitCompensatedCE",
    "METHODS",
    "MethodSpec",
]
