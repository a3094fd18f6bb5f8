"""Validation for own data, one rule for every reader: a given split (root/val/, data.val_csv,
data.val_list) or data.val_per_class carved from the training images (stratified, seeded), never
both; and `ecl compare --tune` on each of them (slow)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import FAST
from ecl.cli import main
from ecl.config import DataConfig
from ecl.data import DataError, build_datasets, check_dataset, validation_source
from ecl.data.validation import carve_per_class

CLASSES = ("ant", "bee", "cat")
COLOURS = {"ant": (220, 30, 30), "bee": (30, 200, 40), "cat": (40, 50, 210)}


def _image(path: Path, name: str, i: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    r, g, b = COLOURS[name]
    noise = (i * 37) % 40
    Image.new("RGB", (20 + i % 5, 18), (r - noise // 2, g + noise // 4, b)).save(path)


def make_folder(root: Path, train=(12, 9, 7), test=3, val: int | None = None) -> Path:
    """root/{train,test[,val]}/<class>/i.{jpg,png}: tiny coloured images, one colour per class."""
    splits = {"train": train, "test": (test,) * 3, **({"val": (val,) * 3} if val else {})}
    for split, counts in splits.items():
        for name, n in zip(CLASSES, counts):
            for i in range(n):
                _image(root / split / name / f"{i}.{'png' if i % 2 else 'jpg'}", name, i)
    return root


def make_csv(root: Path, train=(12, 9, 7), test=3, val=3) -> Path:
    """The same images listed in train.csv / test.csv / val.csv (path,label with class names)."""
    make_folder(root / "img", train, test, val)
    for split in ("train", "test", "val"):
        rows = sorted((root / "img" / split).rglob("*.*"))
        lines = ["path,label"] + [f"{p.relative_to(root).as_posix()},{p.parent.name}" for p in rows]
        (root / f"{split}.csv").write_text("\n".join(lines) + "\n")
    return root


# ---------------------------------------------------------------------------------------------
# the carve: stratified, seeded by (data.split_seed, class), uniform over a class's images


def test_carve_is_stratified_and_partitions_the_training_set():
    labels = [0] * 10 + [1] * 4 + [2] * 7
    rng = np.random.default_rng(5)
    labels = [int(v) for v in rng.permutation(labels)]  # classes interleaved
    train, val = carve_per_class(labels, CLASSES, 3, seed=0)
    assert sorted(train + val) == list(range(len(labels))) and not set(train) & set(val)
    assert Counter(labels[i] for i in val) == {0: 3, 1: 3, 2: 3}
    assert Counter(labels[i] for i in train) == {0: 7, 1: 1, 2: 4}
    assert carve_per_class(labels, CLASSES, 3, seed=0) == (train, val)  # deterministic


def test_carve_depends_on_the_split_seed_and_on_the_class():
    labels = [0, 1] * 12  # two classes of 12, interleaved: the same positions within each class
    carves = {seed: carve_per_class(labels, CLASSES[:2], 4, seed)[1] for seed in range(8)}
    assert len({tuple(v) for v in carves.values()}) == 8  # split_seed matters
    ranks = {seed: [sorted(i // 2 for i in v if labels[i] == c) for c in (0, 1)] for seed, v in carves.items()}
    assert any(r[0] != r[1] for r in ranks.values())  # the class matters: not the same draw for both
    # a class's draw depends on (seed, class) only: adding a class leaves the others' carve unchanged
    wider = labels + [2] * 6
    assert carve_per_class(wider, CLASSES, 4, 3)[1][:8] == carves[3]


def test_carve_is_uniform_over_a_class():
    """Every image of a 10-image class is carved with probability 3/10 (2,000 seeds)."""
    labels = [0] * 10
    hits = Counter()
    for seed in range(2000):
        hits.update(carve_per_class(labels, CLASSES[:1], 3, seed)[1])
    freq = np.array([hits[i] / 2000 for i in range(10)])
    assert set(hits) == set(range(10))
    assert np.all(np.abs(freq - 0.3) < 0.045), freq  # binomial sd ≈ 0.010


def test_carve_too_few_images_names_the_key_and_class():
    with pytest.raises(DataError, match=r"data\.val_per_class=3: class 'bee' has only 3 training images"):
        carve_per_class([0, 0, 0, 0, 1, 1, 1], CLASSES[:2], 3, 0)


# ---------------------------------------------------------------------------------------------
# the readers


def _folder(root, **kw) -> DataConfig:
    return DataConfig(name="folder", root=str(root), image_size=16, **kw)


def test_folder_without_val_carves_and_records_the_cost(tmp_path):
    root = make_folder(tmp_path / "d")
    bundle = build_datasets(_folder(root, val_per_class=5, split_seed=3))
    assert bundle.val_counts == [5, 5, 5] and bundle.train_counts == [7, 4, 2]
    record = bundle.split_record
    assert record["val_per_class"] == 5 and record["val_seed"] == 3
    assert record["train_counts_before_val"] == [12, 9, 7]
    listed_train, listed_val = record["files"]["train"], record["files"]["val"]
    assert len(listed_val) == 15 and not set(listed_train) & set(listed_val)
    assert sorted(listed_train + listed_val) == sorted(p.relative_to(root).as_posix()
                                                        for p in (root / "train").rglob("*.*"))
    assert all(path.startswith("train/") for path in listed_val)
    note = next(n for n in bundle.notes if n.startswith("validation:"))
    assert "cat 7→2 (−71%)" in note and "ant 12→7 (−42%)" in note
    assert note.index("cat") < note.index("ant")  # the hardest hit first
    assert validation_source(_folder(root, val_per_class=5)).startswith("data.val_per_class=5")
    assert check_dataset(_folder(root, val_per_class=5)) == []
    other = build_datasets(_folder(root, val_per_class=5, split_seed=4)).split_record["files"]["val"]
    assert other != listed_val


def test_no_validation_source(tmp_path):
    root = make_folder(tmp_path / "d")
    assert validation_source(_folder(root)) is None
    assert build_datasets(_folder(root)).val is None
    (root / "val").mkdir()  # an empty val/ folder is a mistake, not a split
    with pytest.raises(DataError, match=r"val: no validation image"):
        build_datasets(_folder(root))


@pytest.mark.parametrize("kind", ["folder", "csv", "imagenet-lt", "isic2019"])
def test_given_split_and_val_per_class_is_an_error_naming_both(tmp_path, kind):
    if kind == "folder":
        cfg = _folder(make_folder(tmp_path / "d", val=2), val_per_class=2)
        other = "val"
    elif kind == "csv":
        root = make_csv(tmp_path / "d")
        cfg = DataConfig(name="csv", root=str(root), train_csv="train.csv", test_csv="test.csv",
                         val_csv="val.csv", val_per_class=2)
        other = "data.val_csv"
    elif kind == "imagenet-lt":
        cfg = DataConfig(name="imagenet-lt", root=str(tmp_path), train_list="a.txt", test_list="b.txt",
                         val_list="c.txt", val_per_class=2)
        other = "data.val_list"
    else:
        cfg = DataConfig(name="isic2019", root=str(tmp_path), val_per_class=2)
        other = "isic2019"
    for call in (validation_source, build_datasets):
        with pytest.raises(DataError, match=r"data\.val_per_class=2") as info:
            call(cfg)
        assert other in str(info.value)
    assert any("data.val_per_class=2" in p and other in p for p in check_dataset(cfg))


def test_csv_and_split_lists_carve_too(tmp_path):
    root = make_csv(tmp_path / "d")
    cfg = DataConfig(name="csv", root=str(root), train_csv="train.csv", test_csv="test.csv",
                     image_size=16, val_per_class=2)
    bundle = build_datasets(cfg)
    assert bundle.val_counts == [2, 2, 2] and bundle.train_counts == [10, 7, 5]
    lines = [f"{p.relative_to(root).as_posix()} {CLASSES.index(p.parent.name)}"
             for p in sorted((root / "img" / "train").rglob("*.*"))]
    (root / "train.txt").write_text("\n".join(lines) + "\n")
    (root / "test.txt").write_text("\n".join(lines[:3]) + "\n")
    lists = build_datasets(DataConfig(name="places-lt", root=str(root), train_list="train.txt",
                                      test_list="test.txt", val_per_class=4))
    assert lists.val_counts == [4, 4, 4] and lists.split_record["val_per_class"] == 4


def test_tune_without_any_validation_is_refused_before_training(tmp_path, capsys):
    root = make_folder(tmp_path / "d")
    out = tmp_path / "never"
    code = main(["compare", "--methods", "la", "--seeds", "0", "--tune", "train.lr=0.02,0.05",
                 "data.name=folder", f"data.root={root}", f"out={out}"])
    assert code == 2
    err = capsys.readouterr().err
    assert "validation split" in err and "root/val/<class>/" in err and "data.val_per_class=N" in err
    assert not out.exists()


# ---------------------------------------------------------------------------------------------
# ecl compare --tune on own data (slow: 6 one-epoch runs each)


def _tune(tmp_path: Path, data: list[str]) -> dict:
    out = tmp_path / "cmp"
    code = main(["compare", "--methods", "la,ecl", "--seeds", "0", "--tune", "train.lr=0.02,0.05",
                 "train.epochs=1", "data.image_size=16", "train.batch_size=8", *FAST, *data, f"out={out}"])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    for method in ("la", "ecl"):
        record = summary[method]["tuning"]
        scores = []
        for lr in ("0.02", "0.05"):
            metrics = (out / "tune" / method / f"train.lr={lr}" / "seed100" / "metrics.jsonl").read_text()
            scores.append(json.loads(metrics.splitlines()[-1])["val/balanced_accuracy"])
        assert record["chosen"] == {"train.lr": ("0.02", "0.05")[scores.index(max(scores))]}
    return summary


@pytest.mark.slow
def test_tune_on_a_folder_with_val(tmp_path):
    root = make_folder(tmp_path / "d", val=3)
    _tune(tmp_path, ["data.name=folder", f"data.root={root}"])


@pytest.mark.slow
def test_tune_on_a_folder_with_val_per_class(tmp_path):
    root = make_folder(tmp_path / "d")
    _tune(tmp_path, ["data.name=folder", f"data.root={root}", "data.val_per_class=5"])
    split = json.loads(next((tmp_path / "cmp" / "tune" / "la").rglob("split.json")).read_text())
    assert split["val_per_class"] == 5 and len(split["files"]["val"]) == 15


@pytest.mark.slow
def test_tune_on_a_csv_with_val_csv(tmp_path):
    root = make_csv(tmp_path / "d")
    _tune(tmp_path, ["data.name=csv", f"data.root={root}", "data.train_csv=train.csv",
                     "data.test_csv=test.csv", "data.val_csv=val.csv"])
