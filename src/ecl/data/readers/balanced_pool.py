"""Long-tailed sets made from a balanced pool (CIFAR-LT, MNIST-LT, Fashion-MNIST-LT, digits-lt).

The LDAM-DRW construction (`build_ldam_bundle`): img_max = (training images) / C, counts
`long_tail_counts(img_max, C, data.imbalance_factor, data.profile)`, selection
`select_long_tail(labels, counts, seed=0)` (LDAM-DRW's np.random.seed(0), per-class shuffle,
first n_c kept); the full balanced test set unless data.test_profile="lt" (non-standard, noted).

Validation from the unused pool (`carve_validation`, data.val_per_class = N > 0, default 0 = none):
for each class in label order, N images drawn with `np.random.RandomState(data.split_seed)` from
the pool images that the training selection left unused (and that are not test images). A class
whose selection leaves fewer than N unused (the head class of an `exp` profile uses its whole
pool) gives its last selected training images to validation, i.e. its count becomes
min(n_c, pool_c − N): a note and the split record say so. A pool of ≤ N images is an error
naming data.val_per_class. Train, validation and test never overlap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ecl.data.bundle import DataBundle
from ecl.data.errors import DataError
from ecl.data.profiles import class_counts, long_tail_counts, select_long_tail
from ecl.data.torch_datasets import ArrayDataset
from ecl.data.settings import DataConfig


__all__ = ["LDAM_SEED", "PoolSource", "lt_test_note", "carve_validation", "validation_notes", "build_ldam_bundle"]

LDAM_SEED = 0  # IMBALANCECIFAR10(rand_number=0): np.random.seed(0)


def lt_test_note(test_count: int) -> str:
    return (
        "non-standard: long-tailed test set (data.test_profile=lt, "
        f"max {test_count} per class); the standard protocol uses the balanced test set"
    )


def carve_validation(
    labels: np.ndarray, train_idx: np.ndarray, num_classes: int, per_class: int, seed: int,
    candidates: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, dict[int, int]]:
    """(train indices, validation indices, {class: training images given up}); see the module doc.

    labels: (N,) pool labels; train_idx: the selection, each class's indices in selection order;
    candidates: pool indices allowed in validation (default all N; excludes a carved test set).
    """
    if per_class < 0:
        raise DataError(f"data.val_per_class: must be ≥ 0, got {per_class}")
    if per_class == 0:
        return train_idx, np.zeros(0, dtype=np.int64), {}
    labels = np.asarray(labels, dtype=np.int64)
    eligible = np.ones(len(labels), dtype=bool)
    if candidates is not None:
        eligible[:] = False
        eligible[np.asarray(candidates, dtype=np.int64)] = True
    rng = np.random.RandomState(seed)
    train_labels = labels[train_idx]
    trains, vals, given = [], [], {}
    for c in range(num_classes):
        chosen = train_idx[train_labels == c]
        pool = np.where((labels == c) & eligible)[0]
        unused = rng.permutation(np.setdiff1d(pool, chosen))
        short = per_class - len(unused)
        if short > 0:
            if len(chosen) - short < 1:
                raise DataError(
                    f"data.val_per_class={per_class}: class {c} has only {len(pool)} pool images "
                    f"({len(unused)} unused by training); use at most {len(pool) - 1}")
            unused = np.concatenate([unused, chosen[len(chosen) - short:]])
            chosen = chosen[: len(chosen) - short]
            given[c] = short
        trains.append(chosen)
        vals.append(np.sort(unused[:per_class]))
    return np.concatenate(trains), np.concatenate(vals), given


def validation_notes(name: str, per_class: int, given: dict[int, int]) -> list[str]:
    if not per_class:
        return []
    notes = [f"{name}: balanced validation split of {per_class} per class from the unused pool (data.val_per_class)"]
    if given:
        what = ", ".join(f"class {c}: {k}" for c, k in sorted(given.items()))
        notes.append(f"{name}: the training selection left too few unused images; "
                     f"training images moved to validation ({what})")
    return notes


@dataclass
class PoolSource:
    """A balanced source read from disk: uint8 images (N,H,W[,3]) with labels, and how to show them."""

    name: str
    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    classes: list[str]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    native_size: int
    recipe_for: Callable[[int], str]  # image size → the default view recipe
    where: str  # the folder read, for messages
    protocol: str


def _ldam_indices(cfg: DataConfig, src: PoolSource) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """(train indices, test indices, record fields) of the LDAM-DRW construction."""
    c = len(src.classes)
    imbalance = float(cfg.imbalance_factor) if cfg.imbalance_factor is not None else 100.0
    try:
        counts = long_tail_counts(len(src.train_x) / c, c, imbalance, cfg.profile)
    except ValueError as exc:
        raise DataError(f"{src.name}: {exc}") from None
    train_idx = select_long_tail(src.train_y, counts, seed=LDAM_SEED)
    if cfg.test_profile == "lt":
        test_counts = long_tail_counts(len(src.test_x) / c, c, imbalance, cfg.profile)
        test_idx = select_long_tail(src.test_y, test_counts, seed=LDAM_SEED)
    else:
        test_idx = np.arange(len(src.test_x))
    record = {"dataset": src.name, "protocol": src.protocol, "seed": LDAM_SEED, "profile": cfg.profile,
              "imbalance_factor": imbalance, "test_profile": cfg.test_profile, "ldam_counts": counts}
    return train_idx, test_idx, record


def _check_classes(src: PoolSource, train_labels: np.ndarray, test_labels: np.ndarray, test_idx: np.ndarray) -> None:
    present = class_counts(train_labels, len(src.classes))
    for c, n in enumerate(present):
        if n == 0:
            raise DataError(f"{src.where}: class {c} ({src.classes[c]}) has no training image")
    for i, label in zip(test_idx, test_labels):
        if present[int(label)] == 0:
            raise DataError(f"{src.where}: test row {int(i)} has class {int(label)}, unseen in training")


def build_ldam_bundle(cfg: DataConfig, src: PoolSource) -> DataBundle:
    """The LDAM-DRW long-tailed bundle of `src` (+ validation from the unused pool)."""
    c = len(src.classes)
    train_idx, test_idx, record = _ldam_indices(cfg, src)
    train_idx, val_idx, given = carve_validation(src.train_y, train_idx, c, cfg.val_per_class, cfg.split_seed)
    _check_classes(src, src.train_y[train_idx], src.test_y[test_idx], test_idx)
    size = int(cfg.image_size) if cfg.image_size is not None else src.native_size
    recipe = src.recipe_for(size)
    notes = [f"{src.name}: {src.native_size} px images shown at {size} px (recipe {recipe})"] if size != src.native_size else []
    if cfg.test_profile == "lt":
        notes.append(lt_test_note(len(src.test_x) // c))
    notes += validation_notes(src.name, cfg.val_per_class, given)
    record["indices"] = {"train": [int(i) for i in train_idx], "test": [int(i) for i in test_idx]}
    has_val = cfg.val_per_class > 0
    if has_val:
        record.update(val_per_class=cfg.val_per_class, val_seed=cfg.split_seed,
                      val_moved_from_train={str(k): v for k, v in given.items()})
        record["indices"]["val"] = [int(i) for i in val_idx]
    return DataBundle(
        train=ArrayDataset(src.train_x[train_idx], src.train_y[train_idx]),
        test=ArrayDataset(src.test_x[test_idx], src.test_y[test_idx]),
        val=ArrayDataset(src.train_x[val_idx], src.train_y[val_idx]) if has_val else None,
        classes=list(src.classes),
        train_counts=class_counts(src.train_y[train_idx], c),
        test_counts=class_counts(src.test_y[test_idx], c),
        val_counts=class_counts(src.train_y[val_idx], c) if has_val else None,
        image_size=size, recipe=recipe, mean=src.mean, std=src.std, split_record=record, notes=notes,
    )
