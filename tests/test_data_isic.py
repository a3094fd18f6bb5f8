"""ISIC 2019: ground-truth CSV, UNK dropped, stratified 3:1:1 split, split.json reuse."""

from __future__ import annotations

import json
from pathlib import Path
from ecl.config import DataConfig

import pytest
from PIL import Image

from ecl.data import DataError, build_datasets, split_record

CLASSES = ["MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC"]


def cfg(root, **kw):
    base = dict(name="isic2019", root=str(root), imbalance_factor=None, profile="exp", test_profile="balanced",
                image_size=None, split_seed=0, verify_images=True)
    base.update(kw)
    return DataConfig(**base)


def write_isic(root: Path, per_class=(10, 15, 5, 5, 6, 3, 4, 5), extra_rows=()):
    (root / "ISIC_2019_Training_Input").mkdir(parents=True)
    lines = ["image,MEL,NV,BCC,AK,BKL,DF,VASC,SCC,UNK"]
    k = 0
    for c, n in enumerate(per_class):
        for _ in range(n):
            name = f"ISIC_{k:07d}"
            Image.new("RGB", (8, 6), (c * 20, 0, 0)).save(root / "ISIC_2019_Training_Input" / f"{name}.jpg")
            onehot = ["1.0" if j == c else "0.0" for j in range(8)] + ["0.0"]
            lines.append(",".join([name] + onehot))
            k += 1
    lines += list(extra_rows)
    (root / "ISIC_2019_Training_GroundTruth.csv").write_text("\n".join(lines) + "\n")
    return per_class


def test_isic_stratified_split(tmp_path):
    per_class = write_isic(tmp_path)
    bundle = build_datasets(cfg(tmp_path))
    assert bundle.classes == CLASSES and bundle.recipe == "authors" and bundle.image_size == 224
    for c, n in enumerate(per_class):
        k = max(1, round(n / 5))  # independent restatement of the documented split sizes
        assert bundle.test_counts[c] == k and bundle.val_counts[c] == k
        assert bundle.train_counts[c] == n - 2 * k
    images = bundle.split_record["images"]
    all_ids = images["train"] + images["val"] + images["test"]
    assert len(all_ids) == len(set(all_ids)) == sum(per_class)
    # overall ≈ 3:1:1
    assert sum(bundle.train_counts) / sum(per_class) == pytest.approx(0.6, abs=0.08)
    img, label = bundle.test[0]
    assert img.mode == "RGB" and 0 <= label < 8
    assert build_datasets(cfg(tmp_path)).split_record["images"] == images
    assert build_datasets(cfg(tmp_path, split_seed=1)).split_record["images"] != images


def test_isic_split_record_returned_then_reused(tmp_path):
    write_isic(tmp_path / "data")
    first = build_datasets(cfg(tmp_path / "data", split_seed=0))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]  # the caller writes the record
    saved = json.loads(json.dumps(split_record(first)))  # as the run folder stores it
    assert saved["images"] == first.split_record["images"] and saved["seed"] == 0
    again = build_datasets(cfg(tmp_path / "data", split_seed=5), saved_split=saved)  # resume: same split
    assert again.split_record["images"] == first.split_record["images"]
    assert any("split read from" in n for n in again.notes)
    assert build_datasets(cfg(tmp_path / "data", split_seed=5)).split_record["images"] != saved["images"]


def test_isic_saved_split_with_unknown_image(tmp_path):
    write_isic(tmp_path / "data")
    saved = {"dataset": "isic2019", "images": {"train": ["ISIC_9"]}}
    with pytest.raises(DataError, match=r"saved split record.*ISIC_9"):
        build_datasets(cfg(tmp_path / "data"), saved_split=saved)


@pytest.mark.parametrize(
    "row, why",
    [
        ("ISIC_X,0,0,0,0,0,0,0,0,1.0", "not one-hot"),  # UNK
        ("ISIC_X,1.0,1.0,0,0,0,0,0,0,0", "not one-hot"),
        ("ISIC_X,0,0,0,0,0,0,0,0,0", "not one-hot"),
        ("ISIC_X,0.5,0.5,0,0,0,0,0,0,0", "not one-hot"),
        ("ISIC_X,yes,0,0,0,0,0,0,0,0", "must be numbers"),
        ("../ISIC_X,1,0,0,0,0,0,0,0,0", "bad image name"),
    ],
)
def test_isic_bad_rows_name_the_line(tmp_path, row, why):
    per_class = write_isic(tmp_path, extra_rows=[row])
    line = sum(per_class) + 2
    with pytest.raises(DataError, match=rf"GroundTruth\.csv line {line}: .*{why}"):
        build_datasets(cfg(tmp_path))


def test_isic_missing_image(tmp_path):
    write_isic(tmp_path)
    (tmp_path / "ISIC_2019_Training_Input" / "ISIC_0000003.jpg").unlink()
    with pytest.raises(DataError, match=r"GroundTruth\.csv line 5: image file not found.*ISIC_0000003\.jpg"):
        build_datasets(cfg(tmp_path))


