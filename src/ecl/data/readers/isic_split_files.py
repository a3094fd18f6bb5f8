"""The ISIC 2019 authors' fixed split, read from the split files their repository ships.

The ECL/ProConDual authors split the 25,331 ISIC 2019 training images once (15,193 train / 5,069
val / 5,069 test) and ship the split as three CSV files, `ISIC2019_train.csv`, `ISIC2019_val.csv`
and `ISIC2019_test.csv`, each with the header `image,category,label`: the image id without
extension (e.g. `ISIC_0024406`), its class abbreviation (`MEL`, `NV`, `BCC`, `AK`, `BKL`, `DF`,
`VASC`, `SCC`) and the authors' integer for that class. A run names them with `data.train_list`,
`data.val_list` (optional) and `data.test_list` (absolute, or relative to `data.root`).

Classes are taken by name (`category`), in our class order; the `label` column must give every
category one integer throughout (else the files are not the authors'). Images are found under
`data.root` in the official layout `ISIC_2019_Training_Input/<image>.jpg` when that folder exists,
else in the authors' layout `ISIC2019_Dataset/<category>/<image>.jpg`. An image may appear once
across the three files.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ecl.data.errors import DataError, Problems
from ecl.data.readers.file_list import Row, parse_int_label, read_csv_rows, resolve_config_file

if TYPE_CHECKING:
    from ecl.data.settings import DataConfig

__all__ = ["SPLIT_COLUMNS", "AUTHORS_IMAGE_DIR", "is_image_id", "uses_split_files", "read_split_files"]

SPLIT_COLUMNS = ("image", "category", "label")
AUTHORS_IMAGE_DIR = "ISIC2019_Dataset"  # the authors' layout: <dir>/<category>/<image>.jpg
_SPLIT_KEYS = (("train", "train_list", True), ("val", "val_list", False), ("test", "test_list", True))


def is_image_id(name: str) -> bool:
    """A plain ISIC image id (no path separator, not hidden, not empty)."""
    return bool(name) and "/" not in name and "\\" not in name and not name.startswith(".")


def uses_split_files(cfg: DataConfig) -> bool:
    """Whether the config names any split file (then train_list and test_list are required)."""
    return any(getattr(cfg, key) is not None for _, key, _ in _SPLIT_KEYS)


def _image_path(root: Path, official_dir: str, image: str, category: str) -> str:
    if (root / official_dir).is_dir():
        return f"{official_dir}/{image}.jpg"
    return f"{AUTHORS_IMAGE_DIR}/{category}/{image}.jpg"


def _read_one(path: Path, classes: list[str], problems: Problems, label_of: dict[str, tuple[int, str]],
              seen: dict[str, str]) -> list[tuple[str, str, int, str]]:
    """(image, category, class index, where) per usable row of one split file.

    `label_of` (category → (authors' label, first place)) and `seen` (image → first place) are
    shared across the three files: one label per category, one row per image.
    """
    names, rows = read_csv_rows(path, problems, SPLIT_COLUMNS)
    col = {name: names.index(name) for name in SPLIT_COLUMNS}
    out = []
    for line, cells in rows:
        where = f"{path} line {line}"
        image, category, label = (cells[col[name]].strip() for name in SPLIT_COLUMNS)
        if category not in classes:
            problems.add(f"{where}: unknown category {category!r} (known: {', '.join(classes)})")
            continue
        if not is_image_id(image):
            problems.add(f"{where}: bad image name {image!r}")
            continue
        value = parse_int_label(label, where, problems)
        if value is None:
            continue
        first = label_of.setdefault(category, (value, where))
        if first[0] != value:
            problems.add(f"{where}: category {category} has label {value}, but {first[1]} gives it {first[0]}")
            continue
        if image in seen:
            problems.add(f"{where}: image {image!r} listed again (first at {seen[image]})")
            continue
        seen[image] = where
        out.append((image, category, classes.index(category), where))
    return out


def read_split_files(cfg: DataConfig, root: Path, classes: list[str], official_dir: str,
                     problems: Problems) -> tuple[dict[str, list[tuple[Row, int]]], dict[str, str]]:
    """({split: [(row, class index)]}, {split: file}) of the authors' split files named in `cfg`.

    Splits without a file (val) are absent. DataError when a required file or the image folder is missing.
    """
    if not (root / official_dir).is_dir() and not (root / AUTHORS_IMAGE_DIR).is_dir():
        raise DataError(f"{root}: no ISIC 2019 image folder ({official_dir}/ or the authors' {AUTHORS_IMAGE_DIR}/)")
    label_of: dict[str, tuple[int, str]] = {}
    seen: dict[str, str] = {}
    parts: dict[str, list[tuple[Row, int]]] = {}
    files: dict[str, str] = {}
    for split, key, required in _SPLIT_KEYS:
        path = resolve_config_file(root, getattr(cfg, key), key, required)
        if path is None:
            continue
        files[split] = str(path)
        parts[split] = [(Row(_image_path(root, official_dir, image, category), category, where), c)
                        for image, category, c, where in _read_one(path, classes, problems, label_of, seen)]
    return parts, files
