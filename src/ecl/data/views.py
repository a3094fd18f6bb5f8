"""Per-image training views (one classifier view + V contrastive views) and the evaluation view.

All on `torchvision.transforms.v2` applied to PIL RGB images; timm's RandAugment is run under a
seed drawn from torch's generator, so every random draw follows `torch.manual_seed` (Python's and
NumPy's global generators are left as they were). Output tensors are plain (3,S,S) float32.

Recipes (docs/METHOD.md "Views"), selected by name:

- ``"authors"`` (the authors' ProConDual/ECL `main_cifar.py` recipe, any size):
  view 1: RandomResizedCrop(S, scale 0.08–1) → flip → ColorJitter(0.4,0.4,0.4,0) always →
  timm RandAugment ``rand-n2-m10-mstd0.5`` (each of 2 ops with p 0.5, magnitude 10 ± 0.5;
  hparams translate_pct 0.45, translate_const int(0.45·S), img_mean = the mean colour as uint8)
  → to [0,1] → RandomErasing(p 0.5, value 3) → normalise;
  views 2..: RandomResizedCrop(S, scale 0.08–1) → flip → ColorJitter(0.4,0.4,0.4,0.1) with p 0.8
  → RandomGrayscale(0.2) → to [0,1] → RandomErasing(p 0.5, value 3) → normalise.
  Normalisation always uses the ImageNet mean/std (the authors do so for CIFAR too): the mean/std
  passed by the caller are the dataset's and are replaced (see :func:`recipe_statistics`).
- ``"bcl"`` (BCL's CIFAR protocol at 32 px). Our reading of BCL's protocol (docs/METHOD.md:
  RandomCrop(32, pad 4) + flip for the crop, no erasing on the contrastive views, and CIFAR
  mean/std): every view
  replaces RandomResizedCrop by fit-to-S → RandomCrop(S, padding S/8 (4 at 32 px)) → flip;
  view 1 is otherwise the authors' view 1 (RandAugment fill = the mean colour of the given mean,
  erasing p 0.5 value 3 before normalising); the contrastive views are the authors' contrastive
  views without erasing. Normalisation uses the caller's mean/std (CIFAR's for CIFAR).
- ``"small"`` (8–28 px digits/clothes): upsample to S first, then mild geometry: view 1 =
  RandomAffine(10°, translate 0.1, scale 0.9–1.1) → [flip] → ColorJitter(0.3,0.3) →
  timm RandAugment ``rand-n1-m5-mstd0.5`` (as the batched path); views 2..: RandomResizedCrop(S,
  0.5–1, ratio 0.8–1.25) → RandomAffine(10°) →
  [flip] → ColorJitter(0.4,0.4,0.4,0.1) p 0.8 → RandomGrayscale(0.2). No erasing. Flip is off by
  default (digits are not mirror-symmetric); ``flip=True`` for clothes. Caller's mean/std.

``erasing=False`` drops RandomErasing from every view of any recipe (the ImageNet-LT protocols:
neither the authors' ``main_imagenet.py`` nor BCL's ``main.py`` erase).

Evaluation (:func:`eval_resize`, :func:`eval_transform`): recipe "authors" at S ≥ 64 resizes the
shorter side to int(S/0.875) and centre-crops S (256 → 224); otherwise the image is fitted to S
(shorter side to S, centre crop; a no-op at S×S). Which recipe a run uses, and whether it erases,
is decided once, by :func:`ecl.data.plan.resolve_data_plan`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from timm.data.auto_augment import rand_augment_transform
from torch import Tensor
from torchvision.transforms import v2

__all__ = [
    "RECIPES",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "AUTHORS_RANDAUGMENT",
    "ERASING_VALUE",
    "TorchSeededRandAugment",
    "MultiViewTransform",
    "check_recipe",
    "recipe_statistics",
    "eval_resize",
    "eval_transform",
    "build_train_transform",
    "build_eval_transform",
]

RECIPES = ("authors", "bcl", "small")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
AUTHORS_RANDAUGMENT = "rand-n2-m10-mstd0.5"
SMALL_RANDAUGMENT = "rand-n1-m5-mstd0.5"  # the small recipe's light RandAugment (timm's op set, as batched)
ERASING_VALUE = 3.0  # in [0,1] pixel units, before normalising: a bright patch
_EVAL_CROP_RATIO = 0.875  # 224 / 256
_EVAL_CROP_MIN_SIZE = 64  # below this, the authors' recipe evaluates the image fitted to S


def check_recipe(name: str) -> str:
    """`name` when it is a recipe of RECIPES; ValueError naming them otherwise (the dataset's default
    is resolved once, by :func:`ecl.data.plan.resolve_data_plan`)."""
    if name not in RECIPES:
        raise ValueError(f"recipe: must be one of {', '.join(RECIPES)}, got {name!r}")
    return name


def _check_stats(mean: Sequence[float], std: Sequence[float]) -> None:
    if len(mean) != 3 or len(std) != 3 or any(float(s) <= 0 for s in std):
        raise ValueError(f"mean/std: expected 3 values each (std > 0), got {mean!r}, {std!r}")


def _check_size(image_size: int) -> int:
    if isinstance(image_size, bool) or int(image_size) < 1:
        raise ValueError(f"image_size: must be ≥ 1, got {image_size!r}")
    return int(image_size)


def recipe_statistics(
    recipe: str, mean: Sequence[float], std: Sequence[float]
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The (mean, std) a recipe normalises with: ImageNet's for "authors", else the given ones."""
    _check_stats(mean, std)
    if check_recipe(recipe) == "authors":
        return IMAGENET_MEAN, IMAGENET_STD
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)


