"""Long-tail class-count profiles and the LDAM-DRW subset selection.

Cao et al. 2019 (LDAM-DRW, `IMBALANCECIFAR10.get_img_num_per_cls` / `gen_imbalanced_data`):
- exp:  n_c = int(max · (1/IF)^(c/(C−1))), c = 0..C−1;
- step: the first ⌊C/2⌋ classes keep `max`, the rest int(max/IF).
Selection: a RandomState seeded once; for classes 0..C−1 in label order, shuffle the indices of
that class and keep the first n_c.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["PROFILES", "long_tail_counts", "select_long_tail", "class_counts"]

PROFILES = ("exp", "step")


def long_tail_counts(
    max_count: int | float, num_classes: int, imbalance_factor: float, profile: str = "exp"
) -> list[int]:
    """Per-class counts of a long-tailed set, head class first (length `num_classes`)."""
    if num_classes < 1:
        raise ValueError(f"num_classes: must be ≥ 1, got {num_classes!r}")
    if max_count < 1:
        raise ValueError(f"max_count: must be ≥ 1, got {max_count!r}")
    if imbalance_factor is None or imbalance_factor < 1:
        raise ValueError(f"imbalance_factor: must be ≥ 1, got {imbalance_factor!r}")
    if profile not in PROFILES:
        raise ValueError(f"profile: must be one of {', '.join(PROFILES)}, got {profile!r}")
    img_max = float(max_count)
    ratio = 1.0 / float(imbalance_factor)  # LDAM-DRW's `imb_factor` (0.01 for IF 100)
    if num_classes == 1:
        return [int(img_max)]
    if profile == "exp":
        return [int(img_max * (ratio ** (c / (num_classes - 1.0)))) for c in range(num_classes)]
    half = num_classes // 2
    return [int(img_max)] * half + [int(img_max * ratio)] * (num_classes - half)


def select_long_tail(
    targets: Sequence[int] | np.ndarray, counts: Sequence[int], seed: int = 0
) -> np.ndarray:
    """Indices kept by LDAM-DRW's `gen_imbalanced_data`, classes in label order (int64, 1-D).

    Uses a private `np.random.RandomState(seed)`: the same Mersenne-Twister stream as
    `np.random.seed(seed)` + `np.random.shuffle`, without touching NumPy's global state.
    """
    targets_np = np.asarray(targets, dtype=np.int64)
    rng = np.random.RandomState(seed)
    kept = []
    for the_class, the_num in enumerate(counts):
        idx = np.where(targets_np == the_class)[0]
        rng.shuffle(idx)
        kept.append(idx[: int(the_num)])
    return np.concatenate(kept) if kept else np.zeros(0, dtype=np.int64)


def class_counts(labels: Sequence[int] | np.ndarray, num_classes: int) -> list[int]:
    """Number of items per class 0..num_classes−1."""
    labels_np = np.asarray(labels, dtype=np.int64)
    return [int(v) for v in np.bincount(labels_np, minlength=num_classes)[:num_classes]]
