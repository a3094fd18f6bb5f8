"""Bad input: each case is a DataError naming the file and row/line, raised before training."""

from __future__ import annotations

import io
import os
from pathlib import Path
from ecl.config import DataConfig

import numpy as np
import pytest
from PIL import Image

from ecl.data import DataError, build_datasets, check_dataset, decode_image, to_rgb


def cfg(root, **kw):
    base = dict(
        name="imagenet-lt", root=str(root), imbalance_factor=None, profile="exp", test_profile="balanced",
        image_size=None, train_list="train.txt", test_list="test.txt", val_list=None,
        train_csv=None, test_csv=None, val_csv=None, split_seed=0, verify_images=True,
    )
    base.update(kw)
    return DataConfig(**base)


def write_image(path: Path, value=0, size=(8, 8), fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (value, value, value)).save(path, format=fmt)


def setup_lists(root: Path, train_extra=(), test_extra=()):
    """Two good classes (2 train + 1 test image each) plus extra lines; returns the line numbers of extras."""
    train = []
    for c in range(2):
        for i in range(2):
            write_image(root / f"tr/{c}_{i}.png", 40 * c + i)
            train.append(f"tr/{c}_{i}.png {c}")
    test = []
    for c in range(2):
        write_image(root / f"te/{c}.png", c)
        test.append(f"te/{c}.png {c}")
    (root / "train.txt").write_text("\n".join(train + list(train_extra)) + "\n")
    (root / "test.txt").write_text("\n".join(test + list(test_extra)) + "\n")
    return len(train) + 1, len(test) + 1  # line of the first extra line in each file


# --- missing files ---------------------------------------------------------------------------------

def test_missing_root(tmp_path):
    with pytest.raises(DataError, match=r"data\.root: .*nowhere.* does not exist"):
        build_datasets(cfg(tmp_path / "nowhere"))
    with pytest.raises(DataError, match=r"data\.root"):
        build_datasets(cfg(None))


def test_missing_list_file(tmp_path):
    setup_lists(tmp_path)
    with pytest.raises(DataError, match=r"data\.test_list: .*missing\.txt does not exist"):
        build_datasets(cfg(tmp_path, test_list="missing.txt"))
    with pytest.raises(DataError, match=r"data\.train_list: required"):
        build_datasets(cfg(tmp_path, train_list=None))
    assert "missing.txt" in check_dataset(cfg(tmp_path, test_list="missing.txt"))[-1]


def test_missing_image_file(tmp_path):
    line, _ = setup_lists(tmp_path, train_extra=["tr/ghost.png 0"])
    with pytest.raises(DataError, match=rf"train\.txt line {line}: image file not found: .*ghost\.png"):
        build_datasets(cfg(tmp_path))


# --- unreadable images -----------------------------------------------------------------------------

@pytest.mark.parametrize("content", [b"", b"this is not an image at all"], ids=["zero-byte", "not-an-image"])
def test_zero_byte_or_non_image(tmp_path, content):
    line, _ = setup_lists(tmp_path, train_extra=["tr/bad.jpg 1"])
    (tmp_path / "tr" / "bad.jpg").write_bytes(content)
    with pytest.raises(DataError, match=rf"bad\.jpg.*train\.txt line {line}"):
        build_datasets(cfg(tmp_path))
    # without the header check the build passes, loading then fails naming the file
    bundle = build_datasets(cfg(tmp_path, verify_images=False))
    with pytest.raises(DataError, match=rf"bad\.jpg.*train\.txt line {line}"):
        bundle.train[len(bundle.train) - 1]
    problems = check_dataset(cfg(tmp_path))
    assert len(problems) == 1 and "bad.jpg" in problems[0] and f"line {line}" in problems[0]


def test_truncated_image_caught_by_check_and_loading(tmp_path):
    line, _ = setup_lists(tmp_path, train_extra=["tr/trunc.jpg 0"])
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buf, format="JPEG", quality=95)
    (tmp_path / "tr" / "trunc.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    problems = check_dataset(cfg(tmp_path))
    assert len(problems) == 1
    assert "trunc.jpg" in problems[0] and f"train.txt line {line}" in problems[0]
    try:
        bundle = build_datasets(cfg(tmp_path))  # a header check may or may not notice
    except DataError as exc:
        assert "trunc.jpg" in str(exc)
        bundle = build_datasets(cfg(tmp_path, verify_images=False))
    with pytest.raises(DataError, match=r"trunc\.jpg"):
        bundle.train[len(bundle.train) - 1]


def test_check_dataset_lists_every_problem(tmp_path):
    l1, t1 = setup_lists(tmp_path, train_extra=["tr/a.jpg 0", "/etc/passwd 1", "tr/0_0.png x", "tr/b.jpg 1"],
                         test_extra=["te/0.png 7"])
    (tmp_path / "tr" / "a.jpg").write_bytes(b"")
    (tmp_path / "tr" / "b.jpg").write_bytes(b"GIF89a broken")
    problems = check_dataset(cfg(tmp_path))
    assert len(problems) == 5, problems
    joined = "\n".join(problems)
    for text in (f"train.txt line {l1 + 1}", f"train.txt line {l1 + 2}", f"test.txt line {t1}", "a.jpg", "b.jpg"):
        assert text in joined


# --- paths -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("path, why", [("/etc/hostname", "absolute"), ("../outside.png", "escapes data.root"),
                                       ("tr/../../outside.png", "escapes data.root")])