def eval_resize(image_size: int, recipe: str) -> int:
    """The eval view's shorter side before the centre crop S: int(S/0.875) for "authors" at S ≥ 64
    (256 → 224), else S (the image fitted to S)."""
    size = _check_size(image_size)
    return int(size / _EVAL_CROP_RATIO) if (check_recipe(recipe) == "authors" and size >= _EVAL_CROP_MIN_SIZE) else size


def eval_transform(size: int, resize: int, mean: Sequence[float], std: Sequence[float]) -> Callable[[Image.Image], Tensor]:
    """PIL image → one (3,S,S) float32 normalised centre view: shorter side → `resize`, centre crop
    `size` (`resize == size`: fit to S, a no-op for S×S inputs), normalise with `mean`/`std` as given."""
    if resize == size:
        ops: list = [_FitSquare(size)]
    else:
        ops = [_ToRGB(), v2.Resize(resize, antialias=True), v2.CenterCrop(size)]
    return v2.Compose(ops + [_ToNormalizedTensor(mean, std)])


class _ToRGB:
    """PIL image of any mode → RGB (identity for RGB and for tensors)."""

    def __call__(self, img):
        if isinstance(img, Image.Image) and img.mode != "RGB":
            return img.convert("RGB")
        return img

    def __repr__(self) -> str:
        return "ToRGB()"


class _FitSquare:
    """Resize the shorter side to `size` and centre-crop to size×size; identity when already so."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._ops = v2.Compose([v2.Resize(size, antialias=True), v2.CenterCrop(size)])

    def __call__(self, img: Image.Image) -> Image.Image:
        img = _ToRGB()(img)
        if isinstance(img, Image.Image) and img.size == (self.size, self.size):
            return img
        return self._ops(img)

    def __repr__(self) -> str:
        return f"FitSquare(size={self.size})"


def _pil_to_float(img: Image.Image | Tensor) -> Tensor:
    """PIL RGB (H,W,3) uint8 or a (3,H,W) tensor → float32 (3,H,W) in [0,1], a fresh tensor."""
    if isinstance(img, Image.Image):
        if img.mode != "RGB":
            img = img.convert("RGB")
        return torch.from_numpy(np.array(img, dtype=np.float32)).permute(2, 0, 1).div_(255.0).contiguous()
    return v2.functional.to_dtype(torch.as_tensor(img), torch.float32, scale=True).clone()


class _ToFloat:
    """PIL RGB → float32 (3,H,W) in [0,1] (no normalisation; erasing comes next)."""

    def __call__(self, img: Image.Image | Tensor) -> Tensor:
        return _pil_to_float(img)

    def __repr__(self) -> str:
        return "ToFloat01()"


class _Normalize:
    """(3,H,W) float → (x − mean)/std per channel; `mean`, `std` kept as tuples for read-back."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        self.mean = tuple(float(v) for v in mean)
        self.std = tuple(float(v) for v in std)
        self._m = torch.tensor(self.mean, dtype=torch.float32).view(3, 1, 1)
        self._s = torch.tensor(self.std, dtype=torch.float32).view(3, 1, 1)

    def __call__(self, x: Tensor) -> Tensor:
        return (x.as_subclass(torch.Tensor) - self._m).div_(self._s).contiguous()

    def __repr__(self) -> str:
        return f"Normalize(mean={list(self.mean)}, std={list(self.std)})"


