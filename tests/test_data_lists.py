"""Split-list datasets (imagenet-lt, inat2018, places-lt): parsing, classes, counts, paths."""

from __future__ import annotations

from pathlib import Path
from ecl.config import DataConfig

import pytest
from PIL import Image

from ecl.data import DataError, build_datasets, check_dataset


def cfg(root, **kw):
    base = dict(
        name="imagenet-lt", root=str(root), imbalance_factor=None, profile="exp", test_profile="balanced",
        image_size=None, train_list="train.txt", test_list="test.txt", val_list=None, split_seed=0,
        verify_images=True,
    )
    base.update(kw)
    return DataConfig(**base)


def write_image(path: Path, value: int = 0, size=(6, 5)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (value, 255 - value, 7)).save(path)


def make_tree(root: Path, counts=(5, 3, 1), test_per_class=2):
    lines_train, lines_test = [], []
    for c, n in enumerate(counts):
        for i in range(n):
            rel = f"train/n{c:03d}/img {i}.jpg"  # a space in the name
            write_image(root / rel, 10 * c)
            lines_train.append(f"{rel} {c}")
        for i in range(test_per_class):
            rel = f"val/n{c:03d}_{i}.png"
            write_image(root / rel, 10 * c)
            lines_test.append(f"{rel} {c}")
    return lines_train, lines_test


@pytest.mark.parametrize("name", ["imagenet-lt", "inat2018", "places-lt"])
def test_split_lists(tmp_path, name):
    train, test = make_tree(tmp_path)
    (tmp_path / "train.txt").write_text("\r\n".join(train) + "\r\n\r\n", encoding="utf-8")
    (tmp_path / "test.txt").write_text("\n\n".join(test) + "\n", encoding="utf-8")
    bundle = build_datasets(cfg(tmp_path, name=name))
    assert bundle.classes == ["0", "1", "2"]
    assert bundle.train_counts == [5, 3, 1] and bundle.test_counts == [2, 2, 2]
    assert bundle.val is None and bundle.val_counts is None
    assert bundle.recipe == "authors" and bundle.image_size == 224
    assert bundle.split_record["dataset"] == name
    assert bundle.split_record["files"]["train"][0] == "train/n000/img 0.jpg"
    img, label = bundle.train[5]
    assert img.mode == "RGB" and img.size == (6, 5) and label == 1
    assert check_dataset(cfg(tmp_path, name=name)) == []


def test_val_list_and_absolute_list_path(tmp_path):
    train, test = make_tree(tmp_path, counts=(2, 2))
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "train.txt").write_text("\n".join(train))
    (tmp_path / "lists" / "test.txt").write_text("\n".join(test))
    (tmp_path / "lists" / "val.txt").write_text(test[0])
    bundle = build_datasets(cfg(tmp_path, train_list=str(tmp_path / "lists" / "train.txt"),
                                test_list="lists/test.txt", val_list="lists/val.txt", image_size=64))
    assert bundle.val_counts == [1, 0] and len(bundle.val) == 1
    assert bundle.image_size == 64 and bundle.recipe == "authors"


def test_imbalance_factor_ignored_with_note(tmp_path):
    train, test = make_tree(tmp_path, counts=(2, 1))
    (tmp_path / "train.txt").write_text("\n".join(train))
    (tmp_path / "test.txt").write_text("\n".join(test))
    bundle = build_datasets(cfg(tmp_path, imbalance_factor=10))
    assert any("imbalance_factor ignored" in n for n in bundle.notes)


def test_bad_list_line(tmp_path):
    train, test = make_tree(tmp_path, counts=(2, 1))
    (tmp_path / "train.txt").write_text("\n".join(train + ["lonelytoken"]))
    (tmp_path / "test.txt").write_text("\n".join(test))
    with pytest.raises(DataError, match=r"train\.txt line 4: expected 'relative/path label'"):
        build_datasets(cfg(tmp_path))
