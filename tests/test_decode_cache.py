"""The tensor path's decode cache of image files (built once, reused, rebuilt when a file changes,
written atomically) and JPEG draft decoding (reduced-size decode close to full decode + resize)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import v2

from conftest import FAST
from ecl.config import load_config
from ecl.data import ImageFileDataset, build_datasets, decode_image
from ecl.data.decode_cache import cache_paths, cached_ragged, cached_uint8_tensor, ragged_layout, square_layout
from ecl.data.ragged import RaggedImages
from ecl.engine.training.context import build_run
from ecl.data.tensor_loader import TensorEvalLoader, TensorTrainLoader

SIZE = 12


def _smooth(h: int, w: int, seed: int) -> np.ndarray:
    """A smooth random colour image (h,w,3) uint8 (JPEG-friendly)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (max(2, h // 40), max(2, w // 40), 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(small).resize((w, h), Image.BICUBIC))


def _files(folder: Path) -> ImageFileDataset:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, (h, w) in enumerate([(20, 30), (16, 16), (40, 25), (12, 12), (50, 50)]):
        path = folder / f"{i}.{'png' if i % 2 else 'jpg'}"
        Image.fromarray(_smooth(h, w, i)).save(path)
        paths.append(path)
    return ImageFileDataset(paths, [0, 1, 0, 1, 0])


def _per_image(path: str) -> torch.Tensor:
    """The per-image path's decode (drafted like ImageFileDataset with draft_size) + Resize + CenterCrop."""
    fit = v2.Compose([v2.Resize(SIZE, antialias=True), v2.CenterCrop(SIZE)])
    return torch.from_numpy(np.array(fit(decode_image(path, target=SIZE)))).permute(2, 0, 1)


def test_cache_equals_per_image_decode_and_is_reused(tmp_path: Path) -> None:
    ds = _files(tmp_path / "img")
    images, labels = cached_uint8_tensor(ds, SIZE, str(tmp_path / "cache"))
    assert images.shape == (5, 3, SIZE, SIZE) and images.dtype == torch.uint8 and labels.tolist() == ds.labels
    for i, path in enumerate(ds.paths):
        assert torch.equal(images[i], _per_image(path))
    array, record = cache_paths(ds.paths, square_layout(SIZE), str(tmp_path / "cache"))
    before = (array.stat().st_mtime_ns, record.stat().st_mtime_ns)
    again, _ = cached_uint8_tensor(ds, SIZE, str(tmp_path / "cache"))
    assert torch.equal(again, images) and (array.stat().st_mtime_ns, record.stat().st_mtime_ns) == before
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == sorted([array.name, record.name])


def test_changed_file_makes_the_cache_stale_and_rebuilt(tmp_path: Path, capsys) -> None:
    ds = _files(tmp_path / "img")
    cache = str(tmp_path / "cache")
    old, _ = cached_uint8_tensor(ds, SIZE, cache)
    array, _ = cache_paths(ds.paths, square_layout(SIZE), cache)
    stamp = array.stat().st_mtime_ns
    Image.fromarray(np.full((16, 16, 3), 200, np.uint8)).save(ds.paths[1])  # new content and size
    os.utime(ds.paths[1], ns=(stamp + 10**9, stamp + 10**9))
    capsys.readouterr()
    new, _ = cached_uint8_tensor(ds, SIZE, cache)
    assert "stale" in capsys.readouterr().err
    assert torch.equal(new[1], torch.full((3, SIZE, SIZE), 200, dtype=torch.uint8))
    assert torch.equal(new[0], old[0]) and array.stat().st_mtime_ns != stamp
    os.utime(ds.paths[3], ns=(stamp + 2 * 10**9,) * 2)  # mtime alone changes: stale too
    cached_uint8_tensor(ds, SIZE, cache)
    assert "stale" in capsys.readouterr().err


def test_cache_write_is_atomic(tmp_path: Path, monkeypatch) -> None:
    import ecl.data.decode_cache as dc

    ds = _files(tmp_path / "img")
    cache = tmp_path / "cache"

    def broken(tmp: str, arrays: dict) -> None:
        Path(tmp).write_bytes(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(dc, "_save", broken)
    with pytest.raises(OSError):
        cached_uint8_tensor(ds, SIZE, str(cache))
    assert not any(cache.iterdir())  # neither a partial array nor a record under any name
    monkeypatch.undo()
    images, _ = cached_uint8_tensor(ds, SIZE, str(cache))
    assert torch.equal(images[0], _per_image(ds.paths[0]))


def test_folder_dataset_runs_on_the_tensor_path(tmp_path: Path, capsys) -> None:
    root = tmp_path / "data"
    for split, n in (("train", 3), ("test", 2)):
        for label in ("ant", "bee"):
            (root / split / label).mkdir(parents=True)
            for i in range(n):
                Image.fromarray(_smooth(30, 40, i)).save(root / split / label / f"{i}.png")
    config = load_config(None, [*FAST, "data.name=folder", f"data.root={root}", "data.image_size=72",
                                f"data.cache_dir={tmp_path / 'cache'}", "model.backbone=small_cnn"])
    bundle = build_datasets(config.data)
    ctx = build_run(config, bundle, device=torch.device("cpu"))
    assert ctx.plan.pipeline == "tensor" and "auto" in ctx.plan.pipeline_reason
    train = ctx.loader.data.train_images  # whole images, smaller than the eval resize 82: kept as they are
    assert isinstance(train, RaggedImages) and train.shapes.tolist() == [[30, 40]] * 6
    views, labels = next(iter(ctx.loader.train_epoch(0)))
    assert isinstance(ctx.loader.train_epoch(0), TensorTrainLoader) and views.shape[-2:] == (72, 72)
    assert isinstance(ctx.loader.eval_batches(bundle.test), TensorEvalLoader)
    assert len(list((tmp_path / "cache").glob("*.np[yz]"))) == 2  # train (ragged) and test (eval view)


def test_jpeg_draft_decodes_at_least_the_target_size_and_close_to_full(tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    Image.fromarray(_smooth(900, 1200, 7)).save(path, quality=95)
    full = decode_image(path)
    small = decode_image(path, target=100)
    assert full.size == (1200, 900) and min(small.size) >= 200 and small.size[0] < 1200
    fit = v2.Compose([v2.Resize(100, antialias=True), v2.CenterCrop(100)])
    a = np.asarray(fit(full), dtype=np.float64)
    b = np.asarray(fit(small), dtype=np.float64)
    assert np.abs(a - b).mean() < 1.0 and np.abs(a - b).max() <= 8
    png = tmp_path / "big.png"
    Image.fromarray(_smooth(300, 400, 7)).save(png)
    assert decode_image(png, target=50).size == (400, 300)  # only JPEGs are drafted


def test_ragged_cache_keeps_each_image_whole_with_its_aspect(tmp_path: Path) -> None:
    """Each file is stored whole: aspect kept (shorter side R, longer ≤ 2R, never enlarged), the
    pixels PIL's antialiased resize of the decoded file, reloaded unchanged from the .npz."""
    ds = _files(tmp_path / "img")  # 20×30, 16×16, 40×25, 12×12, 50×50
    images, labels = cached_ragged(ds, 16, str(tmp_path / "cache"))
    expected = [(16, 24), (16, 16), (26, 16), (12, 12), (16, 16)]  # 40×25 → 25.6×16; 12×12 not enlarged
    assert [tuple(s) for s in images.shapes.tolist()] == expected and labels.tolist() == ds.labels
    for (h, w), path, plane in zip(expected, ds.paths, images.planes()):
        img = decode_image(path)
        assert abs(h / w - img.height / img.width) < 0.05  # the aspect ratio is kept
        want = torch.from_numpy(np.array(v2.functional.resize(img, [h, w], antialias=True))).permute(2, 0, 1)
        assert torch.equal(plane, want)
    again, _ = cached_ragged(ds, 16, str(tmp_path / "cache"))
    assert torch.equal(again.pixels, images.pixels) and torch.equal(again.offsets, images.offsets)
    array, _ = cache_paths(ds.paths, ragged_layout(16), str(tmp_path / "cache"))
    assert array.suffix == ".npz" and array.exists()


def test_long_side_is_capped_at_twice_the_short(tmp_path: Path) -> None:
    from ecl.data.ragged import stored_shape

    assert stored_shape(480, 640, 256) == (256, 341)
    assert stored_shape(200, 1000, 256) == (102, 512)  # longer side capped at 2R: shorter < R
    assert stored_shape(100, 120, 256) == (100, 120)  # never enlarged
