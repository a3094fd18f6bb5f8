"""Fashion-MNIST-LT from the four IDX files, LDAM-DRW protocol (as CIFAR-LT).

data.root (default /usr/share/datasets/fashion-mnist, where Debian's `dataset-fashion-mnist`
installs them) holds train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte,
t10k-labels-idx1-ubyte, each raw or gzipped (`.gz`). IDX: magic 0x0000 08 <ndim> (unsigned
bytes), then ndim big-endian uint32 sizes, then the data; images are 28×28 grey.
Training subset: img_max = 60,000 / 10 = 6,000, counts `long_tail_counts(6000, 10, IF, profile)`
(IF 100 by default), LDAM-DRW's selection (seed 0, per-class shuffle, first n_c kept), exactly as
`cifar.py`; the official balanced 10,000-image test set; optional validation from the unused pool
(data.val_per_class, `balanced_pool`). Grey images become RGB items; "small" views like mnist-lt.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from ecl.data.bundle import DataBundle
from ecl.data.errors import DataError, Problems
from ecl.data.readers.balanced_pool import PoolSource, build_ldam_bundle
from ecl.data.settings import DataConfig


__all__ = ["DEFAULT_ROOT", "FASHION_CLASSES", "read_idx", "read_fashion_mnist", "build_fashion_mnist"]

DEFAULT_ROOT = "/usr/share/datasets/fashion-mnist"
INSTALL_HINT = "install Debian's package: apt-get install dataset-fashion-mnist"
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
FASHION_MEAN, FASHION_STD = (0.2860, 0.2860, 0.2860), (0.3530, 0.3530, 0.3530)  # full training set
FILES = {"train_x": ("train-images-idx3-ubyte", 3), "train_y": ("train-labels-idx1-ubyte", 1),
         "test_x": ("t10k-images-idx3-ubyte", 3), "test_y": ("t10k-labels-idx1-ubyte", 1)}


def _locate(root: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz"):
        if (root / name).is_file():
            return root / name
    raise DataError(f"{root / stem}[.gz]: missing Fashion-MNIST file (data.root={root}; {INSTALL_HINT})")


def _read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as fh:
                return fh.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: unreadable or truncated ({type(exc).__name__}: {exc}; {INSTALL_HINT})") from None


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """An IDX file of unsigned bytes with `ndim` dimensions → uint8 array; DataError naming the file."""
    raw = _read_bytes(path)
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated IDX header ({len(raw)} bytes; {INSTALL_HINT})")
    magic = struct.unpack(">I", raw[:4])[0]
    if magic != 0x0800 + ndim:
        raise DataError(f"{path}: bad magic number 0x{magic:08x}, expected 0x{0x0800 + ndim:08x} "
                        f"(not an IDX file of {ndim}-D unsigned bytes; {INSTALL_HINT})")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    expected = int(np.prod(dims, dtype=np.int64))
    if len(raw) - header != expected:
        raise DataError(f"{path}: {len(raw) - header} data bytes, the header's sizes {dims} need {expected} "
                        f"(truncated or malformed; {INSTALL_HINT})")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _checked_pair(root: Path, images_key: str, labels_key: str) -> tuple[np.ndarray, np.ndarray]:
    image_path = _locate(root, FILES[images_key][0])
    label_path = _locate(root, FILES[labels_key][0])
    images, labels = read_idx(image_path, 3), read_idx(label_path, 1)
    if images.shape[1:] != (28, 28):
        raise DataError(f"{image_path}: images are {images.shape[1]}×{images.shape[2]}, expected 28×28 ({INSTALL_HINT})")
    if len(labels) != len(images):
        raise DataError(f"{label_path}: {len(labels)} labels for the {len(images)} images of {image_path.name}")
    bad = np.where(labels >= len(FASHION_CLASSES))[0]
    if len(bad):
        raise DataError(f"{label_path}: label {int(labels[bad[0]])} at item {int(bad[0])} out of range 0..9")
    return images, labels.astype(np.int64)


def read_fashion_mnist(root: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(train images (60000,28,28) uint8, train labels, test images, test labels) from `root`."""
    if not root.is_dir():
        raise DataError(f"data.root: {root} does not exist or is not a directory (fashion-mnist-lt; {INSTALL_HINT})")
    train_x, train_y = _checked_pair(root, "train_x", "train_y")
    test_x, test_y = _checked_pair(root, "test_x", "test_y")
    return train_x, train_y, test_x, test_y


def build_fashion_mnist(cfg: DataConfig, problems: Problems | None = None, saved_split: dict | None = None) -> DataBundle:
    """fashion-mnist-lt: Fashion-MNIST made long-tailed by LDAM-DRW's rule, IF 100 by default."""
    root = Path(str(cfg.root) if cfg.root else DEFAULT_ROOT).expanduser()
    train_x, train_y, test_x, test_y = read_fashion_mnist(root)
    source = PoolSource(
        name="fashion-mnist-lt", train_x=train_x, train_y=train_y, test_x=test_x, test_y=test_y,
        classes=list(FASHION_CLASSES), mean=FASHION_MEAN, std=FASHION_STD, native_size=28,
        recipe_for=lambda size: "small", where=str(root),
        protocol="LDAM-DRW (img_max = train images / C, np.random.seed(0), per-class shuffle, keep first n_c)",
    )
    return build_ldam_bundle(cfg, source)