def test_paths_must_stay_inside_root(tmp_path, path, why):
    root = tmp_path / "root"
    write_image(tmp_path / "outside.png")
    line, _ = setup_lists(root, train_extra=[f"{path} 0"])
    with pytest.raises(DataError, match=rf"train\.txt line {line}: image path .* {why}"):
        build_datasets(cfg(root))


def test_symlink_escaping_root(tmp_path):
    root = tmp_path / "root"
    write_image(tmp_path / "outside.png")
    line, _ = setup_lists(root, train_extra=["tr/link.png 0"])
    os.symlink(tmp_path / "outside.png", root / "tr" / "link.png")
    with pytest.raises(DataError, match=rf"train\.txt line {line}: image path 'tr/link\.png' escapes data\.root"):
        build_datasets(cfg(root))
    # a symlinked class folder in a folder dataset too
    (tmp_path / "f" / "train").mkdir(parents=True)
    write_image(tmp_path / "f" / "test" / "a" / "0.png")
    write_image(tmp_path / "elsewhere" / "0.png")
    os.symlink(tmp_path / "elsewhere", tmp_path / "f" / "train" / "a")
    with pytest.raises(DataError, match=r"escapes data\.root"):
        build_datasets(cfg(tmp_path / "f", name="folder"))


def test_absolute_path_in_csv(tmp_path):
    write_image(tmp_path / "a.png")
    (tmp_path / "train.csv").write_text(f"path,label\na.png,cat\n{tmp_path / 'a.png'},dog\n")
    (tmp_path / "test.csv").write_text("path,label\na.png,cat\n")
    with pytest.raises(DataError, match=r"train\.csv line 3: image path .* is absolute"):
        build_datasets(cfg(tmp_path, name="csv", train_csv="train.csv", test_csv="test.csv"))


# --- labels ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "label, why", [("-1", "is negative"), ("1.5", "not an integer"), ("cat", "not an integer"), ("", "expected")]
)
def test_bad_list_labels(tmp_path, label, why):
    line, _ = setup_lists(tmp_path, train_extra=[f"tr/0_0.png {label}".rstrip()])
    with pytest.raises(DataError, match=rf"train\.txt line {line}: .*{why}"):
        build_datasets(cfg(tmp_path))


def test_label_out_of_range_with_known_class_count(tmp_path):
    line, _ = setup_lists(tmp_path, train_extra=["tr/0_0.png 2"])
    with pytest.raises(DataError, match=rf"train\.txt line {line}: label 2 out of range 0\.\.1"):
        build_datasets(cfg(tmp_path, num_classes=2))


def test_class_without_training_image(tmp_path):
    setup_lists(tmp_path, train_extra=["tr/0_0.png 3"])  # classes 0, 1, 3: class 2 has no image
    with pytest.raises(DataError, match=r"train\.txt: class 2 \(2\) has no training image"):
        build_datasets(cfg(tmp_path))


def test_test_class_unseen_in_training(tmp_path):
    _, line = setup_lists(tmp_path, test_extra=["te/0.png 5"])
    with pytest.raises(DataError, match=rf"test\.txt line {line}: class 5 unseen in training"):
        build_datasets(cfg(tmp_path))


def csv_setup(root: Path, train_rows, test_rows):
    for i in range(3):
        write_image(root / f"{i}.png", i)
    (root / "train.csv").write_text("path,label\n" + "".join(f"{p},{l}\n" for p, l in train_rows))
    (root / "test.csv").write_text("path,label\n" + "".join(f"{p},{l}\n" for p, l in test_rows))
    return cfg(root, name="csv", train_csv="train.csv", test_csv="test.csv")


