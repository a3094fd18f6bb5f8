"""CIFAR-10/100-LT: LDAM-DRW counts, the selected indices, the safe pickle reader, test sets."""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from ecl.config import DataConfig

import numpy as np
import pytest

from ecl.data import DataError, build_datasets, long_tail_counts


def cfg(root, **kw):
    base = dict(
        name="cifar10-lt", root=str(root), imbalance_factor=None, profile="exp", test_profile="balanced",
        image_size=None, split_seed=0, verify_images=True,
    )
    base.update(kw)
    return DataConfig(**base)


def _images(labels, offset):
    """uint8 (N,3072): the first plane's first 3 bytes encode the global index (to trace items)."""
    n = len(labels)
    data = np.zeros((n, 3072), np.uint8)
    idx = np.arange(offset, offset + n)
    data[:, 0], data[:, 1], data[:, 2] = idx % 256, (idx // 256) % 256, idx // 65536
    data[:, 1024] = np.asarray(labels, np.uint8)  # green plane, first pixel: the label
    return data


def _dump(path, obj, protocol):
    with open(path, "wb") as fh:
        pickle.dump(obj, fh, protocol=protocol)


def write_cifar10(root: Path, per_class=500, test_per_class=20, seed=0, protocol=pickle.HIGHEST_PROTOCOL):
    base = root / "cifar-10-batches-py"
    base.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.repeat(np.arange(10), per_class))
    for b, part in enumerate(np.array_split(labels, 5)):
        offset = sum(len(p) for p in np.array_split(labels, 5)[:b])
        _dump(base / f"data_batch_{b + 1}", {b"batch_label": b"training batch", b"labels": [int(v) for v in part],
                                             b"data": _images(part, offset), b"filenames": [b"x.png"] * len(part)}, protocol)
    test = rng.permutation(np.repeat(np.arange(10), test_per_class))
    _dump(base / "test_batch", {b"labels": [int(v) for v in test], b"data": _images(test, 0)}, protocol)
    _dump(base / "batches.meta", {b"label_names": [f"class{c}".encode() for c in range(10)],
                                  b"num_cases_per_batch": 10000, b"num_vis": 3072}, protocol)
    return labels, test


def write_cifar100(root: Path, per_class=6, test_per_class=2):
    base = root / "cifar-100-python"
    base.mkdir(parents=True)
    rng = np.random.default_rng(1)
    labels = rng.permutation(np.repeat(np.arange(100), per_class))
    test = rng.permutation(np.repeat(np.arange(100), test_per_class))
    _dump(base / "train", {b"fine_labels": [int(v) for v in labels], b"coarse_labels": [0] * len(labels),
                           b"data": _images(labels, 0)}, 4)
    _dump(base / "test", {b"fine_labels": [int(v) for v in test], b"data": _images(test, 0)}, 4)
    _dump(base / "meta", {b"fine_label_names": [f"fine{c}".encode() for c in range(100)],
                          b"coarse_label_names": [b"c"] * 20}, 4)
    return labels, test


# --- counts -------------------------------------------------------------------------------------

def test_cifar10_lt_if100_counts():
    assert long_tail_counts(5000, 10, 100) == [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]


@pytest.mark.parametrize(
    "classes, per_class, imbalance, total",
    [(10, 5000, 100, 12406), (100, 500, 100, 10847), (10, 5000, 50, 13996), (10, 5000, 10, 20431),
     (100, 500, 50, 12608), (100, 500, 10, 19573)],
)
def test_cifar_lt_train_sizes(classes, per_class, imbalance, total):
    counts = long_tail_counts(per_class, classes, imbalance)
    assert sum(counts) == total
    # independent: the LDAM-DRW expression, imb_factor = 1/IF as a float literal
    imb = {100: 0.01, 50: 0.02, 10: 0.1}[imbalance]
    assert counts == [int(per_class * imb ** (c / (classes - 1.0))) for c in range(classes)]
    assert counts[0] == per_class and counts[-1] == per_class // imbalance


