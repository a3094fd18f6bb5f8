"""ISIC 2019 (training part, official layout), 8 classes, stratified 3:1:1 train/val/test split,
or the authors' fixed split when `data.train_list`/`val_list`/`test_list` name their split files
(:mod:`ecl.data.readers.isic_split_files`; then the ground-truth CSV is not needed).

data.root holds `ISIC_2019_Training_GroundTruth.csv` (columns image,MEL,NV,BCC,AK,BKL,DF,VASC,SCC,UNK,
one-hot floats) and `ISIC_2019_Training_Input/<image>.jpg`. UNK is dropped: a row must be exactly
one-hot over the 8 classes (UNK 0).

Split (our own per-class split, no scikit-learn): `np.random.RandomState(data.split_seed)`; for
each class in column order, permute its rows (CSV order) and take round(n/5) for test, round(n/5)
for val (at least one each when n ≥ 3), the rest for train; each split keeps CSV order. Given a
saved split record (`saved_split`, the run folder's split record of an earlier build) the split is
read back from it instead, so a resumed run sees exactly the same split.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ecl.data.bundle import DataBundle
from ecl.data.errors import DataError, Problems
from ecl.data.settings import DataConfig
from ecl.data.readers.file_list import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    Row,
    file_bundle,
    file_image_size_recipe,
    fixed_split_notes,
    read_csv_rows,
    require_root,
    resolve_rows,
)
from ecl.data.readers.isic_split_files import is_image_id, read_split_files, uses_split_files


__all__ = ["ISIC_CLASSES", "GROUND_TRUTH", "IMAGE_DIR", "stratified_split", "build_isic2019"]

ISIC_CLASSES = ["MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC"]
GROUND_TRUTH = "ISIC_2019_Training_GroundTruth.csv"
IMAGE_DIR = "ISIC_2019_Training_Input"


def stratified_split(labels: list[int], num_classes: int, seed: int) -> dict[str, list[int]]:
    """Row positions of a per-class 3:1:1 train/val/test split (see the module doc)."""
    rng = np.random.RandomState(seed)
    labels_np = np.asarray(labels, dtype=np.int64)
    parts: dict[str, list[int]] = {"train": [], "val": [], "test": []}
    for c in range(num_classes):
        idx = np.where(labels_np == c)[0]
        n = len(idx)
        perm = idx[rng.permutation(n)]
        n_test = n_val = int(round(n / 5))
        if n >= 3:
            n_test, n_val = max(1, n_test), max(1, n_val)
        parts["test"] += perm[:n_test].tolist()
        parts["val"] += perm[n_test : n_test + n_val].tolist()
        parts["train"] += perm[n_test + n_val :].tolist()
    return {k: sorted(int(i) for i in v) for k, v in parts.items()}


def _read_ground_truth(path: Path, problems: Problems) -> list[tuple[Row, int]]:
    names, rows = read_csv_rows(path, problems, ("image", *[c.lower() for c in ISIC_CLASSES]))
    col = {c: names.index(c.lower()) for c in ISIC_CLASSES}
    unk = names.index("unk") if "unk" in names else None
    image_col = names.index("image")
    out, seen = [], {}
    for line, cells in rows:
        where = f"{path} line {line}"
        image = cells[image_col].strip()
        try:
            values = [float(cells[col[c]]) for c in ISIC_CLASSES]
            unk_value = float(cells[unk]) if unk is not None and cells[unk].strip() else 0.0
        except ValueError:
            problems.add(f"{where}: image {image!r}: class columns must be numbers, got {cells!r}")
            continue
        ones = [i for i, v in enumerate(values) if v == 1.0]
        zeros = sum(1 for v in values if v == 0.0)
        if len(ones) != 1 or zeros != len(ISIC_CLASSES) - 1 or unk_value != 0.0:
            problems.add(
                f"{where}: image {image!r} is not one-hot over the 8 classes "
                f"(MEL..SCC={values}, UNK={unk_value}); UNK and multi-label rows are not supported"
            )
            continue
        if not is_image_id(image):
            problems.add(f"{where}: bad image name {image!r}")
            continue
        if image in seen:
            problems.add(f"{where}: image {image!r} repeated (first at line {seen[image]})")
            continue
        seen[image] = line
        out.append((Row(f"{IMAGE_DIR}/{image}.jpg", ISIC_CLASSES[ones[0]], where), ones[0]))
    return out


def _image_id(listed: str) -> str:
    """`ISIC_2019_Training_Input/<id>.jpg` → `<id>`."""
    return listed[len(IMAGE_DIR) + 1 : -len(".jpg")]


def _saved_parts(record: dict, images: list[str]) -> dict[str, list[int]]:
    """Row positions of each split named in a saved split record; DataError if it does not fit."""
    try:
        parts = record["images"]
        if record.get("dataset") != "isic2019":
            raise ValueError(f"dataset is {record.get('dataset')!r}, not 'isic2019'")
        names = {split: list(parts.get(split, [])) for split in ("train", "val", "test")}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DataError(f"saved split record: unusable ISIC split ({type(exc).__name__}: {exc})") from None
    position = {name: i for i, name in enumerate(images)}
    out: dict[str, list[int]] = {}
    for split, listed in names.items():
        out[split] = []
        for name in listed:
            if name not in position:
                raise DataError(f"saved split record: {split} image {name!r} is not a usable row of {GROUND_TRUTH}")
            out[split].append(position[name])
    return out


def build_isic2019(cfg: DataConfig, problems: Problems | None = None, saved_split: dict | None = None) -> DataBundle:
    """ISIC 2019: 8 classes, stratified 3:1:1 split (or the one in `saved_split`)."""
    problems = problems if problems is not None else Problems()
    root = require_root(cfg, "isic2019")
    if uses_split_files(cfg):
        return _build_from_split_files(cfg, root, problems, saved_split)
    gt = root / GROUND_TRUTH
    if not gt.is_file():
        raise DataError(f"{gt}: missing ISIC 2019 ground-truth CSV")
    if not (root / IMAGE_DIR).is_dir():
        raise DataError(f"{root / IMAGE_DIR}: missing ISIC 2019 image folder (archives are not extracted)")
    rows = _read_ground_truth(gt, problems)
    images = [_image_id(r.path) for r, _ in rows]
    notes = fixed_split_notes(cfg, "ISIC labels")
    if saved_split is not None:
        parts = _saved_parts(saved_split, images)
        notes.append("isic2019: split read from the run's saved split record")
    else:
        parts = stratified_split([lab for _, lab in rows], len(ISIC_CLASSES), cfg.split_seed)
    files = {k: resolve_rows(root, [rows[i] for i in v], problems) for k, v in parts.items()}
    _check_coverage(files, str(gt), problems)
    size, recipe, _ = file_image_size_recipe(cfg, by_size=False)
    record = {
        "root": str(root),
        "seed": cfg.split_seed,
        "split": "per-class 3:1:1 (np.random.RandomState(seed) permutation per class)",
        "profile": "given by ISIC 2019",
        "imbalance_factor": None,
        "images": {k: [_image_id(p) for p in files[k].listed] for k in ("train", "val", "test")},
    }
    return file_bundle("isic2019", list(ISIC_CLASSES), files["train"], files["test"], files["val"],
                       size, recipe, IMAGENET_MEAN, IMAGENET_STD, record, notes)


def _build_from_split_files(cfg: DataConfig, root: Path, problems: Problems, saved_split: dict | None) -> DataBundle:
    """ISIC 2019 with the authors' split, from their split files (a resumed run checks it is unchanged)."""
    rows, split_files = read_split_files(cfg, root, list(ISIC_CLASSES), IMAGE_DIR, problems)
    files = {k: resolve_rows(root, v, problems) for k, v in rows.items()}
    files.setdefault("val", None)
    _check_coverage({k: v for k, v in files.items() if v is not None}, split_files["train"], problems)
    size, recipe, _ = file_image_size_recipe(cfg, by_size=False)
    images = {k: [Path(p).stem for p in v.listed] for k, v in files.items() if v is not None}
    if saved_split is not None and saved_split.get("images") != images:
        raise DataError("saved split record: the split files named by data.train_list/val_list/test_list "
                        "no longer give this run's split")
    record = {"root": str(root), "seed": None, "split": "the authors' fixed split files",
              "split_files": split_files, "profile": "given by ISIC 2019", "imbalance_factor": None,
              "images": images}
    notes = fixed_split_notes(cfg, "authors' ISIC split files")
    notes.append(f"isic2019: the authors' split from {', '.join(Path(f).name for f in split_files.values())}")
    return file_bundle("isic2019", list(ISIC_CLASSES), files["train"], files["test"], files["val"],
                       size, recipe, IMAGENET_MEAN, IMAGENET_STD, record, notes)


def _check_coverage(files: dict, gt: str, problems: Problems) -> None:
    """Every class has a training image; every val/test image's class is a training class."""
    train_seen = set(files["train"].labels)
    for c, name in enumerate(ISIC_CLASSES):
        if c not in train_seen:
            problems.add(f"{gt}: class {name} has no training image")
    for k in ("val", "test"):
        if files.get(k) is None:
            continue
        for lab, where in zip(files[k].labels, files[k].sources):
            if lab not in train_seen:
                problems.add(f"{where}: class {ISIC_CLASSES[lab]} ({k}) unseen in training")
