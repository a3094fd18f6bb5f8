"""Learning-rate schedules as pure functions (``train.schedule``).

- ``cosine_epoch`` (default; the authors' ``adjust_lr`` in ProConDual/ECL ``main_*.py``): one lr per
  epoch, set before the epoch starts. With ``w`` warm-up epochs (the authors use none) and E epochs,
  for the 0-based epoch e:
  ``lr_e = lr·(e+1)/w`` while ``e < w``, then ``lr_e = lr·½(1 + cos(π(e−w+1)/(E−w+1)))``;
  with ``w = 0``: ``lr_e = lr·½(1 + cos(π(e+1)/(E+1)))``.
- ``cosine_step``: updated every step, linear warm-up then cosine from lr to 0 at the end of the
  last epoch (:func:`cosine_lr`).
"""

from __future__ import annotations

import math

__all__ = ["SCHEDULES", "cosine_lr", "epoch_cosine_lr", "lr_at"]

SCHEDULES = ("cosine_epoch", "cosine_step")


def _check(epochs: int, warmup_epochs: int) -> None:
    if epochs <= 0:
        raise ValueError(f"epochs must be > 0, got {epochs}")
    if not 0 <= warmup_epochs < epochs:
        raise ValueError(f"warmup_epochs must be in [0, epochs), got {warmup_epochs}")


def epoch_cosine_lr(epoch: int, base_lr: float, epochs: int, warmup_epochs: int = 0) -> float:
    """The authors' per-epoch lr of 0-based `epoch` (see the module docstring for the formula)."""
    _check(epochs, warmup_epochs)
    if epoch < warmup_epochs:
        return base_lr * (epoch + 1) / warmup_epochs
    t = (epoch - warmup_epochs + 1) / (epochs - warmup_epochs + 1)
    return base_lr * 0.5 * (1.0 + math.cos(math.pi * t))


def cosine_lr(progress: float, base_lr: float, epochs: int, warmup_epochs: int = 0,
              min_lr: float = 0.0) -> float:
    """The per-step lr at `progress` epochs into training (a float: 2.5 = halfway through epoch 3).

    Warmup: linear up to base_lr over the first `warmup_epochs` (never below 1% of the way);
    then cosine from base_lr to `min_lr` at `epochs`.
    """
    _check(epochs, warmup_epochs)
    progress = min(max(progress, 0.0), float(epochs))
    if progress < warmup_epochs:
        return base_lr * max(progress, 0.01) / warmup_epochs
    span = epochs - warmup_epochs
    t = (progress - warmup_epochs) / span
    return min_lr + 0.5 * (base_lr - min_lr) * (1.0 + math.cos(math.pi * t))


def lr_at(schedule: str, epoch: int, step: int, steps_per_epoch: int, base_lr: float, epochs: int,
          warmup_epochs: int = 0) -> float:
    """The lr of `step` (0-based) of 0-based `epoch` under `schedule` (one of :data:`SCHEDULES`)."""
    if schedule == "cosine_epoch":
        return epoch_cosine_lr(epoch, base_lr, epochs, warmup_epochs)
    if schedule == "cosine_step":
        return cosine_lr(epoch + step / max(steps_per_epoch, 1), base_lr, epochs, warmup_epochs)
    raise ValueError(f"train.schedule: must be one of {', '.join(SCHEDULES)}, got {schedule!r}")
