"""Encoded storage (data.storage=encoded): the files' bytes decoded per batch equal the per-image
path's PIL decode, views are cut by the same crop path as the pixels storage and repeat under the
same seed, and the plan's storage rule (auto, refusals) on fake sizes."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import FAST
from ecl.config import load_config
from ecl.data import build_datasets
from ecl.data.encoded import EncodedImages, read_encoded
from ecl.data.errors import DataError
from ecl.data.images import decode_image
from ecl.data.plan import MEMORY_SHARE, PipelineError, choose_data_path, decide_data_path, resolve_data_plan
from ecl.data.ragged import RaggedImages
from ecl.data.tensor_loader import TensorTrainLoader

MiB = 2**20


def _picture(h: int, w: int, seed: int) -> np.ndarray:
    """(h,w,3) uint8: gradients plus noise (JPEG has real work to do)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 / w, y * 255 / h, ((x + y) % 64) * 4], -1) + rng.normal(0, 20, (h, w, 3))
    return np.clip(base, 0, 255).astype(np.uint8)


def _files(root: Path) -> dict[str, list[str]]:
    """JPEGs (colour, grey, two qualities) and PNG-decodable files (RGB, grey, RGBA, palette GIF)."""
    root.mkdir(parents=True, exist_ok=True)
    out: dict[str, list[str]] = {"jpeg": [], "lossless": []}
    for i, (h, w) in enumerate([(120, 160), (75, 50), (33, 47)]):
        a = _picture(h, w, i)
        for q in (75, 95):
            Image.fromarray(a).save(root / f"{i}-{q}.jpg", quality=q)
            out["jpeg"].append(str(root / f"{i}-{q}.jpg"))
        Image.fromarray(a).save(root / f"{i}.png")
        out["lossless"].append(str(root / f"{i}.png"))
    a = _picture(40, 30, 9)
    Image.fromarray(a[..., 0]).save(root / "grey.jpg")
    out["jpeg"].append(str(root / "grey.jpg"))
    Image.fromarray(a[..., 1]).save(root / "grey.png")
    Image.fromarray(np.dstack([a, a[..., :1]])).save(root / "alpha.png")
    Image.fromarray(a).convert("P").save(root / "palette.gif")
    out["lossless"] += [str(root / n) for n in ("grey.png", "alpha.png", "palette.gif")]
    return out


def _pil(path: str) -> torch.Tensor:
    return torch.from_numpy(np.array(decode_image(path))).permute(2, 0, 1)


def test_a_decoded_batch_equals_the_per_image_decode(tmp_path: Path) -> None:
    """PNG (and everything re-encoded losslessly: grey, alpha on white, palette) exactly; JPEG
    within 1 level on average and 4 at most (measured: 0 — torchvision's CPU decoder and Pillow
    both use libjpeg-turbo; nvJPEG on CUDA may differ by a few levels)."""
    files = _files(tmp_path)
    paths = files["jpeg"] + files["lossless"]
    batch = EncodedImages.from_files(paths).index_select(0, torch.arange(len(paths)).flip(0)).decode()
    assert isinstance(batch, RaggedImages)
    planes = dict(zip(reversed(paths), batch.planes()))
    for path in files["lossless"]:
        assert torch.equal(planes[path], _pil(path)), path
    for path in files["jpeg"]:
        ref = _pil(path)
        assert planes[path].shape == ref.shape, path
        diff = (planes[path].int() - ref.int()).abs()
        assert diff.float().mean() <= 1.0 and diff.max() <= 4, (path, diff.max())


def test_bytes_are_kept_as_they_are_for_jpeg_and_plain_png(tmp_path: Path) -> None:
    files = _files(tmp_path)
    for path in files["jpeg"] + files["lossless"][:4]:
        data, is_jpeg = read_encoded(path)
        assert data == Path(path).read_bytes() and is_jpeg == path.endswith(".jpg")
    for path in files["lossless"][4:]:  # alpha and palette: decoded as the per-image path, kept as PNG
        data, is_jpeg = read_encoded(path)
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and not is_jpeg
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    with pytest.raises(DataError, match="bad.jpg.*row 7"):
        read_encoded(str(bad), "list.txt row 7")


