"""fashion-mnist-lt: IDX files (raw or gzipped), LDAM-DRW selection, balanced test set, bad files."""

from __future__ import annotations

import gzip
import json
import math
import struct
from pathlib import Path

import numpy as np
import pytest

from ecl.config import DataConfig
from ecl.data import DataError, build_datasets, data_summary

REAL_ROOT = Path("/usr/share/datasets/fashion-mnist")
NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
STEMS = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


def cfg(root, **kw) -> DataConfig:
    return DataConfig(name="fashion-mnist-lt", root=str(root) if root is not None else None, **kw)


def idx_bytes(array: np.ndarray) -> bytes:
    """IDX of unsigned bytes written from the format description: 0x00 0x00 0x08 ndim, sizes, data."""
    head = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", n) for n in array.shape)
    return head + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_fashion(root: Path, per_class=20, test_per_class=3, gz=True, seed=0):
    """Tiny files; image i of the training file has its index in pixel (0,0..1) and its label in (1,0)."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.repeat(np.arange(10), per_class)).astype(np.uint8)
    test = rng.permutation(np.repeat(np.arange(10), test_per_class)).astype(np.uint8)
    arrays = {}
    for name, y in (("train", labels), ("t10k", test)):
        x = np.zeros((len(y), 28, 28), np.uint8)
        x[:, 0, 0], x[:, 0, 1], x[:, 1, 0] = np.arange(len(y)) % 256, np.arange(len(y)) // 256, y
        arrays[f"{name}-images-idx3-ubyte"], arrays[f"{name}-labels-idx1-ubyte"] = x, y
    for stem, array in arrays.items():
        data = idx_bytes(array)
        if gz:
            (root / f"{stem}.gz").write_bytes(gzip.compress(data))
        else:
            (root / stem).write_bytes(data)
    return labels, test


def ldam_reference(labels, counts):
    """LDAM-DRW's gen_imbalanced_data: np.random.seed(0); per class: shuffle its indices, keep the first n."""
    np.random.seed(0)
    kept = []
    for c, n in enumerate(counts):
        idx = np.where(np.asarray(labels) == c)[0]
        np.random.shuffle(idx)
        kept += idx[:n].tolist()
    return kept


def exp_counts(img_max, classes, imbalance):
    return [math.floor(img_max * math.exp(-math.log(imbalance) * i / (classes - 1)) + 1e-9) for i in range(classes)]


@pytest.mark.parametrize("gz", [True, False])
def test_tiny_idx_files_ldam_selection(tmp_path, gz):
    labels, test = write_fashion(tmp_path, gz=gz)
    bundle = build_datasets(cfg(tmp_path, imbalance_factor=10))
    counts = exp_counts(20, 10, 10)
    assert bundle.train_counts == counts and bundle.classes == NAMES
    assert bundle.split_record["indices"]["train"] == ldam_reference(labels, counts)
    assert bundle.test_counts == [3] * 10 and bundle.split_record["indices"]["test"] == list(range(30))
    assert bundle.recipe == "small" and bundle.image_size == 28 and bundle.val is None
    for k in (0, 7, len(bundle.train) - 1):
        img, label = bundle.train[k]
        arr = np.asarray(img)
        assert img.mode == "RGB" and img.size == (28, 28)
        src = bundle.split_record["indices"]["train"][k]
        assert int(arr[0, 0, 0]) + 256 * int(arr[0, 1, 0]) == src and label == labels[src] == arr[1, 0, 2]
    json.dumps(bundle.split_record)


def test_step_profile_and_default_if(tmp_path):
    labels, _ = write_fashion(tmp_path, per_class=200)
    step = build_datasets(cfg(tmp_path, profile="step", imbalance_factor=4))
    assert step.train_counts == [200] * 5 + [50] * 5
    assert step.split_record["indices"]["train"] == ldam_reference(labels, [200] * 5 + [50] * 5)
    assert build_datasets(cfg(tmp_path)).train_counts == exp_counts(200, 10, 100)


def _corrupt(root: Path, stem: str, data: bytes) -> Path:
    path = root / f"{stem}.gz"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("case", ["missing", "bad magic", "truncated", "truncated gzip", "wrong size", "not gzip"])
def test_bad_files_name_the_path_and_the_package(tmp_path, case):
    write_fashion(tmp_path)
    stem = "train-images-idx3-ubyte"
    path = tmp_path / f"{stem}.gz"
    raw = gzip.decompress(path.read_bytes())
    if case == "missing":
        path.unlink()
    elif case == "bad magic":
        _corrupt(tmp_path, stem, gzip.compress(b"\x00\x00\x08\x01" + raw[4:]))
    elif case == "truncated":
        _corrupt(tmp_path, stem, gzip.compress(raw[:-100]))
    elif case == "truncated gzip":
        _corrupt(tmp_path, stem, path.read_bytes()[:40])
    elif case == "wrong size":
        _corrupt(tmp_path, stem, gzip.compress(idx_bytes(np.zeros((200, 27, 29), np.uint8))))
    else:
        _corrupt(tmp_path, stem, b"plain bytes, not gzip")
    with pytest.raises(DataError) as info:
        build_datasets(cfg(tmp_path))
    message = str(info.value)
    assert stem in message and "dataset-fashion-mnist" in message and "\n" not in message


def test_label_count_mismatch_and_range(tmp_path):
    write_fashion(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.zeros(29, np.uint8))))
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte.*29 labels"):
        build_datasets(cfg(tmp_path))
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.full(30, 10, np.uint8))))
    with pytest.raises(DataError, match=r"label 10 .*out of range"):
        build_datasets(cfg(tmp_path))


def test_missing_root_names_it(tmp_path):
    with pytest.raises(DataError, match=r"nowhere.*dataset-fashion-mnist"):
        build_datasets(cfg(tmp_path / "nowhere"))


def test_real_files_ldam_counts_at_if_100():
    if not all((REAL_ROOT / s).is_file() or (REAL_ROOT / f"{s}.gz").is_file() for s in STEMS):
        pytest.skip(f"Fashion-MNIST not installed in {REAL_ROOT}: apt-get install dataset-fashion-mnist "
                    "(or set data.root to a folder with the four IDX files)")
    bundle = build_datasets(cfg(None))  # data.root defaults to the Debian location
    expected = exp_counts(6000, 10, 100)
    assert expected[:2] == [6000, 3596] and expected[-1] == 60
    assert bundle.train_counts == expected
    assert bundle.test_counts == [1000] * 10 and len(bundle.test) == 10_000
    summary = data_summary(bundle)
    assert summary["train"]["counts"] == expected and len(summary["train"]["indices"]) == sum(expected)
    assert summary["test"]["size"] == 10_000