@pytest.mark.parametrize(
    "train_rows, test_rows, match",
    [
        ([("0.png", "cat"), ("1.png", "dog")], [("2.png", "cow")], r"test\.csv line 2: unknown class name 'cow'"),
        ([("0.png", 0), ("1.png", 1)], [("2.png", 4)], r"test\.csv line 2: class 4 unseen in training"),
        ([("0.png", 0), ("1.png", -1)], [("2.png", 0)], r"train\.csv line 3: label -1 is negative"),
        ([("0.png", 0), ("1.png", 1.5)], [("2.png", 0)], r"train\.csv line 3: label '1\.5' is not an integer"),
        ([("0.png", 0), ("1.png", 1)], [("2.png", "x")], r"test\.csv line 2: label 'x' is not an integer"),
        ([("0.png", "cat"), ("1.png", 3)], [("2.png", "cat")], r"train\.csv line 3: label '3' is a number"),
        ([("0.png", 0), ("1.png", 2)], [("2.png", 0)], r"train\.csv: class 1 \(1\) has no training image"),
        ([("0.png", 0), ("1.png", "")], [("2.png", 0)], r"train\.csv line 3: empty label"),
    ],
)
def test_bad_csv_labels(tmp_path, train_rows, test_rows, match):
    with pytest.raises(DataError, match=match):
        build_datasets(csv_setup(tmp_path, train_rows, test_rows))


def test_csv_wrong_field_count(tmp_path):
    c = csv_setup(tmp_path, [("0.png", 0)], [("0.png", 0)])
    (tmp_path / "train.csv").write_text("path,label\n0.png,0\n1.png,0,extra\n")
    with pytest.raises(DataError, match=r"train\.csv line 3: expected 2 fields, got 3"):
        build_datasets(c)


def test_non_utf8_list(tmp_path):
    setup_lists(tmp_path)
    (tmp_path / "train.txt").write_bytes(b"tr/0_0.png 0\n\xff\xfe 1\n")
    with pytest.raises(DataError, match=r"train\.txt: not UTF-8"):
        build_datasets(cfg(tmp_path))


# --- decompression bombs -------------------------------------------------------------------------

@pytest.mark.parametrize("side", [12, 16], ids=["over-limit-warning", "over-2x-limit-error"])
def test_decompression_bomb_is_an_error(tmp_path, monkeypatch, side):
    line, _ = setup_lists(tmp_path, train_extra=["tr/big.png 0"])
    write_image(tmp_path / "tr" / "big.png", size=(side, side))
    # a small limit stands in for the real 89 M pixels (8×8 images stay under it); 12² > 100 only
    # warns in PIL, 16² > 2·100 raises DecompressionBombError
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(DataError, match=rf"big\.png.*train\.txt line {line}"):
        build_datasets(cfg(tmp_path))
    bundle = build_datasets(cfg(tmp_path, verify_images=False))
    with pytest.raises(DataError, match=r"big\.png"):
        bundle.train[len(bundle.train) - 1]
    problems = check_dataset(cfg(tmp_path))
    assert len(problems) == 1 and "big.png" in problems[0]
    assert Image.MAX_IMAGE_PIXELS == 100  # never raised or disabled by the reader


def test_pixel_limit_untouched_by_reading(tmp_path):
    before = Image.MAX_IMAGE_PIXELS
    setup_lists(tmp_path)
    build_datasets(cfg(tmp_path))
    check_dataset(cfg(tmp_path))
    assert Image.MAX_IMAGE_PIXELS == before and before is not None


# --- image modes -----------------------------------------------------------------------------------

def _mode_images():
    grey = Image.fromarray(np.array([[0, 100], [200, 255]], np.uint8), "L")
    pal = grey.convert("P")
    rgba = Image.new("RGBA", (2, 2), (10, 20, 30, 255))
    la = Image.fromarray(np.array([[[50, 255], [60, 255]], [[70, 255], [80, 255]]], np.uint8), "LA")
    i16 = Image.fromarray(np.array([[0, 257], [32896, 65535]], np.uint16))
    bw = Image.new("1", (2, 2), 1)
    return {
        "L": (grey, [[0, 100], [200, 255]]),
        "P": (pal, [[0, 100], [200, 255]]),
        "RGBA": (rgba, None),
        "LA": (la, [[50, 60], [70, 80]]),
        "I;16": (i16, [[0, 1], [128, 255]]),
        "1": (bw, [[255, 255], [255, 255]]),
    }


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "LA", "I;16", "1"])
def test_modes_converted_to_rgb_in_memory(mode):
    img, grey = _mode_images()[mode]
    assert img.mode == mode
    out = to_rgb(img)
    arr = np.asarray(out)
    assert out.mode == "RGB" and arr.shape == (2, 2, 3) and arr.dtype == np.uint8
    if grey is not None:
        for ch in range(3):
            assert arr[..., ch].tolist() == grey
    else:
        assert arr[0, 0].tolist() == [10, 20, 30]


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "LA", "I;16", "1", "CMYK", "P-transparent"])
def test_modes_converted_to_rgb_from_files(tmp_path, mode):
    if mode == "CMYK":
        img, path = Image.new("CMYK", (4, 4), (0, 255, 255, 0)), tmp_path / "x.jpg"
    elif mode == "P-transparent":
        img, path = Image.new("P", (4, 4), 3), tmp_path / "x.png"
        img.info["transparency"] = 3
    else:
        img, path = _mode_images()[mode][0], tmp_path / "x.png"
    img.save(path)
    out = decode_image(path)
    assert out.mode == "RGB" and out.size == img.size
    if mode == "I;16":
        assert np.asarray(out)[..., 0].tolist() == [[0, 1], [128, 255]]
    if mode == "CMYK":
        r, g, b = np.asarray(out)[0, 0].tolist()
        assert r > 200 and g < 60 and b < 60