class _ToNormalizedTensor(_Normalize):
    """PIL RGB → float32 (3,H,W): (x/255 − mean)/std in one step (cheap for tiny images)."""

    def __call__(self, img: Image.Image | Tensor) -> Tensor:  # type: ignore[override]
        return _pil_to_float(img).sub_(self._m).div_(self._s).contiguous()

    def __repr__(self) -> str:
        return f"ToNormalizedTensor(mean={list(self.mean)}, std={list(self.std)})"


class TorchSeededRandAugment:
    """timm's ``rand_augment_transform(config, hparams)`` with its randomness taken from torch.

    timm draws from Python's `random` and NumPy's global generators; each call seeds both from one
    draw of torch's global generator and restores their previous states afterwards. `transform`
    is timm's RandAugment object (its `ops`, `num_layers` and each op's `prob`, `magnitude`,
    `magnitude_std`, `hparams`, `kwargs["fillcolor"]` can be read back).
    """

    def __init__(self, config: str, hparams: dict) -> None:
        self.config = config
        self.hparams = dict(hparams)
        self.transform = rand_augment_transform(config, dict(hparams))

    def __call__(self, img: Image.Image) -> Image.Image:
        seed = int(torch.randint(0, 2**31 - 1, (1,)).item())
        py_state, np_state = random.getstate(), np.random.get_state()
        random.seed(seed)
        np.random.seed(seed)
        try:
            return self.transform(img)
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)

    def __repr__(self) -> str:
        return f"TorchSeededRandAugment({self.config!r}, hparams={self.hparams!r})"


def _randaugment_hparams(size: int, mean: Sequence[float]) -> dict:
    """timm hparams: translate 0.45 (relative ops; absolute const 0.45·S), fill = mean colour (uint8)."""
    return {
        "translate_pct": 0.45,
        "translate_const": int(size * 0.45),
        "img_mean": tuple(min(255, round(255 * float(m))) for m in mean),
    }