def test_encoded_views_are_the_pixel_crop_path_on_the_whole_images_and_repeat(tmp_path: Path) -> None:
    """The loader's views from EncodedImages equal BatchedViews on RaggedImages built from the PIL
    decodes of the same files (the reference); the same seed gives the same views, another seed not."""
    paths = _files(tmp_path)["lossless"]
    labels = torch.arange(len(paths))
    bundle = SimpleNamespace(recipe="authors", image_size=24, mean=(0.5,) * 3, std=(0.25,) * 3)
    plan = resolve_data_plan(load_config(None, FAST), bundle)
    views = plan.batched_views(2)
    encoded = EncodedImages.from_files(paths)
    reference = RaggedImages.from_images([_pil(p) for p in paths])

    def epoch(images, seed: int) -> list[torch.Tensor]:
        loader = TensorTrainLoader(images, labels, views, 3, seed=seed, epoch=1)
        return [v for v, _ in loader]

    first = epoch(encoded, 5)
    assert len(first) == 2 and first[0].shape == (9, 3, plan.image_size, plan.image_size)
    for a, b in zip(first, epoch(reference, 5)):
        assert torch.equal(a, b)
    for a, b in zip(first, epoch(encoded, 5)):
        assert torch.equal(a, b)
    assert not torch.equal(first[0], epoch(encoded, 6)[0])


@pytest.mark.parametrize("pixels, encoded, free, expected", [
    (100 * MiB, 10 * MiB, 1000 * MiB, ("tensor", "pixels")),  # pixels fit (≤ 25%)
    (250 * MiB, 10 * MiB, 1000 * MiB, ("tensor", "pixels")),  # exactly the share
    (300 * MiB, 250 * MiB, 1000 * MiB, ("tensor", "encoded")),  # pixels do not, the bytes do
    (300 * MiB, 260 * MiB, 1000 * MiB, ("pil", "per-image")),  # neither
    (300 * MiB, None, 1000 * MiB, ("pil", "per-image")),  # arrays: no encoded store
])
def test_auto_storage_rule_on_fake_sizes(pixels, encoded, free, expected) -> None:
    path = decide_data_path("auto", "auto", pixels, encoded, free, "sizes")
    assert (path.pipeline, path.storage) == expected
    assert MEMORY_SHARE == 0.25 and "auto" in path.storage_reason and "sizes" in path.pipeline_reason
    forced = decide_data_path("tensor", "auto", pixels, encoded, free, "sizes")  # tensor: the smaller store
    assert forced.pipeline == "tensor" and forced.storage == (expected[1] if expected[0] == "tensor" else
                                                               "pixels" if encoded is None else "encoded")
    for storage in ("pixels", "encoded"):  # explicit: the tensor path under auto, whatever fits
        if encoded is not None or storage == "pixels":
            chosen = decide_data_path("auto", storage, pixels, encoded, free, "sizes")
            assert (chosen.pipeline, chosen.storage, chosen.storage_reason) == ("tensor", storage, f"data.storage={storage}, as asked")


@pytest.mark.parametrize("pipeline, storage, encoded, pixels, words", [
    ("pil", "encoded", 1, 1, ["data.storage=encoded", "data.pipeline=pil"]),
    ("pil", "pixels", 1, 1, ["data.storage=pixels", "data.pipeline=pil"]),
    ("auto", "encoded", None, 1, ["data.storage=encoded", "in-memory arrays"]),
    ("auto", "encoded", None, None, ["data.storage=encoded", "data.pipeline=pil"]),
])
def test_refused_combinations_name_the_keys_in_one_line(pipeline, storage, encoded, pixels, words) -> None:
    with pytest.raises(PipelineError) as info:
        decide_data_path(pipeline, storage, pixels, encoded, 10**12, "cannot hold it")
    assert all(w in str(info.value) for w in words) and "\n" not in str(info.value)
    assert decide_data_path("pil", "auto", pixels, encoded, 10**12).storage == "per-image"


