"""`folder` and `csv` datasets: layout, classes, labels as names or indices, encodings, default recipes."""

from __future__ import annotations

import json
from pathlib import Path
from ecl.config import DataConfig

import pytest
from PIL import Image

from ecl.data import DataError, build_datasets, check_dataset, data_summary


def cfg(root, **kw):
    base = dict(
        name="folder", root=str(root), imbalance_factor=None, profile="exp", test_profile="balanced",
        image_size=None, train_csv=None, test_csv=None, val_csv=None, split_seed=0, verify_images=True,
    )
    base.update(kw)
    return DataConfig(**base)


def write_image(path: Path, value: int = 0, size=(9, 7), fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (value, value, value)).save(path, format=fmt)


def make_folder(root: Path, counts: dict[str, int], test: dict[str, int], val: dict[str, int] | None = None):
    for split, spec in (("train", counts), ("test", test), ("val", val or {})):
        for name, n in spec.items():
            (root / split / name).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                write_image(root / split / name / f"{i}.{'png' if i % 2 else 'JPG'}", 20 * i)


def test_folder_tree(tmp_path):
    make_folder(tmp_path, {"zebra": 3, "ant": 2, "cat": 1}, {"ant": 1, "zebra": 2})
    (tmp_path / "train" / "ant" / ".hidden.jpg").write_bytes(b"junk")
    (tmp_path / "train" / "ant" / "notes.txt").write_text("not an image")
    (tmp_path / "train" / ".git").mkdir()
    bundle = build_datasets(cfg(tmp_path))
    assert bundle.classes == ["ant", "cat", "zebra"]
    assert bundle.train_counts == [2, 1, 3] and bundle.test_counts == [1, 0, 2]
    assert bundle.val is None
    assert bundle.recipe == "bcl" and bundle.image_size == 7  # own images: their median shorter side (9×7)
    assert any("ignored" in n for n in bundle.notes)
    assert bundle.split_record["files"]["train"][:2] == ["train/ant/0.JPG", "train/ant/1.png"]
    json.dumps(bundle.split_record)
    img, label = bundle.train[2]
    assert img.mode == "RGB" and label == 1
    assert data_summary(bundle)["train"]["size"] == 6
    assert check_dataset(cfg(tmp_path)) == []


def test_folder_val_and_small_images_use_the_bcl_recipe(tmp_path):
    make_folder(tmp_path, {"a": 2, "b": 2}, {"a": 1, "b": 1}, {"b": 1})
    bundle = build_datasets(cfg(tmp_path, image_size=32))
    assert bundle.val_counts == [0, 1]
    assert bundle.recipe == "bcl" and bundle.image_size == 32
    assert build_datasets(cfg(tmp_path, image_size=65)).recipe == "authors"


def test_folder_missing_test_dir_and_empty_class(tmp_path):
    make_folder(tmp_path, {"a": 1}, {})
    (tmp_path / "test").rmdir() if (tmp_path / "test").exists() else None
    with pytest.raises(DataError, match=r"test: missing folder"):
        build_datasets(cfg(tmp_path))
    make_folder(tmp_path, {"a": 1, "b": 0}, {"a": 1})
    with pytest.raises(DataError, match=r"train/b: class 'b' has no training image"):
        build_datasets(cfg(tmp_path))


def test_folder_test_class_unseen_in_training(tmp_path):
    make_folder(tmp_path, {"a": 1}, {"a": 1, "ghost": 1})
    with pytest.raises(DataError, match=r"test/ghost: class 'ghost' unseen in training"):
        build_datasets(cfg(tmp_path))


def write_csv(path: Path, rows, bom=False, newline="\n", header="path,label"):
    text = newline.join([header] + [f"{p},{l}" for p, l in rows]) + newline
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))


@pytest.mark.parametrize("bom, newline", [(False, "\n"), (True, "\r\n"), (True, "\r")])
def test_csv_with_class_names(tmp_path, bom, newline):
    for i in range(4):
        write_image(tmp_path / "img" / f"{i}.png", i)
    write_csv(tmp_path / "train.csv", [("img/0.png", "dog"), ("img/1.png", "cat"), ("img/2.png", "dog"),
                                       ('"img/3.png"', "émeu")], bom, newline)
    write_csv(tmp_path / "test.csv", [("img/3.png", "cat")], bom, newline)
    bundle = build_datasets(cfg(tmp_path, name="csv", train_csv="train.csv", test_csv="test.csv"))
    assert bundle.classes == ["cat", "dog", "émeu"]
    assert bundle.train_counts == [1, 2, 1] and bundle.test_counts == [1, 0, 0]
    assert bundle.split_record["labels"] == "names"
    assert [lab for _, lab in (bundle.train[i] for i in range(4))] == [1, 0, 1, 2]


def test_csv_with_integer_labels_and_val(tmp_path):
    for i in range(5):
        write_image(tmp_path / "x" / f"{i}.jpg", i)
    write_csv(tmp_path / "train.csv", [("x/0.jpg", 0), ("x/1.jpg", 2), ("x/2.jpg", 1), ("x/3.jpg", 2)])
    write_csv(tmp_path / "test.csv", [("x/4.jpg", 2)])
    write_csv(tmp_path / "val.csv", [("x/4.jpg", 1)])
    bundle = build_datasets(cfg(tmp_path, name="csv", train_csv="train.csv", test_csv="test.csv",
                                val_csv="val.csv", image_size=16))
    assert bundle.classes == ["0", "1", "2"]
    assert bundle.train_counts == [1, 1, 2] and bundle.test_counts == [0, 0, 1] and bundle.val_counts == [0, 1, 0]
    assert bundle.recipe == "bcl" and bundle.image_size == 16


def test_csv_header_required(tmp_path):
    write_image(tmp_path / "a.png")
    (tmp_path / "train.csv").write_text("file,class\na.png,0\n")
    write_csv(tmp_path / "test.csv", [("a.png", 0)])
    with pytest.raises(DataError, match=r"train\.csv line 1: header must have columns path,label"):
        build_datasets(cfg(tmp_path, name="csv", train_csv="train.csv", test_csv="test.csv"))