def _crop_ops(size: int, recipe: str, flip: bool) -> list:
    """The crop + flip that start every view of "authors" (RRC 0.08–1) and "bcl" (pad-4 crop)."""
    if recipe == "authors":
        ops: list = [_ToRGB(), v2.RandomResizedCrop(size, scale=(0.08, 1.0), antialias=True)]
    else:
        ops = [_FitSquare(size), v2.RandomCrop(size, padding=max(1, size // 8))]
    return ops + ([v2.RandomHorizontalFlip()] if flip else [])


def _erasing() -> v2.RandomErasing:
    return v2.RandomErasing(p=0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=ERASING_VALUE)


def _classifier_view(size: int, recipe: str, mean, std, flip: bool, randaugment: bool,
                     erasing: bool = True) -> v2.Compose:
    """View 1 of `recipe`: PIL → (3,S,S) float32 (mean/std already the recipe's)."""
    if recipe == "small":
        # Upsample first, then mild geometry: crops of an 8x8 digit destroy it (measured: CE on
        # digits-lt fell from ~95% to ~65% test accuracy with crop + erasing).
        ops: list = [_FitSquare(size), v2.RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1))]
        ops += [v2.RandomHorizontalFlip()] if flip else []
        ops.append(v2.ColorJitter(brightness=0.3, contrast=0.3))
        ops += [TorchSeededRandAugment(SMALL_RANDAUGMENT, _randaugment_hparams(size, mean))] if randaugment else []
        return v2.Compose(ops + [_ToNormalizedTensor(mean, std)])
    ops = _crop_ops(size, recipe, flip) + [v2.ColorJitter(0.4, 0.4, 0.4, 0.0)]
    if randaugment:
        ops.append(TorchSeededRandAugment(AUTHORS_RANDAUGMENT, _randaugment_hparams(size, mean)))
    return v2.Compose(ops + [_ToFloat()] + ([_erasing()] if erasing else []) + [_Normalize(mean, std)])


def _contrastive_view(size: int, recipe: str, mean, std, flip: bool, erasing: bool = True) -> v2.Compose:
    """Views 2.. of `recipe` (SimCLR-style colour): PIL → (3,S,S) float32."""
    colour = [v2.RandomApply([v2.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8), v2.RandomGrayscale(p=0.2)]
    if recipe == "small":
        ops: list = [
            _ToRGB(),
            v2.RandomResizedCrop(size, scale=(0.5, 1.0), ratio=(0.8, 1.25), antialias=True),
            v2.RandomAffine(degrees=10),
        ]
        ops += [v2.RandomHorizontalFlip()] if flip else []
        return v2.Compose(ops + colour + [_ToNormalizedTensor(mean, std)])
    ops = _crop_ops(size, recipe, flip) + colour + [_ToFloat()]
    if recipe == "authors" and erasing:
        ops.append(_erasing())
    return v2.Compose(ops + [_Normalize(mean, std)])


class MultiViewTransform:
    """PIL image → [classifier view, contrastive view 1..V], each (3,S,S) float32."""

    def __init__(self, classifier: Callable, contrastive: Callable | None, num_contrastive_views: int) -> None:
        self.classifier = classifier
        self.contrastive = contrastive
        self.num_contrastive_views = num_contrastive_views

    def __call__(self, img: Image.Image) -> list[Tensor]:
        views = [self.classifier(img)]
        for _ in range(self.num_contrastive_views):
            views.append(self.contrastive(img))  # type: ignore[misc]
        return views

    def __repr__(self) -> str:
        return (
            f"MultiViewTransform(classifier={self.classifier!r}, contrastive={self.contrastive!r}, "
            f"num_contrastive_views={self.num_contrastive_views})"
        )


def build_train_transform(
    image_size: int,
    recipe: str,
    mean: Sequence[float],
    std: Sequence[float],
    num_contrastive_views: int = 2,
    flip: bool | None = None,
    randaugment: bool = True,
    erasing: bool | None = None,
) -> MultiViewTransform:
    """One call → list of 1 + `num_contrastive_views` tensors (3,S,S): classifier view first.

    `recipe`: "authors" | "bcl" | "small". `mean`/`std`: the dataset's
    (the authors' recipe uses ImageNet's instead; :func:`recipe_statistics`). `flip`: None = the
    recipe's default (on for authors/bcl, off for small). `randaugment`: False drops RandAugment.
    `erasing`: False drops RandomErasing from every view; None/True keep the recipe's (a run
    passes its DataPlan's `erasing`).
    """
    size = _check_size(image_size)
    name = check_recipe(recipe)
    m, s = recipe_statistics(name, mean, std)
    if isinstance(num_contrastive_views, bool) or int(num_contrastive_views) < 0:
        raise ValueError(f"num_contrastive_views: must be ≥ 0, got {num_contrastive_views!r}")
    do_flip = (name != "small") if flip is None else bool(flip)
    erase = erasing is None or bool(erasing)
    classifier = _classifier_view(size, name, m, s, do_flip, bool(randaugment), erase)
    contrastive = _contrastive_view(size, name, m, s, do_flip, erase) if num_contrastive_views else None
    return MultiViewTransform(classifier, contrastive, int(num_contrastive_views))


def build_eval_transform(
    image_size: int, recipe: str, mean: Sequence[float], std: Sequence[float]
) -> Callable[[Image.Image], Tensor]:
    """PIL image → one (3,S,S) float32 centre view of `recipe` (:func:`eval_resize`, :func:`recipe_statistics`)."""
    m, s = recipe_statistics(recipe, mean, std)
    return eval_transform(_check_size(image_size), eval_resize(image_size, recipe), m, s)
