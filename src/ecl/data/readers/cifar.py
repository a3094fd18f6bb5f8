"""CIFAR-10-LT / CIFAR-100-LT from the standard python-pickle layout, LDAM-DRW protocol.

Layout under data.root (never downloaded, no checksum):
- CIFAR-10:  cifar-10-batches-py/data_batch_1..5, test_batch, batches.meta (b"label_names");
- CIFAR-100: cifar-100-python/train, test, meta (b"fine_label_names"), labels b"fine_labels".
Each batch is a dict: b"data" uint8 (N, 3072) (R, G, B planes of 32×32), labels a list of ints.

Pickles are read with `SafeUnpickler`: only NumPy's array-reconstruction globals resolve;
anything else raises DataError naming the file.
Training subset: exactly LDAM-DRW's IMBALANCECIFAR (seed 0, `select_long_tail`); the test set is
the full balanced one unless `data.test_profile="lt"` (non-standard, with a note); optional
validation from the unused pool (data.val_per_class): see `balanced_pool`.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

from ecl.data.bundle import DataBundle
from ecl.data.errors import DataError, Problems
from ecl.data.readers.balanced_pool import PoolSource, build_ldam_bundle
from ecl.data.readers.file_list import require_root
from ecl.data.settings import DataConfig


__all__ = ["SafeUnpickler", "load_pickle", "read_cifar", "build_cifar10", "build_cifar100"]

CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)
CIFAR100_MEAN, CIFAR100_STD = (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)


def _numpy_globals() -> dict[tuple[str, str], Any]:
    try:
        from numpy._core import multiarray as _ma, numeric as _num
    except ImportError:  # NumPy < 2
        from numpy.core import multiarray as _ma, numeric as _num  # type: ignore[no-redef]
    allowed: dict[tuple[str, str], Any] = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(mod, "_reconstruct")] = _ma._reconstruct
    frombuffer = getattr(_num, "_frombuffer", None)  # protocol-5 pickles of arrays
    if frombuffer is not None:
        for mod in ("numpy.core.numeric", "numpy._core.numeric"):
            allowed[(mod, "_frombuffer")] = frombuffer
    return allowed


class SafeUnpickler(pickle.Unpickler):
    """Unpickler that resolves only NumPy array reconstruction (ndarray, dtype, _reconstruct,
    _frombuffer); every other global is refused with `pickle.UnpicklingError`."""

    _allowed = _numpy_globals()

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refused global {module}.{name}") from None


def load_pickle(path: Path) -> Any:
    """Load one CIFAR pickle safely (encoding="bytes"); DataError naming the file on failure."""
    if not path.is_file():
        raise DataError(f"{path}: missing CIFAR file (expected the python-pickle layout under data.root)")
    try:
        with open(path, "rb") as fh:
            return SafeUnpickler(fh, encoding="bytes").load()
    except pickle.UnpicklingError as exc:
        raise DataError(f"{path}: unsafe or invalid pickle ({exc})") from None
    except Exception as exc:
        raise DataError(f"{path}: cannot read pickle ({type(exc).__name__}: {exc})") from None


def _key(d: dict, key: str) -> Any:
    """d[b"key"] (as written by Python 2) or d["key"]."""
    if key.encode() in d:
        return d[key.encode()]
    if key in d:
        return d[key]
    raise KeyError(key)


def _read_batch(path: Path, label_key: str, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    obj = load_pickle(path)
    if not isinstance(obj, dict):
        raise DataError(f"{path}: expected a dict, got {type(obj).__name__}")
    try:
        data, labels = _key(obj, "data"), _key(obj, label_key)
    except KeyError as exc:
        raise DataError(f"{path}: missing key b{str(exc)!s}") from None
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        shape = getattr(data, "shape", None)
        raise DataError(f"{path}: b'data' must be a uint8 array of shape (N, 3072), got {type(data).__name__} {shape}")
    try:
        labels_np = np.asarray(labels)
    except Exception:
        raise DataError(f"{path}: b'{label_key}' is not a list of integers") from None
    if labels_np.ndim != 1 or len(labels_np) != len(data):
        raise DataError(f"{path}: {len(labels_np)} labels for {len(data)} images")
    if labels_np.size and not np.issubdtype(labels_np.dtype, np.integer):
        bad = next(i for i, v in enumerate(labels) if not isinstance(v, (int, np.integer)) or isinstance(v, bool))
        raise DataError(f"{path}: label at row {bad} is not an integer: {labels[bad]!r}")
    labels_np = labels_np.astype(np.int64)
    out = np.where((labels_np < 0) | (labels_np >= num_classes))[0]
    if len(out):
        raise DataError(f"{path}: label {labels_np[out[0]]} at row {out[0]} out of range 0..{num_classes - 1}")
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels_np


def _read_names(path: Path, key: str, num_classes: int) -> list[str]:
    obj = load_pickle(path)
    try:
        names = _key(obj, key) if isinstance(obj, dict) else None
    except KeyError:
        names = None
    if not isinstance(names, list) or len(names) != num_classes:
        raise DataError(f"{path}: expected {key} with {num_classes} class names")
    return [n.decode("utf-8", "replace") if isinstance(n, bytes) else str(n) for n in names]


def read_cifar(root: Path, num_classes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """(train images (N,32,32,3) uint8, train labels, test images, test labels, class names)."""
    if num_classes == 10:
        base = root / "cifar-10-batches-py"
        train_files = [base / f"data_batch_{i}" for i in range(1, 6)]
        test_file, meta, label_key, names_key = base / "test_batch", base / "batches.meta", "labels", "label_names"
    elif num_classes == 100:
        base = root / "cifar-100-python"
        train_files = [base / "train"]
        test_file, meta, label_key, names_key = base / "test", base / "meta", "fine_labels", "fine_label_names"
    else:
        raise ValueError(f"num_classes: CIFAR has 10 or 100 classes, got {num_classes}")
    if not base.is_dir():
        raise DataError(f"{base}: missing CIFAR folder (data.root must hold {base.name}/; archives are not extracted)")
    parts = [_read_batch(f, label_key, num_classes) for f in train_files]
    train_x = np.concatenate([p[0] for p in parts])
    train_y = np.concatenate([p[1] for p in parts])
    test_x, test_y = _read_batch(test_file, label_key, num_classes)
    names = _read_names(meta, names_key, num_classes)
    return train_x, train_y, test_x, test_y, names


def _cifar_recipe(size: int) -> str:
    return "bcl" if size <= 64 else "authors"


def _build_cifar(cfg: DataConfig, num_classes: int, name: str, mean, std) -> DataBundle:
    root = require_root(cfg, name)
    train_x, train_y, test_x, test_y, names = read_cifar(root, num_classes)
    source = PoolSource(
        name=name, train_x=train_x, train_y=train_y, test_x=test_x, test_y=test_y, classes=names,
        mean=mean, std=std, native_size=32, recipe_for=_cifar_recipe, where=str(root),
        protocol="LDAM-DRW IMBALANCECIFAR (np.random.seed(0), per-class shuffle, keep first n_c)",
    )
    return build_ldam_bundle(cfg, source)


def build_cifar10(cfg: DataConfig, problems: Problems | None = None, saved_split: dict | None = None) -> DataBundle:
    """CIFAR-10-LT (IF 100 by default)."""
    return _build_cifar(cfg, 10, "cifar10-lt", CIFAR10_MEAN, CIFAR10_STD)


def build_cifar100(cfg: DataConfig, problems: Problems | None = None, saved_split: dict | None = None) -> DataBundle:
    """CIFAR-100-LT (IF 100 by default)."""
    return _build_cifar(cfg, 100, "cifar100-lt", CIFAR100_MEAN, CIFAR100_STD)
