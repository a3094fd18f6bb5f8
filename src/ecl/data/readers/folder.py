"""The `folder` dataset: root/train/<class>/*, root/test/<class>/*, optional root/val/<class>/*.

Without root/val/, data.val_per_class=N carves a validation split from the training images
(`take_validation`; both at once is an error, see `ecl.data.validation`).

Classes are the sorted visible subfolders of train/; files are the visible ones whose extension
is in IMAGE_EXTENSIONS (others are ignored, counted in a note); a test/val class folder must
exist in train/. Size data.image_size (default 224), "cifar" views at ≤ 64 px, else "imagenet".
"""

from __future__ import annotations

from pathlib import Path

from ecl.data.bundle import DataBundle
from ecl.data.errors import DataError, Problems
from ecl.data.images import IMAGE_EXTENSIONS, is_image_name
from ecl.data.settings import DataConfig
from ecl.data.readers.file_list import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    Row,
    SplitFiles,
    file_bundle,
    file_image_size_recipe,
    fixed_split_notes,
    require_root,
    resolve_rows,
    take_validation,
)


__all__ = ["build_folder"]

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


def build_folder(cfg: DataConfig, problems: Problems | None = None, saved_split: dict | None = None) -> DataBundle:
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
        if not val.paths:
            problems.add(f"{root / 'val'}: no validation image (add {root}/val/<class>/ images, or remove the "
                         f"folder to train without validation or with data.val_per_class)")
    notes = fixed_split_notes(cfg, "folders")
    size, recipe, size_reason = file_image_size_recipe(cfg, by_size=True, paths=train.paths, notes=notes)
    total_ignored = ignored + ignored_test + ignored_val
    if total_ignored:
        notes.append(f"folder: {total_ignored} non-image or misplaced entries ignored")
    record = {"root": str(root), "seed": cfg.split_seed,
              "profile": "given by the folders", "imbalance_factor": None}
    train, val = take_validation(cfg, classes, train, val, record, notes)
    return file_bundle("folder", classes, train, test, val, size, recipe, IMAGENET_MEAN, IMAGENET_STD, record, notes,
                       size_reason)