def test_grey_and_16bit_images_in_a_dataset(tmp_path):
    setup_lists(tmp_path, train_extra=["tr/g16.png 0", "tr/p.png 1", "tr/a.png 1"])
    Image.fromarray(np.full((5, 5), 65535, np.uint16)).save(tmp_path / "tr" / "g16.png")
    Image.new("L", (5, 5), 9).convert("P").save(tmp_path / "tr" / "p.png")
    Image.new("RGBA", (5, 5), (1, 2, 3, 4)).save(tmp_path / "tr" / "a.png")
    bundle = build_datasets(cfg(tmp_path))
    n = len(bundle.train)
    for i in range(n - 3, n):
        img, _ = bundle.train[i]
        assert img.mode == "RGB"
    assert np.asarray(bundle.train[n - 3][0]).max() == 255
    assert check_dataset(cfg(tmp_path)) == []


# --- every problem in one message ------------------------------------------------------------------

def _csv_with_missing_files(root: Path) -> tuple[list[str], list[str]]:
    """A 2-class CSV dataset whose train.csv names two files that do not exist (lines 4 and 6)."""
    for i in range(4):
        write_image(root / f"{i}.png", i)
    rows = ["0.png,a", "1.png,b", "ghost1.png,a", "2.png,b", "ghost2.png,b"]
    (root / "train.csv").write_text("path,label\n" + "\n".join(rows) + "\n")
    (root / "test.csv").write_text("path,label\n3.png,a\n")
    return ["train.csv line 4", "train.csv line 6"], ["ghost1.png", "ghost2.png"]


def test_build_lists_every_bad_row_like_check(tmp_path):
    where, names = _csv_with_missing_files(tmp_path)
    config = cfg(tmp_path, name="csv", train_list=None, test_list=None, train_csv="train.csv", test_csv="test.csv")
    with pytest.raises(DataError) as info:
        build_datasets(config)
    message = str(info.value)
    assert message.splitlines()[0] == "2 problems found in csv:"
    assert sorted(line.strip() for line in message.splitlines()[1:]) == sorted(check_dataset(config))
    for text in (*where, *names):
        assert text in message


def test_train_cli_names_both_missing_rows_and_writes_nothing(tmp_path, capsys):
    from ecl.cli import main

    where, names = _csv_with_missing_files(tmp_path / "data")
    out = tmp_path / "run"
    code = main(["train", "data.name=csv", f"data.root={tmp_path / 'data'}", "data.train_csv=train.csv",
                 "data.test_csv=test.csv", "train.epochs=1", "train.progress=false", f"out={out}"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert err.startswith("error: 2 problems found in csv:")
    for text, name in zip(where, names):
        assert any(text in line and name in line for line in err.splitlines())
    assert not out.exists()
    code = main(["data", "check", "data.name=csv", f"data.root={tmp_path / 'data'}", "data.train_csv=train.csv",
                 "data.test_csv=test.csv"])
    assert code == 2 and capsys.readouterr().err == err  # the same message as `ecl data check`


def test_more_than_twenty_problems_are_counted(tmp_path):
    setup_lists(tmp_path, train_extra=[f"tr/ghost{i:02d}.png 0" for i in range(23)])
    with pytest.raises(DataError) as info:
        build_datasets(cfg(tmp_path))
    lines = str(info.value).splitlines()
    assert lines[0] == "23 problems found in imagenet-lt:"
    assert len([line for line in lines if "ghost" in line]) == 20
    assert lines[-1].strip() == "... and 3 more problems"
