"""`ecl data preview`: PNGs of the training views on both data paths, and the full field of view
of the tensor path on image files (issue 19: a 4:3 photo's side bands must reach the views)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ecl.cli import main

STRIPE = 80  # px of red down each side of a 640×480 photo


def _striped_folder(root: Path) -> Path:
    """20 training JPEGs (+4 test) of 640×480: grey noise with an 80-px red band at each side."""
    rng = np.random.default_rng(0)
    for split, n in (("train", 10), ("test", 2)):
        for label in ("a", "b"):
            (root / split / label).mkdir(parents=True)
            for i in range(n):
                grey = rng.integers(100, 156, (480, 640, 1), dtype=np.uint8).repeat(3, axis=2)
                grey[:, :STRIPE] = grey[:, -STRIPE:] = (220, 20, 20)
                Image.fromarray(grey).save(root / split / label / f"{i}.jpg", quality=90)
    return root


def _args(root: Path, tmp: Path, pipeline: str, storage: str = "auto") -> list[str]:
    return ["data.name=folder", f"data.root={root}", "data.image_size=64", "data.recipe=authors",
            f"data.pipeline={pipeline}", f"data.storage={storage}", f"data.cache_dir={tmp / 'cache'}", "train.threads=1",
            "train.num_workers=0", "train.device=cpu", "seed=3"]


def _stripe_share(out: Path, count: int) -> float:
    """Share of classifier views with red-band pixels (red exceeds green and blue by > 60 levels;
    the grey background and its jittered/erased versions never do)."""
    hits = 0
    for k in range(count):
        x = np.asarray(Image.open(out / f"{k}-v0.png"), dtype=np.int32)
        hits += bool(((x[..., 0] - np.maximum(x[..., 1], x[..., 2])) > 60).any())
    return hits / count


@pytest.mark.slow
def test_tensor_path_sees_the_whole_photo_as_the_per_image_path(tmp_path: Path, capsys) -> None:
    """pixels and encoded storage against the per-image path: the same share of stripe views."""
    root, count, share = _striped_folder(tmp_path / "data"), 200, {}
    for name, pipeline, storage in (("pixels", "tensor", "auto"), ("encoded", "auto", "encoded"), ("pil", "pil", "auto")):
        out = tmp_path / name
        assert main(["data", "preview", *_args(root, tmp_path, pipeline, storage), "--count", str(count),
                     "--out", str(out)]) == 0
        record = json.loads((out / "preview.json").read_text())
        assert record["data_path"] == ("pil" if name == "pil" else "tensor") and record["image_size"] == 64
        assert record["storage"] == ("per-image" if name == "pil" else name) and record["storage_reason"]
        assert record["recipe"] == "authors" and record["count"] == count and record["seed"] == 3
        for v in range(3):
            assert Image.open(out / f"{count - 1}-v{v}.png").size == (64, 64)
        share[name] = _stripe_share(out, count)
    for name in ("pixels", "encoded"):
        p = (share[name] + share["pil"]) / 2
        noise = math.sqrt(2 * p * (1 - p) / count)  # sd of the difference of two binomial shares
        assert abs(share[name] - share["pil"]) < 4 * noise, share
        assert share[name] > 0.3, share  # the old square store gave 0
    assert share["pil"] > 0.3, share
    assert "whole images" in json.loads((tmp_path / "pixels" / "preview.json").read_text())["stored_as"]
    assert "files' bytes" in json.loads((tmp_path / "encoded" / "preview.json").read_text())["stored_as"]


def test_same_seed_same_files_and_no_overwrite_unasked(tmp_path: Path, capsys) -> None:
    root = _striped_folder(tmp_path / "data")
    first, second = tmp_path / "one", tmp_path / "two"
    for out in (first, second):
        assert main(["data", "preview", *_args(root, tmp_path, "tensor"), "--count", "4", "--out", str(out)]) == 0
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted([f"{k}-v{v}.png" for k in range(4) for v in range(3)] + ["preview.json"])
    assert all((first / n).read_bytes() == (second / n).read_bytes() for n in names if n.endswith(".png"))
    records = [json.loads((out / "preview.json").read_text()) for out in (first, second)]
    a, b = ({k: v for k, v in r.items() if k != "data_path_reason"} for r in records)  # it names free memory
    assert a == b and a["data_path"] == "tensor" and a["count"] == 4
    capsys.readouterr()
    assert main(["data", "preview", *_args(root, tmp_path, "tensor"), "--count", "4", "--out", str(first)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert main(["data", "preview", *_args(root, tmp_path, "pil"), "--count", "2", "--out", str(first),
                 "--overwrite"]) == 0
    assert json.loads((first / "preview.json").read_text())["data_path"] == "pil"


def test_preview_of_the_default_digits_on_both_paths_unnormalises_to_uint8(tmp_path: Path, capsys) -> None:
    """Embedded digits (in-memory arrays): both paths write 16×16 RGB views whose pixels come
    back from the normalised floats (black background, bright strokes)."""
    for pipeline in ("tensor", "pil"):
        out = tmp_path / pipeline
        assert main(["data", "preview", f"data.pipeline={pipeline}", "train.threads=1", "train.num_workers=0",
                     "--count", "3", "--out", str(out)]) == 0
        x = np.asarray(Image.open(out / "0-v0.png"))
        assert x.shape == (16, 16, 3) and x.dtype == np.uint8 and x.max() > 100 and x.min() < 60