def test_step_profile_counts():
    assert long_tail_counts(5000, 10, 100, "step") == [5000] * 5 + [50] * 5
    assert long_tail_counts(500, 100, 10, "step") == [500] * 50 + [50] * 50
    assert long_tail_counts(100, 5, 10, "step") == [100] * 2 + [10] * 3


def test_profile_arguments_checked():
    with pytest.raises(ValueError, match="imbalance_factor"):
        long_tail_counts(10, 3, 0.5)
    with pytest.raises(ValueError, match="profile"):
        long_tail_counts(10, 3, 2, "linear")
    assert long_tail_counts(7, 1, 10) == [7]
    assert long_tail_counts(100, 4, 1) == [100] * 4


def test_private_rng_matches_global_seed_sequence():
    state = np.random.get_state()
    try:
        np.random.seed(0)
        a = np.arange(1000)
        np.random.shuffle(a)
        rs = np.random.RandomState(0)
        b = np.arange(1000)
        rs.shuffle(b)
        assert np.array_equal(a, b)
    finally:
        np.random.set_state(state)


# --- the reader -----------------------------------------------------------------------------------

def ldam_reference(labels, counts):
    """Independent re-implementation of LDAM-DRW's gen_imbalanced_data (global RNG, as the original)."""
    state = np.random.get_state()
    try:
        np.random.seed(0)
        targets_np = np.array(labels, dtype=np.int64)
        classes = np.unique(targets_np)
        selected = []
        for the_class, the_img_num in zip(classes, counts):
            idx = np.where(targets_np == the_class)[0]
            np.random.shuffle(idx)
            selected.extend(idx[:the_img_num].tolist())
        return selected
    finally:
        np.random.set_state(state)


@pytest.mark.parametrize("imbalance, profile", [(100, "exp"), (10, "step")])
def test_cifar10_selection_matches_ldam_reference(tmp_path, imbalance, profile):
    labels, test = write_cifar10(tmp_path, per_class=500)
    state_before = np.random.get_state()[1].copy()
    bundle = build_datasets(cfg(tmp_path, imbalance_factor=imbalance, profile=profile))
    assert np.array_equal(np.random.get_state()[1], state_before)  # global RNG untouched
    counts = long_tail_counts(500, 10, imbalance, profile)
    expected = ldam_reference(labels, counts)
    assert bundle.split_record["indices"]["train"] == expected
    assert bundle.train_counts == counts
    assert bundle.classes == [f"class{c}" for c in range(10)]
    assert bundle.recipe == "bcl" and bundle.image_size == 32
    # items trace back to the source images (index encoded in the first red pixels), labels match
    for i in (0, 1, 777, len(expected) - 1):
        img, label = bundle.train[i]
        arr = np.asarray(img)
        assert img.mode == "RGB" and arr.shape == (32, 32, 3)
        src = int(arr[0, 0, 0]) + 256 * int(arr[0, 1, 0]) + 65536 * int(arr[0, 2, 0])
        assert src == expected[i] and label == labels[src] == arr[0, 0, 1]


def test_cifar10_balanced_test_is_full_and_lt_is_opt_in(tmp_path):
    labels, test = write_cifar10(tmp_path, per_class=100, test_per_class=40)
    bundle = build_datasets(cfg(tmp_path))
    assert len(bundle.test) == 400 and bundle.test_counts == [40] * 10
    assert bundle.split_record["indices"]["test"] == list(range(400))
    assert not any("non-standard" in n for n in bundle.notes)
    lt = build_datasets(cfg(tmp_path, test_profile="lt"))
    assert lt.test_counts == long_tail_counts(40, 10, 100)
    assert any("non-standard" in n and "test_profile=lt" in n for n in lt.notes)
    assert lt.split_record["indices"]["test"] == ldam_reference(test, long_tail_counts(40, 10, 100))


