"""ImageNet-LT, iNaturalist 2018, Places-LT from split lists.

data.train_list / data.test_list / optional data.val_list (absolute, or relative to data.root):
one `relative/path label` per line, image paths relative to data.root, labels 0..C−1 with
C = (largest training label) + 1 (or `data.num_classes` when set). Every class
needs a training image; a test/val label must be a training class. Classes are named "0".."C−1".
Without data.val_list, data.val_per_class=N carves a validation split from the training list
(`take_validation`; both at once is an error, see `ecl.data.validation`).
"""

from __future__ import annotations


from ecl.data.bundle import DataBundle
from ecl.data.errors import Problems
from ecl.data.settings import DataConfig
from ecl.data.readers.file_list import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    Row,
    check_train_coverage,
    file_bundle,
    file_image_size_recipe,
    fixed_split_notes,
    parse_int_label,
    read_list_file,
    require_root,
    resolve_config_file,
    resolve_rows,
    take_validation,
)


__all__ = ["build_split_lists", "build_imagenet_lt", "build_inat2018", "build_places_lt"]


def _labelled(rows: list[Row], problems: Problems, num_classes: int | None, known: set[int] | None) -> list[tuple[Row, int]]:
    out = []
    for row in rows:
        label = parse_int_label(row.label, row.where, problems, num_classes)
        if label is None:
            continue
        if known is not None and label not in known:
            problems.add(f"{row.where}: class {label} unseen in training (no training image has this label)")
            continue
        out.append((row, label))
    return out


def build_split_lists(cfg: DataConfig, name: str, problems: Problems) -> DataBundle:
    """Read and check the three lists of a split-list dataset."""
    root = require_root(cfg, name)
    train_file = resolve_config_file(root, cfg.train_list, "train_list", True)
    test_file = resolve_config_file(root, cfg.test_list, "test_list", True)
    val_file = resolve_config_file(root, cfg.val_list, "val_list", False)
    fixed_c = cfg.num_classes
    train_rows = _labelled(read_list_file(train_file, problems), problems, fixed_c, None)
    num_classes = fixed_c if fixed_c is not None else (max((lab for _, lab in train_rows), default=-1) + 1)
    train = resolve_rows(root, train_rows, problems)
    classes = [str(c) for c in range(num_classes)]
    check_train_coverage(classes, train, str(train_file), problems)
    known = set(train.labels)
    test = resolve_rows(root, _labelled(read_list_file(test_file, problems), problems, fixed_c, known), problems)
    val = None
    if val_file is not None:
        val = resolve_rows(root, _labelled(read_list_file(val_file, problems), problems, fixed_c, known), problems)
    size, recipe, _ = file_image_size_recipe(cfg, by_size=False)
    record = {
        "root": str(root),
        "lists": {k: str(v) for k, v in (("train", train_file), ("test", test_file), ("val", val_file)) if v},
        "seed": cfg.split_seed,
        "profile": "given by the split lists",
        "imbalance_factor": None,
    }
    notes = fixed_split_notes(cfg, "split lists")
    train, val = take_validation(cfg, classes, train, val, record, notes)
    return file_bundle(name, classes, train, test, val, size, recipe, IMAGENET_MEAN, IMAGENET_STD, record, notes)


def build_imagenet_lt(cfg: DataConfig, problems: Problems | None = None, saved_split: dict | None = None) -> DataBundle:
    return build_split_lists(cfg, "imagenet-lt", problems if problems is not None else Problems())


def build_inat2018(cfg: DataConfig, problems: Problems | None = None, saved_split: dict | None = None) -> DataBundle:
    return build_split_lists(cfg, "inat2018", problems if problems is not None else Problems())


def build_places_lt(cfg: DataConfig, problems: Problems | None = None, saved_split: dict | None = None) -> DataBundle:
    return build_split_lists(cfg, "places-lt", problems if problems is not None else Problems())
