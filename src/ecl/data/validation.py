"""Where the validation split comes from: one rule for every reader.

A run has a validation split when it names one of two things, never both:

- the dataset's own split: `root/val/<class>/` (folder), `data.val_csv` (csv), `data.val_list`
  (ImageNet-LT, iNaturalist 2018, Places-LT), the 3:1:1 split of isic2019;
- `data.val_per_class=N` (> 0): N images per class carved from the training images — from the
  unused part of the pool for the long-tailed sets made from a balanced pool (`balanced_pool`),
  otherwise from the training list itself (`carve_per_class`: stratified, seeded by
  `data.split_seed`; the split record keeps what it cost each class).

Giving both is a `DataError` that names both. `validation_source(cfg)` answers from the
configuration alone (for `folder`: whether `root/val` is a directory); nothing is read.

`carve_per_class` draws, for each class c, a permutation of that class's training positions with
`np.random.default_rng([data.split_seed, c])` and moves the first N to validation: a class's draw
depends on the seed and on the class only, never on the other classes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from ecl.data.errors import DataError

if TYPE_CHECKING:
    from ecl.data.settings import DataConfig

__all__ = ["OWN_SPLITS", "own_split", "validation_source", "validation_choices", "carve_per_class", "carve_note"]

#: dataset → how it gives its own validation split (datasets not listed have none: val_per_class only)
OWN_SPLITS: dict[str, str] = {
    "folder": "root/val/<class>/",
    "csv": "data.val_csv",
    "imagenet-lt": "data.val_list",
    "inat2018": "data.val_list",
    "places-lt": "data.val_list",
    "isic2019": "data.name=isic2019 (its 3:1:1 split has a validation part)",
}


def own_split(cfg: DataConfig) -> str | None:
    """The dataset's own validation split named by `cfg` (a description), or None; reads nothing."""
    kind = OWN_SPLITS.get(cfg.name)
    if kind == "data.val_csv" and cfg.val_csv:
        return f"data.val_csv={cfg.val_csv}"
    if kind == "data.val_list" and cfg.val_list:
        return f"data.val_list={cfg.val_list}"
    if kind == "root/val/<class>/" and cfg.root and (Path(str(cfg.root)).expanduser() / "val").is_dir():
        return f"the folder {Path(str(cfg.root)).expanduser() / 'val'}/"
    if cfg.name == "isic2019":
        return "the validation part of isic2019's 3:1:1 split"
    return None


def validation_source(cfg: DataConfig) -> str | None:
    """Where the validation split of `cfg` comes from (a description), or None when it has none.

    DataError when both the dataset's own split and data.val_per_class are given, or
    data.val_per_class is negative.
    """
    per_class = int(cfg.val_per_class or 0)
    if per_class < 0:
        raise DataError(f"data.val_per_class: must be ≥ 0, got {per_class}")
    own = own_split(cfg)
    if own is not None and per_class > 0:
        raise DataError(f"data.val_per_class={per_class} and {own}: two validation splits given; "
                        f"keep one (drop data.val_per_class to use {own})")
    if own is not None:
        return own
    if per_class > 0:
        return f"data.val_per_class={per_class} (carved from the training images, data.split_seed={cfg.split_seed})"
    return None


def validation_choices(cfg: DataConfig) -> str:
    """How `cfg`'s dataset can be given a validation split, as a phrase for an error message."""
    kind = OWN_SPLITS.get(cfg.name)
    carve = "data.val_per_class=N (N images per class carved from the training images)"
    if kind is None:
        return f"set {carve}"
    return f"give {kind} or set {carve}"


def carve_per_class(labels: Sequence[int], classes: Sequence[str], per_class: int,
                    seed: int) -> tuple[list[int], list[int]]:
    """(training positions, validation positions), each ascending, of a stratified carve.

    labels: (N,) class index of each training item; each class gives `per_class` items drawn by
    `np.random.default_rng([seed, c])`. DataError naming data.val_per_class when a class has
    ≤ per_class items (one must stay in training).
    """
    labels_np = np.asarray(labels, dtype=np.int64)
    val: list[int] = []
    for c, name in enumerate(classes):
        mine = np.flatnonzero(labels_np == c)
        if per_class >= len(mine):
            raise DataError(f"data.val_per_class={per_class}: class {name!r} has only {len(mine)} training "
                            f"images; use at most {max(len(mine) - 1, 0)} (one must stay in training) or give "
                            f"a validation split of your own")
        rng = np.random.default_rng([int(seed), c])
        val += mine[rng.permutation(len(mine))[:per_class]].tolist()
    chosen = set(val)
    return [i for i in range(len(labels_np)) if i not in chosen], sorted(val)


def carve_note(classes: Sequence[str], before: Sequence[int], per_class: int, seed: int, shown: int = 10) -> str:
    """The start-up note of a carve: its size and what it cost each class (hardest hit first)."""
    costs = sorted(range(len(classes)), key=lambda c: (-per_class / before[c], c))
    parts = [f"{classes[c]} {before[c]}→{before[c] - per_class} (−{100 * per_class / before[c]:.0f}%)"
             for c in costs[:shown]]
    more = f", and {len(classes) - shown} more" if len(classes) > shown else ""
    return (f"validation: {per_class} images per class carved from the training images (data.val_per_class, "
            f"data.split_seed={seed}); training images per class: {', '.join(parts)}{more}")