def test_cifar100_layout(tmp_path):
    labels, test = write_cifar100(tmp_path, per_class=6, test_per_class=2)
    bundle = build_datasets(cfg(tmp_path, name="cifar100-lt", imbalance_factor=6))
    counts = long_tail_counts(6, 100, 6)
    assert bundle.train_counts == counts and bundle.classes[:2] == ["fine0", "fine1"]
    assert bundle.split_record["indices"]["train"] == ldam_reference(labels, counts)
    assert bundle.test_counts == [2] * 100 and len(bundle.classes) == 100


def test_cifar_at_224_uses_imagenet_views(tmp_path):
    write_cifar10(tmp_path, per_class=20, test_per_class=2)
    bundle = build_datasets(cfg(tmp_path, image_size=224, imbalance_factor=10))
    assert bundle.image_size == 224 and bundle.recipe == "authors"


# --- bad input ------------------------------------------------------------------------------------

class Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_pickle_with_foreign_global_is_refused(tmp_path, capsys):
    write_cifar10(tmp_path, per_class=20, test_per_class=2)
    path = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    _dump(path, {b"data": np.zeros((1, 3072), np.uint8), b"labels": [0], b"x": Evil()}, 4)
    with pytest.raises(DataError, match=r"data_batch_3.*(unsafe|refused).*builtins"):
        build_datasets(cfg(tmp_path))
    assert "pwned" not in capsys.readouterr().out


def test_pickle_protocol4_arrays_load(tmp_path):
    # protocol 4: arrays as numpy _reconstruct/ndarray/dtype (what the real files use)
    labels, _ = write_cifar10(tmp_path, per_class=20, test_per_class=2, protocol=4)
    bundle = build_datasets(cfg(tmp_path, imbalance_factor=2))
    assert sum(bundle.train_counts) == sum(long_tail_counts(20, 10, 2))


def test_missing_cifar_folder_and_file(tmp_path):
    with pytest.raises(DataError, match="cifar-10-batches-py"):
        build_datasets(cfg(tmp_path))
    with pytest.raises(DataError, match="data.root"):
        build_datasets(cfg(tmp_path / "nowhere"))
    write_cifar10(tmp_path, per_class=20, test_per_class=2)
    (tmp_path / "cifar-10-batches-py" / "test_batch").unlink()
    with pytest.raises(DataError, match="test_batch"):
        build_datasets(cfg(tmp_path))


def test_bad_cifar_contents(tmp_path):
    write_cifar10(tmp_path, per_class=20, test_per_class=2)
    path = tmp_path / "cifar-10-batches-py" / "data_batch_2"
    _dump(path, {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 12]}, 5)
    with pytest.raises(DataError, match=r"data_batch_2.*label 12 at row 1"):
        build_datasets(cfg(tmp_path))
    _dump(path, {b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, 5)
    with pytest.raises(DataError, match=r"data_batch_2.*3072"):
        build_datasets(cfg(tmp_path))
    path.write_bytes(b"")
    with pytest.raises(DataError, match="data_batch_2"):
        build_datasets(cfg(tmp_path))


class _Py2Pickler(pickle._Pickler):
    """Writes bytes the way Python 2's cPickle wrote `str` (SHORT_BINSTRING/BINSTRING), protocol 2."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_bytes(self, obj):
        import struct

        n = len(obj)
        if n < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([n]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", n) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_bytes


def _py2_dump(path, obj):
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump(obj)
    data = buf.getvalue().replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert b"_codecs" not in data
    path.write_bytes(data)


def test_python2_style_pickles_like_the_real_files(tmp_path):
    labels, test = write_cifar10(tmp_path, per_class=20, test_per_class=2)
    base = tmp_path / "cifar-10-batches-py"
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]:
        with open(base / name, "rb") as fh:
            obj = pickle.load(fh)
        _py2_dump(base / name, obj)
    assert b"cnumpy.core.multiarray\n_reconstruct\n" in (base / "data_batch_1").read_bytes()
    bundle = build_datasets(cfg(tmp_path, imbalance_factor=4))
    counts = long_tail_counts(20, 10, 4)
    assert bundle.split_record["indices"]["train"] == ldam_reference(labels, counts)
    assert bundle.classes[3] == "class3"
