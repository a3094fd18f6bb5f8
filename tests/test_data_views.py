"""View transforms: shapes, number of views, determinism, recipes (authors/bcl/small), the eval view, ViewsDataset."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from ecl.data import ArrayDataset, ViewsDataset, build_eval_transform, build_train_transform

MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


def image(h, w, seed=0):
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), "RGB")


@pytest.mark.parametrize("recipe, size, src", [("small", 16, 8), ("small", 28, 28), ("bcl", 32, 32), ("authors", 48, 60)])
@pytest.mark.parametrize("views", [0, 1, 2, 3])
def test_train_views_shapes_and_count(recipe, size, src, views):
    t = build_train_transform(size, recipe, MEAN, STD, num_contrastive_views=views)
    out = t(image(src, src + 3))
    assert isinstance(out, list) and len(out) == 1 + views
    for v in out:
        assert v.shape == (3, size, size) and v.dtype == torch.float32 and torch.isfinite(v).all()


@pytest.mark.parametrize("recipe, size", [("small", 16), ("bcl", 32), ("authors", 40)])
def test_train_views_deterministic_under_manual_seed(recipe, size):
    t = build_train_transform(size, recipe, MEAN, STD, num_contrastive_views=2)
    img = image(size, size, seed=3)
    torch.manual_seed(123)
    a = t(img)
    torch.manual_seed(123)
    b = t(img)
    torch.manual_seed(124)
    c = t(img)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not all(torch.equal(x, y) for x, y in zip(a, c))
    assert not torch.equal(a[1], a[2])  # the two contrastive views differ


@pytest.mark.parametrize("recipe, size, src", [("small", 16, 8), ("bcl", 32, 32), ("bcl", 32, 50), ("authors", 64, 80)])
def test_eval_view_is_deterministic_and_normalised(recipe, size, src):
    t = build_eval_transform(size, recipe, MEAN, STD)
    img = image(src, src)
    a, b = t(img), t(img)
    assert a.shape == (3, size, size) and torch.equal(a, b)
    if recipe == "bcl" and src == size:  # plain: just normalisation
        expected = (torch.from_numpy(np.array(img)).permute(2, 0, 1).float() / 255 - 0.5) / 0.25
        assert torch.allclose(a, expected, atol=1e-6)


def test_small_recipe_has_no_flip():
    # a left/right asymmetric image: with no flips the classifier view's crop keeps the bright
    # half on the left in every draw (crop scale ≥ 0.6, rotation ≤ 10°)
    arr = np.zeros((28, 28, 3), np.uint8)
    arr[:, :10] = 255
    img = Image.fromarray(arr)
    t = build_train_transform(28, "small", (0, 0, 0), (1, 1, 1), num_contrastive_views=1, randaugment=False)
    torch.manual_seed(0)
    for _ in range(40):
        for v in t(img):
            left, right = v[:, :, :8].mean(), v[:, :, -8:].mean()
            assert left >= right


def test_views_dataset_wraps_items():
    images = np.random.default_rng(0).integers(0, 256, (5, 8, 8), dtype=np.uint8)
    base = ArrayDataset(images, [0, 1, 2, 3, 4])
    ds = ViewsDataset(base, build_train_transform(16, "small", MEAN, STD, 2))
    views, label = ds[2]
    assert len(ds) == 5 and label == 2 and len(views) == 3
    ev = ViewsDataset(base, build_eval_transform(16, "small", MEAN, STD))
    x, label = ev[4]
    assert x.shape == (3, 16, 16) and label == 4


def test_bad_arguments():
    with pytest.raises(ValueError, match="recipe"):
        build_train_transform(32, "weird", MEAN, STD)
    with pytest.raises(ValueError, match="num_contrastive_views"):
        build_train_transform(32, "bcl", MEAN, STD, num_contrastive_views=-1)
    with pytest.raises(ValueError, match="image_size"):
        build_eval_transform(0, "bcl", MEAN, STD)


def test_plain_tensors_not_tv_tensor_subclasses():
    out = build_train_transform(16, "small", MEAN, STD, 2)(image(8, 8))
    assert all(type(v) is torch.Tensor and v.is_contiguous() for v in out)


# ---------------------------------------------------------------- recipes (docs/METHOD.md "Views")

import random  # noqa: E402

from torchvision.transforms import v2  # noqa: E402

from ecl.data.views import (  # noqa: E402
    IMAGENET_MEAN,
    IMAGENET_STD,
    RECIPES,
    TorchSeededRandAugment,
    check_recipe,
    eval_resize,
)

CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)
# timm's "rand" op set as the authors use it (written out here, not read from timm)
TIMM_RAND_OPS = ["AutoContrast", "Equalize", "Invert", "Rotate", "Posterize", "Solarize", "SolarizeAdd", "Color",
                 "Contrast", "Brightness", "Sharpness", "ShearX", "ShearY", "TranslateXRel", "TranslateYRel"]


def ops_of(compose):
    return list(compose.transforms)


def first(compose, kind):
    found = [op for op in ops_of(compose) if isinstance(op, kind)]
    return found[0] if found else None


def names(compose):
    return [type(op).__name__ for op in ops_of(compose)]


def test_recipe_names_one_vocabulary():
    assert RECIPES == ("authors", "bcl", "small")
    assert [check_recipe(r) for r in RECIPES] == list(RECIPES)
    for name in ("simclr", "cifar", "imagenet"):  # old dataset style names are not recipes
        with pytest.raises(ValueError, match="recipe"):
            build_train_transform(32, name, MEAN, STD)


@pytest.mark.parametrize("size", [32, 224])
def test_authors_randaugment_is_timm_rand_n2_m10_mstd05(size):
    t = build_train_transform(size, "authors", CIFAR_MEAN, CIFAR_STD)
    ra = first(t.classifier, TorchSeededRandAugment)
    assert ra is not None and ra.config == "rand-n2-m10-mstd0.5"
    assert ra.transform.num_layers == 2 and ra.transform.choice_weights is None
    assert [op.name for op in ra.transform.ops] == TIMM_RAND_OPS
    imagenet_fill = (124, 116, 104)  # round(255 · ImageNet mean), also for CIFAR
    for op in ra.transform.ops:
        assert op.prob == 0.5 and op.magnitude == 10 and op.magnitude_std == 0.5
        assert op.hparams["translate_pct"] == 0.45 and op.kwargs["fillcolor"] == imagenet_fill
    by_name = {op.name: op for op in ra.transform.ops}
    # the op arguments at magnitude 10 (the maximum): rotate ±30°, shear ±0.3, translate ±0.45·S
    for name, top in [("Rotate", 30.0), ("ShearX", 0.3), ("ShearY", 0.3), ("TranslateXRel", 0.45), ("TranslateYRel", 0.45)]:
        op = by_name[name]
        assert abs(op.level_fn(10.0, op.hparams)[0]) == pytest.approx(top)
    # the fill is really used: a rotated white image gets mean-colour corners
    white = Image.new("RGB", (size, size), (255, 255, 255))
    rotated = by_name["Rotate"].aug_fn(white, 30.0, **{**by_name["Rotate"].kwargs, "resample": Image.NEAREST})
    assert rotated.getpixel((0, 0)) == imagenet_fill
    # no torchvision RandAugment left in the authors' views
    assert first(t.classifier, v2.RandAugment) is None


def test_bcl_randaugment_fill_is_the_given_mean_colour():
    t = build_train_transform(32, "bcl", CIFAR_MEAN, CIFAR_STD)
    ra = first(t.classifier, TorchSeededRandAugment)
    fill = tuple(round(255 * m) for m in CIFAR_MEAN)
    assert all(op.kwargs["fillcolor"] == fill for op in ra.transform.ops)
    assert first(build_train_transform(32, "bcl", CIFAR_MEAN, CIFAR_STD, randaugment=False).classifier,
                 TorchSeededRandAugment) is None


@pytest.mark.parametrize("recipe, erased", [("authors", [True, True, True]), ("bcl", [True, False, False]),
                                            ("small", [False, False, False])])
def test_which_views_are_erased_and_where(recipe, erased):
    t = build_train_transform(32, recipe, CIFAR_MEAN, CIFAR_STD, num_contrastive_views=2)
    for view, want in zip([t.classifier, t.contrastive, t.contrastive], erased):
        er = first(view, v2.RandomErasing)
        assert (er is not None) == want
        if want:
            assert er.p == 0.5 and er.value == [3.0] and er.scale == (0.02, 0.33)
            n = names(view)  # to [0,1] → erase → normalise, in that order, at the end
            assert n[-3:] == ["_ToFloat", "RandomErasing", "_Normalize"]


@pytest.mark.parametrize("size", [32, 224])
def test_normalisation_statistics_per_recipe(size):
    for recipe, (m, s) in [("authors", (IMAGENET_MEAN, IMAGENET_STD)), ("bcl", (CIFAR_MEAN, CIFAR_STD)),
                           ("small", (CIFAR_MEAN, CIFAR_STD))]:
        t = build_train_transform(size, recipe, CIFAR_MEAN, CIFAR_STD)
        for view in (t.classifier, t.contrastive):
            norm = ops_of(view)[-1]
            assert norm.mean == pytest.approx(m) and norm.std == pytest.approx(s)
        norm = build_eval_transform(size, recipe, CIFAR_MEAN, CIFAR_STD).transforms[-1]
        assert norm.mean == pytest.approx(m) and norm.std == pytest.approx(s)


def test_crops_and_colour_per_recipe():
    a = build_train_transform(224, "authors", MEAN, STD)
    for view in (a.classifier, a.contrastive):
        rrc = first(view, v2.RandomResizedCrop)
        assert rrc.scale == (0.08, 1.0) and rrc.size == (224, 224)
        assert first(view, v2.RandomHorizontalFlip).p == 0.5
    cj = first(a.classifier, v2.ColorJitter)  # always applied, no hue
    assert cj.brightness == cj.contrast == cj.saturation == (0.6, 1.4) and cj.hue is None
    ra = first(a.contrastive, v2.RandomApply)
    assert ra.p == 0.8 and ra.transforms[0].hue == (-0.1, 0.1) and first(a.contrastive, v2.RandomGrayscale).p == 0.2
    b = build_train_transform(32, "bcl", CIFAR_MEAN, CIFAR_STD)
    for view in (b.classifier, b.contrastive):
        assert first(view, v2.RandomResizedCrop) is None
        crop = first(view, v2.RandomCrop)
        assert crop.size == (32, 32) and list(crop.padding) == [4, 4, 4, 4]
        assert first(view, v2.RandomHorizontalFlip) is not None
    order = names(a.classifier)
    assert order.index("RandomHorizontalFlip") < order.index("ColorJitter") < order.index("TorchSeededRandAugment")


def test_erasing_patch_is_value_3_before_normalising():
    # a mid-grey image cannot reach (3 − mean)/std except inside an erased patch (pixels ≤ 1)
    img = Image.new("RGB", (32, 32), (128, 128, 128))
    t = build_train_transform(32, "authors", CIFAR_MEAN, CIFAR_STD, num_contrastive_views=2)
    target = (3.0 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    torch.manual_seed(0)
    hits = {0: 0, 1: 0}
    draws = 60
    for _ in range(draws):
        for k, v in enumerate(t(img)):
            patch = torch.isclose(v, target.view(3, 1, 1), atol=1e-5).all(dim=0)  # (S,S)
            if not patch.any():
                continue
            hits[min(k, 1)] += 1
            rows, cols = patch.any(dim=1).nonzero(), patch.any(dim=0).nonzero()
            box = patch[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
            assert box.all()  # one filled rectangle
            assert 0.01 * 32 * 32 <= box.numel() <= 0.4 * 32 * 32  # scale 0.02–0.33 (sides rounded to pixels)
            assert (v.max(dim=0).values <= target.max() + 1e-5).all()
    assert 0.3 * draws <= hits[0] <= 0.7 * draws  # p = 0.5 on view 1
    assert 0.3 * 2 * draws <= hits[1] <= 0.7 * 2 * draws  # and on the two contrastive views


def test_bcl_contrastive_views_never_erased():
    img = Image.new("RGB", (32, 32), (128, 128, 128))
    t = build_train_transform(32, "bcl", CIFAR_MEAN, CIFAR_STD, num_contrastive_views=2)
    top = (1.0 - torch.tensor(CIFAR_MEAN)) / torch.tensor(CIFAR_STD)
    torch.manual_seed(0)
    erased_view1 = 0
    for _ in range(30):
        views = t(img)
        erased_view1 += int((views[0] > top.view(3, 1, 1) + 1e-4).any())
        for v in views[1:]:
            assert (v <= top.view(3, 1, 1) + 1e-4).all()
    assert erased_view1 > 0


@pytest.mark.parametrize("recipe", ["authors", "bcl"])
def test_timm_randomness_follows_torch_seed_and_leaves_global_generators(recipe):
    t = build_train_transform(32, recipe, CIFAR_MEAN, CIFAR_STD, num_contrastive_views=0)
    img = image(32, 32, seed=5)
    random.seed(7)
    np.random.seed(7)
    py_before, np_before = random.random(), np.random.rand()
    random.seed(7)
    np.random.seed(7)
    outs = []
    for _ in range(2):
        torch.manual_seed(11)
        outs.append([t(img)[0] for _ in range(5)])
    assert all(torch.equal(x, y) for x, y in zip(*outs))
    assert random.random() == py_before and np.random.rand() == np_before  # untouched by the views


def test_flip_option():
    arr = np.zeros((28, 28, 3), np.uint8)
    arr[:, :10] = 255
    img = Image.fromarray(arr)

    def left_heavy(t):
        torch.manual_seed(0)
        return [bool(v[:, :, :8].mean() >= v[:, :, -8:].mean()) for _ in range(30) for v in t(img)]

    assert not all(left_heavy(build_train_transform(28, "small", (0, 0, 0), (1, 1, 1), 1, flip=True,
                                                    randaugment=False)))
    assert first(build_train_transform(32, "bcl", MEAN, STD, flip=False).classifier, v2.RandomHorizontalFlip) is None
    assert first(build_train_transform(28, "small", MEAN, STD).classifier, v2.RandomHorizontalFlip) is None


@pytest.mark.parametrize("recipe, size, resize", [("authors", 224, 256), ("authors", 64, 73), ("authors", 32, 32),
                                                  ("bcl", 32, 32), ("small", 28, 28)])
def test_eval_resize_and_the_plans_description(recipe, size, resize):
    from types import SimpleNamespace

    from ecl.data.plan import resolve_data_plan

    assert eval_resize(size, recipe) == resize  # 224/0.875 = 256; 64/0.875 = 73.1
    config = SimpleNamespace(data=SimpleNamespace(name="x", recipe=recipe, image_size=size, flip=None, erasing=None,
                                                   randaugment=True))
    plan = resolve_data_plan(config, SimpleNamespace(image_size=size, recipe="bcl", mean=CIFAR_MEAN, std=CIFAR_STD))
    assert (plan.image_size, plan.resize, plan.crop, plan.recipe) == (size, resize, size, recipe)
    assert plan.mode == f"resize_shorter_then_center_crop({resize}→{size})" == plan.as_dict()["mode"]


def test_authors_eval_view_matches_manual_resize_crop_imagenet_normalise():
    img = image(80, 100, seed=2)  # (W=100, H=80)
    x = build_eval_transform(64, "authors", CIFAR_MEAN, CIFAR_STD)(img)
    # shorter side 80 → int(64/0.875) = 73, then the centre 64×64
    ref = torch.from_numpy(np.array(v2.functional.resize(img, [73], antialias=True))).permute(2, 0, 1).float() / 255
    assert ref.shape[1:] == (73, 91)
    top, left = int(round((73 - 64) / 2.0)), int(round((91 - 64) / 2.0))
    ref = ref[:, top:top + 64, left:left + 64]
    ref = (ref - torch.tensor(IMAGENET_MEAN).view(3, 1, 1)) / torch.tensor(IMAGENET_STD).view(3, 1, 1)
    torch.testing.assert_close(x, ref, atol=1e-5, rtol=0)


def test_small_recipe_uses_timms_light_randaugment_like_the_batched_path() -> None:
    """Both paths draw the small recipe's RandAugment from timm's op set: 1 op, magnitude 5, std 0.5."""
    t = build_train_transform(16, "small", (0.5,) * 3, (0.25,) * 3)
    ra = [op for op in t.classifier.transforms if isinstance(op, TorchSeededRandAugment)]
    assert len(ra) == 1 and ra[0].config == "rand-n1-m5-mstd0.5"
    assert not [op for op in t.classifier.transforms if isinstance(op, v2.RandAugment)]
    ops = ra[0].transform.ops
    assert ra[0].transform.num_layers == 1
    assert {op.magnitude for op in ops} == {5} and {op.magnitude_std for op in ops} == {0.5}
    from ecl.data.batched.recipes import recipe_specs

    classifier, _ = recipe_specs("small")
    spec = classifier.randaugment
    assert (spec.num_ops, spec.magnitude, spec.magnitude_std) == (ra[0].transform.num_layers, 5, 0.5)


def test_erasing_false_drops_erasing_from_every_view():
    # data.erasing=false (the ImageNet-LT protocols): no value-3 patch in any view, any recipe
    img = Image.new("RGB", (32, 32), (128, 128, 128))
    for recipe, (m, s) in [("authors", (IMAGENET_MEAN, IMAGENET_STD)), ("bcl", (CIFAR_MEAN, CIFAR_STD))]:
        t = build_train_transform(32, recipe, CIFAR_MEAN, CIFAR_STD, num_contrastive_views=2, erasing=False)
        assert all(first(view, v2.RandomErasing) is None for view in (t.classifier, t.contrastive))
        top = (1.0 - torch.tensor(m)) / torch.tensor(s)  # the largest value of a pixel ≤ 1
        torch.manual_seed(0)
        for _ in range(30):
            for v in t(img):
                assert (v <= top.view(3, 1, 1) + 1e-4).all(), recipe
        kept = build_train_transform(32, recipe, CIFAR_MEAN, CIFAR_STD, num_contrastive_views=2, erasing=True)
        assert first(kept.classifier, v2.RandomErasing) is not None  # True keeps the recipe's erasing
