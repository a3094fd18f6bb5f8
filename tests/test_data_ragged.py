"""Whole images on the tensor path (data/ragged.py): the per-image RandomResizedCrop sampler against
torchvision's get_params, the batched crop+resize against torchvision's resized_crop of each image,
and the evaluation view against the per-image path's."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

from conftest import FAST
from ecl.config import load_config
from ecl.data import build_datasets
from ecl.data.batched import params as RP
from ecl.data.batched_views import BatchedViews
from ecl.data.ragged import RaggedImages

SCALE, RATIO = (0.08, 1.0), (3 / 4, 4 / 3)
SHAPES = [(480, 640), (300, 100), (64, 200)]  # (h, w): landscape, portrait, wide


def _torchvision_boxes(h: int, w: int, n: int, seed: int) -> np.ndarray:
    torch.manual_seed(seed)
    img = torch.zeros(1, h, w)
    return np.array([v2.RandomResizedCrop.get_params(img, list(SCALE), list(RATIO)) for _ in range(n)], dtype=float)


def _stats(boxes: np.ndarray, h: int, w: int) -> dict[str, np.ndarray]:
    """Per box: area share, log aspect (w/h), normalised centre (y, x)."""
    top, left, bh, bw = boxes.T
    return {"area": bh * bw / (h * w), "log_ratio": np.log(bw / bh),
            "cy": (top + bh / 2) / h, "cx": (left + bw / 2) / w}


def test_each_images_boxes_follow_torchvision_on_its_own_geometry() -> None:
    n = 3000
    heights = torch.tensor([s[0] for s in SHAPES]).repeat_interleave(n)
    widths = torch.tensor([s[1] for s in SHAPES]).repeat_interleave(n)
    boxes = RP.rrc_boxes_each(torch.Generator().manual_seed(0), heights, widths, SCALE, RATIO).numpy()
    for k, (h, w) in enumerate(SHAPES):
        ours = boxes[k * n : (k + 1) * n]
        top, left, bh, bw = ours.T
        assert (top >= 0).all() and (left >= 0).all() and (top + bh <= h).all() and (left + bw <= w).all()
        a, b = _stats(ours.astype(float), h, w), _stats(_torchvision_boxes(h, w, n, k), h, w)
        for name in a:  # range and spread of each parameter, image by image
            se = math.sqrt(a[name].var() / n + b[name].var() / n)
            assert abs(a[name].mean() - b[name].mean()) < 5 * se + 1e-9, (h, w, name)
            assert abs(a[name].std() - b[name].std()) < 0.08 * b[name].std() + 1e-9, (h, w, name)
            assert a[name].min() >= b[name].min() - 0.05 and a[name].max() <= b[name].max() + 0.05
        if (h, w) == (480, 640):  # torchvision's ranges reached on a photo
            assert a["area"].min() < 0.1 and a["area"].max() > 0.95
            assert abs(a["log_ratio"]).max() > 0.95 * math.log(4 / 3)


def test_extreme_aspect_images_get_torchvision_fallback_each() -> None:
    """10×400 and 400×10 never fit the ratio range: torchvision's ratio-clamped centre box, per image,
    beside a normal image in the same batch."""
    shapes = [(10, 400), (400, 10), (100, 120)]
    boxes = RP.rrc_boxes_each(torch.Generator().manual_seed(1), torch.tensor([s[0] for s in shapes]),
                              torch.tensor([s[1] for s in shapes]), SCALE, RATIO)
    for (h, w), box in zip(shapes[:2], boxes[:2].tolist()):
        torch.manual_seed(0)
        assert tuple(box) == tuple(v2.RandomResizedCrop.get_params(torch.zeros(1, h, w), list(SCALE), list(RATIO)))
    assert tuple(boxes[0].tolist()) == (0, 193, 10, 13) and tuple(boxes[1].tolist()) == (193, 0, 13, 10)
    top, left, bh, bw = boxes[2].tolist()
    assert 0 <= top and top + bh <= 100 and 0 <= left and left + bw <= 120 and bh * bw > 0


def _random_images(seed: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(0, 256, (3, h, w), generator=g, dtype=torch.uint8) for h, w in [(48, 64), (30, 20), (90, 40)]]


def test_batched_crops_equal_torchvision_resized_crop_of_each_image() -> None:
    images = _random_images(2)
    ragged = RaggedImages.from_images(images)
    boxes = torch.tensor([[5, 7, 30, 40], [0, 0, 30, 20], [10, 3, 12, 9]])  # down-, same- and upsampled
    got = ragged.resized_crops(boxes, 24)
    for img, box, out in zip(images, boxes.tolist(), got):
        want = TF.resized_crop(img.float() / 255, *box, [24, 24], antialias=True)
        assert torch.allclose(out, want, atol=1e-5)
        pil = TF.resized_crop(TF.to_pil_image(img), *box, [24, 24], antialias=True)  # the per-image path
        diff = (out - TF.to_image(pil).float() / 255).abs()
        assert diff.mean() < 3 / 255 and diff.max() < 40 / 255


def test_fitted_equals_per_image_fit_square_and_views_are_made_from_whole_images() -> None:
    images = _random_images(3)
    ragged = RaggedImages.from_images(images)
    fit = v2.Compose([v2.Resize(16, antialias=True), v2.CenterCrop(16)])
    for img, out in zip(images, ragged.fitted(16)):
        assert torch.allclose(out, fit(img.float() / 255), atol=1e-5)
    batch = ragged.index_select(0, torch.tensor([2, 0]))
    assert [tuple(s) for s in batch.shapes.tolist()] == [(90, 40), (48, 64)] and len(batch.repeat(2)) == 4
    for recipe in ("authors", "bcl", "small"):
        views = BatchedViews(recipe, 16, (0.5,) * 3, (0.25,) * 3)(batch, torch.Generator().manual_seed(0))
        assert len(views) == 3 and all(v.shape == (2, 3, 16, 16) and torch.isfinite(v).all() for v in views)


def test_whole_image_crop_sees_the_borders() -> None:
    """With scale (1, 1) and a square-ish ratio range, a 4:3 image's crop spans its full width
    (the old square store cut a quarter away): the red left/right bands reach the view."""
    img = torch.zeros(3, 60, 80, dtype=torch.uint8)
    img[0, :, :10] = 255
    img[0, :, -10:] = 255
    ragged = RaggedImages.from_images([img])
    boxes = RP.rrc_boxes_each(torch.Generator().manual_seed(0), torch.tensor([60]), torch.tensor([80]),
                              (1.0, 1.0), (3 / 4, 4 / 3))
    view = ragged.resized_crops(boxes, 32)[0]
    assert view[0, :, 0].min() > 0.9 and view[0, :, -1].min() > 0.9


def _photo_folder(root: Path) -> None:
    rng = np.random.default_rng(0)
    for split, n in (("train", 2), ("test", 3)):
        for label in ("a", "b"):
            (root / split / label).mkdir(parents=True)
            for i in range(n):
                h, w = (120, 160) if i % 2 else (150, 90)
                small = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
                Image.fromarray(small).resize((w, h), Image.BICUBIC).save(root / split / label / f"{i}.jpg")


def test_eval_view_equals_the_per_image_path(tmp_path: Path) -> None:
    """The tensor path's test images (made once per file at load) are the per-image path's
    Resize(R) → CenterCrop(S) eval view, exactly."""
    from ecl.data.plan import resolve_data_plan
    from ecl.data.tensor_loader import TensorData, TensorEvalLoader

    _photo_folder(tmp_path / "data")
    config = load_config(None, [*FAST, "data.name=folder", f"data.root={tmp_path / 'data'}", "data.image_size=64",
                                "data.pipeline=tensor", "data.recipe=authors"])
    bundle = build_datasets(config.data)
    plan = resolve_data_plan(config, bundle, torch.device("cpu"))
    data = TensorData.build(plan, bundle, torch.device("cpu"), str(tmp_path / "cache"))
    assert isinstance(data.train_images, RaggedImages)
    images, _ = data.eval_sets[id(bundle.test)]
    got = next(iter(TensorEvalLoader(images, torch.zeros(len(images)), plan.batched_views(0), 64)))[0]
    assert plan.resize == 73 and plan.draft_size == 73
    bundle.test.draft_size = 73  # as the per-image loaders set it
    want = torch.stack([plan.eval_transform()(bundle.test[i][0]) for i in range(len(bundle.test))])
    assert got.shape == want.shape == (6, 3, 64, 64) and torch.allclose(got, want, atol=1e-5)