def test_isic_check_lists_all_problems(tmp_path):
    per_class = write_isic(tmp_path, extra_rows=["ISIC_U,0,0,0,0,0,0,0,0,1", "ISIC_V,1,1,0,0,0,0,0,0,0"])
    img = tmp_path / "ISIC_2019_Training_Input" / "ISIC_0000001.jpg"
    img.write_bytes(img.read_bytes()[:40])
    from ecl.data import check_dataset

    problems = check_dataset(cfg(tmp_path))
    n = sum(per_class)
    assert len(problems) == 3, problems
    assert f"line {n + 2}" in problems[0] and f"line {n + 3}" in problems[1]
    assert "ISIC_0000001.jpg" in problems[2] and "line 3" in problems[2]


# --- the authors' fixed split files (their repository's dataset/ISIC2019/ISIC2019_{train,val,test}.csv) ---

AUTHORS_LABEL = {"NV": 0, "SCC": 1, "VASC": 2, "DF": 3, "BCC": 4, "AK": 5, "BKL": 6, "MEL": 7}  # their numbering


def write_authors_split(root: Path, per_split=None, layout="authors", rows_extra=None):
    """Three CSVs `image,category,label` and the images (authors' ISIC2019_Dataset/<cat>/ or the official folder)."""
    per_split = per_split or {"train": (4, 9, 3, 2, 3, 2, 2, 3), "val": (1, 2, 1, 1, 1, 1, 1, 1),
                              "test": (2, 3, 1, 1, 1, 1, 1, 1)}
    written, k = {}, 0
    for split, counts in per_split.items():
        lines = ["image,category,label"]
        written[split] = []
        for c, n in enumerate(counts):
            category = CLASSES[c]
            for _ in range(n):
                image = f"ISIC_{k:07d}" + ("_downsampled" if k % 7 == 3 else "")
                k += 1
                folder = root / ("ISIC2019_Dataset" if layout == "authors" else "ISIC_2019_Training_Input")
                folder = folder / category if layout == "authors" else folder
                folder.mkdir(parents=True, exist_ok=True)
                Image.new("RGB", (8, 6), (c * 20, 0, 0)).save(folder / f"{image}.jpg")
                lines.append(f"{image},{category},{AUTHORS_LABEL[category]}")
                written[split].append((image, c))
        lines += (rows_extra or {}).get(split, [])
        (root / f"ISIC2019_{split}.csv").write_text("\n".join(lines) + "\n")
    return written


SPLIT_KEYS = dict(train_list="ISIC2019_train.csv", val_list="ISIC2019_val.csv", test_list="ISIC2019_test.csv")


@pytest.mark.parametrize("layout", ["authors", "official"])
def test_isic_reads_the_authors_split_files(tmp_path, layout):
    written = write_authors_split(tmp_path, layout=layout)
    bundle = build_datasets(cfg(tmp_path, **SPLIT_KEYS))  # no ground-truth CSV needed
    assert bundle.classes == CLASSES
    for split, dataset in (("train", bundle.train), ("val", bundle.val), ("test", bundle.test)):
        assert len(dataset) == len(written[split])  # exactly the files' rows, in file order
        assert [Path(p).stem for p in dataset.paths] == [image for image, _ in written[split]]
        assert list(dataset.labels) == [c for _, c in written[split]]  # by category name, our class order
    assert bundle.split_record["images"]["val"] == [image for image, _ in written["val"]]
    assert any("authors' split" in n for n in bundle.notes)
    img, label = bundle.test[0]
    assert img.mode == "RGB" and label == written["test"][0][1]
    # a resumed run reads the same files and checks they still give its split
    saved = json.loads(json.dumps(split_record(bundle)))
    assert build_datasets(cfg(tmp_path, **SPLIT_KEYS), saved_split=saved).split_record["images"] == saved["images"]
    saved["images"]["train"] = saved["images"]["train"][1:]
    with pytest.raises(DataError, match="no longer give this run's split"):
        build_datasets(cfg(tmp_path, **SPLIT_KEYS), saved_split=saved)


@pytest.mark.parametrize("extra, why", [
    ({"test": ["ISIC_9999999,XYZ,3"]}, "unknown category 'XYZ'"),
    ({"test": ["ISIC_0000000,MEL,7"]}, "listed again"),  # a training image in the test file
    ({"val": ["ISIC_9999998,NV,5"]}, "category NV has label 5"),  # not the authors' one label per class
    ({"train": ["ISIC_9999997,NV,zero"]}, "not an integer"),
])
def test_isic_split_files_bad_rows_name_file_and_line(tmp_path, extra, why):
    write_authors_split(tmp_path, rows_extra=extra)
    with pytest.raises(DataError, match=why) as info:
        build_datasets(cfg(tmp_path, **SPLIT_KEYS))
    split = next(iter(extra))
    assert f"ISIC2019_{split}.csv line" in str(info.value)


def test_isic_split_files_need_train_and_test(tmp_path):
    write_authors_split(tmp_path)
    with pytest.raises(DataError, match="data.test_list"):
        build_datasets(cfg(tmp_path, train_list="ISIC2019_train.csv"))
    bundle = build_datasets(cfg(tmp_path, train_list="ISIC2019_train.csv", test_list="ISIC2019_test.csv"))
    assert bundle.val is None  # val_list is optional
