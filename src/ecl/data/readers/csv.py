"""The `csv` dataset: data.train_csv, data.test_csv, optional data.val_csv with header `path,label`.

Without data.val_csv, data.val_per_class=N carves a validation split from the training rows
(`take_validation`; both at once is an error, see `ecl.data.validation`).

CSV files are relative to data.root unless absolute; image paths relative to data.root; UTF-8
with or without BOM, any line ending. Labels are all integers (class indices; classes
"0".."C−1", C = largest + 1, or data.num_classes) or class names (classes = sorted unique
training names). Size data.image_size (default 224), "cifar" views at ≤ 64 px, else "imagenet".
"""

from __future__ import annotations

import re
from pathlib import Path

from ecl.data.bundle import DataBundle
from ecl.data.errors import Problems
from ecl.data.settings import DataConfig
from ecl.data.readers.file_list import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    Row,
    SplitFiles,
    check_train_coverage,
    file_bundle,
    file_image_size_recipe,
    fixed_split_notes,
    parse_int_label,
    read_csv_rows,
    require_root,
    resolve_config_file,
    resolve_rows,
    take_validation,
)


__all__ = ["build_csv"]

_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _csv_rows(path: Path, problems: Problems) -> list[Row]:
    names, rows = read_csv_rows(path, problems, ("path", "label"))
    ip, il = names.index("path"), names.index("label")
    out = []
    for line, cells in rows:
        where = f"{path} line {line}"
        label = cells[il].strip()
        if not label:
            problems.add(f"{where}: empty label")
            continue
        out.append(Row(cells[ip], label, where))
    return out


def build_csv(cfg: DataConfig, problems: Problems | None = None, saved_split: dict | None = None) -> DataBundle:
    """CSV files with header path,label."""
    problems = problems if problems is not None else Problems()
    root = require_root(cfg, "csv")
    train_file = resolve_config_file(root, cfg.train_csv, "train_csv", True)
    test_file = resolve_config_file(root, cfg.test_csv, "test_csv", True)
    val_file = resolve_config_file(root, cfg.val_csv, "val_csv", False)
    train_rows = _csv_rows(train_file, problems)
    numeric = [_NUMBER.fullmatch(r.label) is not None for r in train_rows]
    integer_mode = bool(train_rows) and all(numeric)
    fixed_c = cfg.num_classes
    index: dict[str, int] = {}
    if integer_mode:
        labelled = [(r, parse_int_label(r.label, r.where, problems, fixed_c)) for r in train_rows]
        train_pairs = [(r, lab) for r, lab in labelled if lab is not None]
        num_classes = fixed_c if fixed_c is not None else max((lab for _, lab in train_pairs), default=-1) + 1
        classes = [str(c) for c in range(num_classes)]
    else:
        for r, is_num in zip(train_rows, numeric):
            if is_num:
                problems.add(f"{r.where}: label {r.label!r} is a number but other labels are class names")
        named = [r for r, is_num in zip(train_rows, numeric) if not is_num]
        classes = sorted({r.label for r in named})
        index = {name: i for i, name in enumerate(classes)}
        train_pairs = [(r, index[r.label]) for r in named]
    train = resolve_rows(root, train_pairs, problems)
    check_train_coverage(classes, train, str(train_file), problems)
    seen = set(train.labels)

    def other(path: Path) -> SplitFiles:
        pairs = []
        for r in _csv_rows(path, problems):
            if integer_mode:
                lab = parse_int_label(r.label, r.where, problems, fixed_c)
                if lab is None:
                    continue
                if lab not in seen:
                    problems.add(f"{r.where}: class {lab} unseen in training (no training image has this label)")
                    continue
            else:
                if r.label not in index:
                    problems.add(f"{r.where}: unknown class name {r.label!r} (not a training class)")
                    continue
                lab = index[r.label]
                if lab not in seen:
                    problems.add(f"{r.where}: class {r.label!r} unseen in training")
                    continue
            pairs.append((r, lab))
        return resolve_rows(root, pairs, problems)

    test = other(test_file)
    val = other(val_file) if val_file is not None else None
    record = {
        "root": str(root),
        "csv": {k: str(v) for k, v in (("train", train_file), ("test", test_file), ("val", val_file)) if v},
        "labels": "integer" if integer_mode else "names",
        "seed": cfg.split_seed,
        "profile": "given by the CSV files",
        "imbalance_factor": None,
    }
    notes = fixed_split_notes(cfg, "CSV files")
    size, recipe, size_reason = file_image_size_recipe(cfg, by_size=True, paths=train.paths, notes=notes)
    train, val = take_validation(cfg, classes, train, val, record, notes)
    return file_bundle("csv", classes, train, test, val, size, recipe, IMAGENET_MEAN, IMAGENET_STD, record, notes,
                       size_reason)
