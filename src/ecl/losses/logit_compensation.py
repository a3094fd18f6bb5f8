"""Logit-compensated cross-entropy (logit adjustment; docs/METHOD.md, Loss 1).

``L_LC = CE(logits + τ·log π, y)`` with the training-set prior ``π_c = n_c / Σ_k n_k``.
``τ = 0`` is plain cross-entropy. At evaluation use the raw logits.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["LogitCompensatedCE"]


class LogitCompensatedCE(nn.Module):
    """``forward(logits (B, C), labels (B,)) → scalar`` mean of ``CE(logits + tau·log π, y)``.

    Args:
        class_counts: length-C training-set counts, all > 0.
        tau: compensation strength (finite; 0 gives plain CE).
        check_labels: raise ValueError for a label outside [0, C) (reads the labels' range back to
            the host; the training objective, whose labels were checked when the data was loaded,
            turns it off so that a GPU step never waits).

    The (C,) log-prior lives in the registered buffer ``log_prior`` (moves with ``.to()``).
    """

    log_prior: Tensor

    def __init__(self, class_counts: Sequence[int] | Tensor, tau: float = 1.0, *, check_labels: bool = True) -> None:
        super().__init__()
        self.check_labels = bool(check_labels)
        counts = torch.as_tensor(class_counts, dtype=torch.float64).reshape(-1) if not isinstance(
            class_counts, Tensor
        ) else class_counts.detach().to("cpu", torch.float64)
        if counts.ndim != 1 or counts.numel() == 0:
            raise ValueError(f"class_counts must be a non-empty 1-D sequence, got shape {tuple(counts.shape)}")
        bad = [(c, float(v)) for c, v in enumerate(counts.tolist()) if not (v > 0 and math.isfinite(v))]
        if bad:
            c, v = bad[0]
            raise ValueError(f"class_counts must all be > 0 (finite): class {c} has count {v:g}")
        if isinstance(tau, bool) or not isinstance(tau, (int, float)) or not math.isfinite(tau):
            raise ValueError(f"tau must be a finite number, got {tau!r}")
        self.tau = float(tau)
        prior = counts / counts.sum()
        self.register_buffer("log_prior", torch.log(prior).to(torch.float32))

    @property
    def num_classes(self) -> int:
        return int(self.log_prior.numel())

    def forward(self, logits: Tensor, labels: Tensor) -> Tensor:
        if logits.ndim != 2 or logits.shape[1] != self.num_classes:
            raise ValueError(
                f"logits must have shape (B, {self.num_classes}), got {tuple(logits.shape)}"
            )
        if labels.ndim != 1 or labels.shape[0] != logits.shape[0]:
            raise ValueError(f"labels must have shape ({logits.shape[0]},), got {tuple(labels.shape)}")
        if self.check_labels and labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= self.num_classes):
            bad = int(labels.min()) if int(labels.min()) < 0 else int(labels.max())
            raise ValueError(f"labels must lie in [0, {self.num_classes}), got label {bad}")
        dtype = torch.float64 if logits.dtype == torch.float64 else torch.float32
        adjusted = logits.to(dtype)
        if self.tau != 0.0:
            adjusted = adjusted + self.tau * self.log_prior.to(dtype)
        return F.cross_entropy(adjusted, labels.long())

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, tau={self.tau}"
