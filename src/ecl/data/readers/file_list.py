"""File lists: the one helper of the file-based readers (split lists, CSV, folder tree, ISIC).

A reader turns its source into `Row`s (relative image path, raw label, where = "file line N");
`resolve_rows` checks each path (relative, inside data.root, an existing file) and `file_bundle`
assembles the `DataBundle`. Problems go through `Problems` (raise first / collect all).
Also here: locating data.root and the list/CSV files named in the config, the ImageNet
statistics and the (size, recipe) rule of file-based datasets.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecl.data.bundle import DataBundle
from ecl.data.errors import DataError, Problems
from ecl.data.images import resolve_inside
from ecl.data.profiles import class_counts
from ecl.data.torch_datasets import ImageFileDataset
from ecl.data.settings import DataConfig
from ecl.data.validation import carve_note, carve_per_class


__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "require_root",
    "resolve_config_file",
    "file_image_size_recipe",
    "median_short_side",
    "transparency_note",
    "MEASURED_SIZE",
    "fixed_split_notes",
    "Row",
    "read_text",
    "read_list_file",
    "read_csv_rows",
    "parse_int_label",
    "resolve_rows",
    "SplitFiles",
    "check_train_coverage",
    "take_validation",
    "file_bundle",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_INT = re.compile(r"[+-]?\d+")


def require_root(cfg: DataConfig, dataset: str) -> Path:
    """The resolved `data.root` directory; DataError if unset or missing."""
    if not cfg.root:
        raise DataError(f"data.root: dataset {dataset!r} needs data.root (the folder that holds its files)")
    path = Path(str(cfg.root)).expanduser()
    if not path.is_dir():
        raise DataError(f"data.root: {path} does not exist or is not a directory (dataset {dataset!r})")
    return path.resolve()


def resolve_config_file(root: Path, value: str | None, key: str, required: bool) -> Path | None:
    """A list/CSV file given in the config: absolute, or relative to data.root. DataError if missing."""
    if not value:
        if required:
            raise DataError(f"data.{key}: required for this dataset")
        return None
    path = Path(str(value)).expanduser()
    if not path.is_absolute():
        path = root / path
    if not path.is_file():
        raise DataError(f"data.{key}: {path} does not exist or is not a file")
    return path


def _sample_headers(paths: list[str], sample: int) -> tuple[list[int], int]:
    """(shorter sides, how many have transparency) over up to `sample` evenly spaced image headers."""
    from PIL import Image

    step = max(1, len(paths) // sample)
    sides, transparent = [], 0
    for path in paths[::step][:sample]:
        try:
            with Image.open(path) as img:
                sides.append(min(img.size))
                transparent += img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info
        except (OSError, ValueError):
            continue
    return sides, transparent


def transparency_note(paths: list[str], sample: int = 200) -> str | None:
    """A note when sampled images have an alpha channel: they are composited on white (once per dataset)."""
    if not paths:
        return None
    _, transparent = _sample_headers(paths, sample)
    if not transparent:
        return None
    return (f"images with transparency (e.g. RGBA PNG; {transparent} of the sampled ones) are composited on "
            f"a white background, the page such images are usually drawn on")


def median_short_side(paths: list[str], sample: int = 200) -> int | None:
    """The median shorter side (px, rounded) over up to `sample` evenly spaced images (headers only);
    None when none of them can be opened."""
    if not paths:
        return None
    sides, _ = _sample_headers(paths, sample)
    if not sides:
        return None
    sides.sort()
    mid = len(sides) // 2
    median = sides[mid] if len(sides) % 2 else (sides[mid - 1] + sides[mid]) / 2
    return max(1, int(round(median)))


MEASURED_SIZE = "median shorter side of the training images"  # the reason of a measured image size


def file_image_size_recipe(cfg: DataConfig, by_size: bool = False, paths: list[str] | None = None,
                          notes: list[str] | None = None) -> tuple[int, str, str]:
    """(image size, default view recipe, why the size: MEASURED_SIZE or "") of a file-based dataset.

    Size: data.image_size; else, with `paths` (own images: folder, CSV), the images' median shorter
    side (`MEASURED_SIZE`); else 224. Recipe: bcl at ≤ 64 px when `by_size` or the size was
    measured, else authors.
    """
    measured = median_short_side(paths) if (cfg.image_size is None and paths) else None
    note = transparency_note(paths) if paths else None
    if note and notes is not None:
        notes.append(note)
    if cfg.image_size is not None:
        size = int(cfg.image_size)
    else:
        size = measured if measured is not None else 224
    recipe = "bcl" if ((by_size or measured is not None) and size <= 64) else "authors"
    return size, recipe, MEASURED_SIZE if (measured is not None and cfg.image_size is None) else ""


def fixed_split_notes(cfg: DataConfig, what: str) -> list[str]:
    """Notes for settings that a dataset whose files fix the split ignores."""
    notes = []
    if cfg.imbalance_factor is not None:
        notes.append(f"data.imbalance_factor ignored: the {what} define the class distribution")
    if cfg.test_profile == "lt":
        notes.append(f"data.test_profile=lt ignored: the {what} define the test set")
    return notes


@dataclass
class Row:
    path: str
    label: str
    where: str  # "<file> line N" (or the image file itself for folder trees)


@dataclass
class SplitFiles:
    """One split after checking: absolute image paths, int labels, listing places, listed paths."""

    paths: list[str]
    labels: list[int]
    sources: list[str]
    listed: list[str]


def read_text(path: Path) -> str:
    """A text file as UTF-8 (a BOM is dropped); DataError naming the file if it cannot be read."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None


