"""Learning-rate schedule: linear warmup then cosine decay, as a pure function."""

from __future__ import annotations

import math

__all__ = ["cosine_lr"]


def cosine_lr(progress: float, base_lr: float, epochs: int, warmup_epochs: int = 0,
              min_lr: float = 0.0) -> float:
    """The learning rate at `progress` epochs into training (a float: 2.5 = halfway through epoch 3).

    Warmup: linear up to base_lr over the first `warmup_epochs` (never below 1% of the way);
    then cosine from base_lr to `min_lr` at `epochs`.
    """
    if epochs <= 0:
        raise ValueError(f"epochs must be > 0, got {epochs}")
    if not 0 <= warmup_epochs < epochs:
        raise ValueError(f"warmup_epochs must be in [0, epochs), got {warmup_epochs}")
    progress = min(max(progress, 0.0), float(epochs))
    if progress < warmup_epochs:
        return base_lr * max(progress, 0.01) / warmup_epochs
    span = epochs - warmup_epochs
    t = (progress - warmup_epochs) / span
    return min_lr + 0.5 * (base_lr - min_lr) * (1.0 + math.cos(math.pi * t))
