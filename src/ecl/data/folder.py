"""Generic image datasets: a folder tree (`folder`) or CSV files (`csv`).

folder: root/train/<class>/*, root/test/<class>/*, optional root/val/<class>/*. Classes are the
sorted visible subfolders of train/; files are the visible ones whose extension is in
IMAGE_EXTENSIONS (others are ignored, counted in a note); a test/val class folder must exist in
train/.
csv: data.train_csv, data.test_csv, optional data.val_csv (relative to data.root unless
absolute), header `path,label`, paths relative to data.root, UTF-8 with or without BOM, any line
ending. Labels are all integers (class indices; classes "0".."C−1", C = largest + 1) or class
names (classes = sorted unique training names).
Both: size data.image_size (default 224), "cifar" views at ≤ 64 px, else "imagenet".
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ecl.data.bundle import DataBundle
from ecl.data.common import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    cfg_get,
    file_image_size_style,
    ignored_imbalance_note,
    require_root,
    resolve_config_file,
)
from ecl.data.errors import DataError, Problems
from ecl.data.filelists import (
    Row,
    SplitFiles,
    check_train_coverage,
    file_bundle,
    parse_int_label,
    read_csv_rows,
    resolve_rows,
)
from ecl.data.images import IMAGE_EXTENSIONS, is_image_name

__all__ = ["build_folder", "build_csv"]

_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


# --- folder -----------------------------------------------------------------------------------------

def _scan_split(root: Path, split: str, problems: Problems) -> tuple[dict[str, list[str]], int]:
    """{class name: sorted relative image paths} of root/<split>, and the number of ignored files."""
    base = root / split
    classes: dict[str, list[str]] = {}
    ignored = 0
    for entry in sorted(base.iterdir(), key=lambda p: p.name):
        if entry.name.startswith("."):
            continue
        if not entry.is_dir():
            ignored += 1
            continue
        files = []
        for f in sorted(entry.iterdir(), key=lambda p: p.name):
            if f.name.startswith("."):
                continue
            if is_image_name(f.name) and not f.is_dir():
                files.append(f"{split}/{entry.name}/{f.name}")
            else:
                ignored += 1
        classes[entry.name] = files
    return classes, ignored


def build_folder(cfg: Any, run_dir: Path | None = None, problems: Problems | None = None) -> DataBundle:
    """root/{train,test[,val]}/<class>/<image>."""
    problems = problems if problems is not None else Problems()
    root = require_root(cfg, "folder")
    for required in ("train", "test"):
        if not (root / required).is_dir():
            raise DataError(f"{root / required}: missing folder (the folder dataset needs {root}/train/<class>/ and {root}/test/<class>/)")
    train_tree, ignored = _scan_split(root, "train", problems)
    classes = sorted(train_tree)
    if not classes:
        raise DataError(f"{root / 'train'}: no class folders")
    index = {name: i for i, name in enumerate(classes)}
    for name in classes:
        if not train_tree[name]:
            problems.add(f"{root / 'train' / name}: class {name!r} has no training image "
                         f"(extensions: {', '.join(sorted(IMAGE_EXTENSIONS))})")

    def split_files(split: str, tree: dict[str, list[str]]) -> SplitFiles:
        rows = []
        for name in sorted(tree):
            if name not in index:
                problems.add(f"{root / split / name}: class {name!r} unseen in training (no {root / 'train' / name})")
                continue
            rows += [(Row(rel, name, str(root / rel)), index[name]) for rel in tree[name]]
        files = resolve_rows(root, rows, problems)
        files.sources = [""] * len(files.paths)  # the path itself names the item
        return files

    train = split_files("train", train_tree)
    test_tree, ignored_test = _scan_split(root, "test", problems)
    test = split_files("test", test_tree)
    val = None
    ignored_val = 0
    if (root / "val").is_dir():
        val_tree, ignored_val = _scan_split(root, "val", problems)
        val = split_files("val", val_tree)
    size, style = file_image_size_style(cfg, 224, by_size=True)
    notes = ignored_imbalance_note(cfg, "folders")
    total_ignored = ignored + ignored_test + ignored_val
    if total_ignored:
        notes.append(f"folder: {total_ignored} non-image or misplaced entries ignored")
    record = {"root": str(root), "seed": int(cfg_get(cfg, "split_seed", 0)),
              "profile": "given by the folders", "imbalance_factor": None}
    return file_bundle("folder", classes, train, test, val, size, style, IMAGENET_MEAN, IMAGENET_STD, record, notes)


# --- csv --------------------------------------------------------------------------------------------

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


def build_csv(cfg: Any, run_dir: Path | None = None, problems: Problems | None = None) -> DataBundle:
    """CSV files with header path,label."""
    problems = problems if problems is not None else Problems()
    root = require_root(cfg, "csv")
    train_file = resolve_config_file(root, getattr(cfg, "train_csv", None), "train_csv", True)
    test_file = resolve_config_file(root, getattr(cfg, "test_csv", None), "test_csv", True)
    val_file = resolve_config_file(root, getattr(cfg, "val_csv", None), "val_csv", False)
    train_rows = _csv_rows(train_file, problems)
    numeric = [_NUMBER.fullmatch(r.label) is not None for r in train_rows]
    integer_mode = bool(train_rows) and all(numeric)
    fixed_c = getattr(cfg, "num_classes", None)
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
    size, style = file_image_size_style(cfg, 224, by_size=True)
    record = {
        "root": str(root),
        "csv": {k: str(v) for k, v in (("train", train_file), ("test", test_file), ("val", val_file)) if v},
        "labels": "integer" if integer_mode else "names",
        "seed": int(cfg_get(cfg, "split_seed", 0)),
        "profile": "given by the CSV files",
        "imbalance_factor": None,
    }
    notes = ignored_imbalance_note(cfg, "CSV files")
    return file_bundle("csv", classes, train, test, val, size, style, IMAGENET_MEAN, IMAGENET_STD, record, notes)