def read_list_file(path: Path, problems: Problems) -> list[Row]:
    """`relative/path label` per line (any line ending; blank lines ignored; paths may hold spaces)."""
    rows = []
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        text = line.strip()
        if not text:
            continue
        parts = text.rsplit(None, 1)
        if len(parts) != 2:
            problems.add(f"{path} line {number}: expected 'relative/path label', got {text!r}")
            continue
        rows.append(Row(parts[0], parts[1], f"{path} line {number}"))
    return rows


def read_csv_rows(path: Path, problems: Problems, columns: tuple[str, ...]) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """(header, [(line number, cells)]) of a CSV (csv module, UTF-8 ± BOM, any line ending).

    The header must name every column in `columns` (case-insensitive); blank rows are skipped.
    """
    text = read_text(path)
    reader = csv.reader(text.splitlines(keepends=True))
    try:
        header = next(reader)
    except StopIteration:
        raise DataError(f"{path}: empty CSV (expected a header {','.join(columns)})") from None
    except csv.Error as exc:
        raise DataError(f"{path} line 1: bad CSV ({exc})") from None
    names = [h.strip().lower() for h in header]
    missing = [c for c in columns if c not in names]
    if missing:
        raise DataError(f"{path} line 1: header must have columns {','.join(columns)}; missing {','.join(missing)} (got {header!r})")
    rows = []
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.add(f"{path} line {reader.line_num}: bad CSV ({exc})")
            continue
        if not cells or all(not c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            problems.add(f"{path} line {reader.line_num}: expected {len(header)} fields, got {len(cells)}")
            continue
        rows.append((reader.line_num, cells))
    return names, rows


def parse_int_label(text: str, where: str, problems: Problems, num_classes: int | None = None) -> int | None:
    """A non-negative integer class index (< num_classes when given), else a problem and None."""
    s = text.strip()
    if not _INT.fullmatch(s):
        problems.add(f"{where}: label {text!r} is not an integer class index")
        return None
    value = int(s)
    if value < 0:
        problems.add(f"{where}: label {value} is negative")
        return None
    if num_classes is not None and value >= num_classes:
        problems.add(f"{where}: label {value} out of range 0..{num_classes - 1}")
        return None
    return value


def resolve_rows(root: Path, rows: list[tuple[Row, int]], problems: Problems) -> SplitFiles:
    """Check every (row, label): the path is relative, inside root, and an existing file."""
    out = SplitFiles([], [], [], [])
    for row, label in rows:
        try:
            full = resolve_inside(root, row.path, row.where)
        except DataError as exc:
            problems.add(str(exc))
            continue
        if not full.is_file():
            problems.add(f"{row.where}: image file not found: {root / row.path.strip()}")
            continue
        out.paths.append(str(full))
        out.labels.append(label)
        out.sources.append(row.where)
        out.listed.append(row.path.strip())
    return out


def check_train_coverage(classes: list[str], train: SplitFiles, what: str, problems: Problems) -> None:
    """Every class must have at least one training image."""
    counts = class_counts(train.labels, len(classes))
    for c, n in enumerate(counts):
        if n == 0:
            problems.add(f"{what}: class {c} ({classes[c]}) has no training image")


def _subset(files: SplitFiles, positions: list[int]) -> SplitFiles:
    return SplitFiles(*([values[i] for i in positions] for values in
                        (files.paths, files.labels, files.sources, files.listed)))


def take_validation(cfg: DataConfig, classes: list[str], train: SplitFiles, val: SplitFiles | None,
                    record: dict[str, Any], notes: list[str]) -> tuple[SplitFiles, SplitFiles | None]:
    """(train, val): `val` as given, or data.val_per_class images per class carved from `train`.

    A carve (`validation.carve_per_class`: stratified, seeded by data.split_seed) is recorded in
    `record` (val_per_class, val_seed, train_counts_before_val) and stated in `notes` with its
    cost per class. The registry has already refused both a given split and data.val_per_class.
    """
    per_class = int(cfg.val_per_class or 0)
    if val is not None or per_class <= 0:
        return train, val
    before = class_counts(train.labels, len(classes))
    keep, carved = carve_per_class(train.labels, classes, per_class, cfg.split_seed)
    record.update(val_per_class=per_class, val_seed=cfg.split_seed, train_counts_before_val=before)
    notes.append(carve_note(classes, before, per_class, cfg.split_seed))
    return _subset(train, keep), _subset(train, carved)


def file_bundle(
    dataset: str,
    classes: list[str],
    train: SplitFiles,
    test: SplitFiles,
    val: SplitFiles | None,
    image_size: int,
    recipe: str,
    mean: tuple[float, float, float],
    std: tuple[float, float, float],
    record: dict[str, Any],
    notes: list[str],
    size_reason: str = "",
) -> DataBundle:
    """Assemble the bundle; `record` gains the dataset name and the listed file lists."""
    if not train.paths:
        raise DataError(f"{dataset}: no usable training image")
    if not test.paths:
        raise DataError(f"{dataset}: no usable test image")
    c = len(classes)
    record = {"dataset": dataset, **record, "files": {"train": train.listed, "test": test.listed}}
    if val is not None:
        record["files"]["val"] = val.listed
    return DataBundle(
        train=ImageFileDataset(train.paths, train.labels, train.sources),
        test=ImageFileDataset(test.paths, test.labels, test.sources),
        val=ImageFileDataset(val.paths, val.labels, val.sources) if val is not None else None,
        classes=classes,
        train_counts=class_counts(train.labels, c),
        test_counts=class_counts(test.labels, c),
        val_counts=class_counts(val.labels, c) if val is not None else None,
        image_size=image_size,
        recipe=recipe,
        mean=mean,
        std=std,
        split_record=record,
        notes=notes,
        size_reason=size_reason,
    )