def _folder(root: Path, n: int = 3) -> Path:
    for split, count in (("train", n), ("test", 1)):
        for label in ("a", "b"):
            (root / split / label).mkdir(parents=True)
            for i in range(count):
                Image.fromarray(_picture(60, 80, i)).save(root / split / label / f"{i}.jpg", quality=60)
    return root


def test_auto_picks_encoded_when_only_the_bytes_fit_and_the_run_builds_it(tmp_path: Path, monkeypatch) -> None:
    import ecl.data.plan as plan_module
    from ecl.engine.training.context import build_run

    root = _folder(tmp_path / "data")
    config = load_config(None, [*FAST, "data.name=folder", f"data.root={root}", "data.image_size=224",
                                f"data.cache_dir={tmp_path / 'cache'}", "train.batch_size=4"])
    bundle = build_datasets(config.data)
    plan = resolve_data_plan(config, bundle)
    files = sum(Path(p).stat().st_size for p in bundle.train.paths) + 2 * 3 * 224 * 224
    pixels = 6 * 3 * 256 * 512 + 2 * 3 * 224 * 224  # the bound: shorter side R = 256, longer ≤ 2R
    assert files < pixels
    monkeypatch.setattr(plan_module, "free_memory", lambda device: int((files + pixels) / 2 / MEMORY_SHARE))
    path = choose_data_path("auto", "auto", plan, bundle, torch.device("cpu"))
    assert (path.pipeline, path.storage) == ("tensor", "encoded") and "bytes fit" in path.storage_reason
    assert f"{files / MiB:.1f} MiB encoded" in path.pipeline_reason
    small = load_config(None, [*FAST, "data.name=folder", f"data.root={root}", "data.image_size=32",
                               "data.storage=encoded", f"data.cache_dir={tmp_path / 'cache'}", "train.batch_size=4"])
    bundle = build_datasets(small.data)
    ctx = build_run(small, bundle, device=torch.device("cpu"))
    assert ctx.plan.storage == "encoded" and isinstance(ctx.loader.data.train_images, EncodedImages)
    views, labels = next(iter(ctx.loader.train_epoch(0)))
    assert views.shape == (12, 3, 32, 32) and labels.shape == (4,)
    test_images, _ = ctx.loader.data.eval_sets[id(bundle.test)]  # eval views precomputed as S×S pixels
    assert test_images.shape == (2, 3, 32, 32) and test_images.dtype == torch.uint8


@pytest.mark.slow
def test_train_on_a_jpeg_folder_with_encoded_storage_names_it(tmp_path: Path, capsys) -> None:
    """`ecl train … data.storage=encoded` trains; the start-up line and data.json name the storage and why."""
    import json

    from ecl.cli import main

    root, out = _folder(tmp_path / "data", n=4), tmp_path / "run"
    assert main(["train", *FAST, "data.name=folder", f"data.root={root}", "data.image_size=32", "data.storage=encoded",
                 f"data.cache_dir={tmp_path / 'cache'}", "train.epochs=1", "train.batch_size=4", "train.device=cpu",
                 "train.num_workers=0", f"out={out}"]) == 0
    captured = capsys.readouterr()
    printed = captured.out + captured.err
    assert "; storage: encoded (data.storage=encoded, as asked)" in printed and "data path: tensor (" in printed
    plan = json.loads((out / "data.json").read_text())["preprocess"]
    assert (plan["pipeline"], plan["storage"], plan["storage_reason"]) == ("tensor", "encoded", "data.storage=encoded, as asked")
    assert "MiB encoded" in plan["pipeline_reason"] and (out / "final.json").is_file()
