"""The data plan of a run: every choice about how an image becomes the network's input, resolved
once from the config and the dataset (the idea of timm's ``resolve_data_config``).

`resolve_data_plan(config, bundle, device)` → a frozen :class:`DataPlan`: image size S and why,
view recipe and why, flip, erasing (`data.erasing`, else off for the datasets whose published
protocols never erase — ImageNet-LT: neither the authors' `main_imagenet.py` nor BCL's `main.py` —
and the recipe's otherwise: :func:`resolve_erasing`), RandAugment, the eval view (shorter side → `resize`, centre
crop S), the recipe's mean/std, the data path (tensor | pil) and why, and the side R at which image
files are stored for the tensor path. It is the only place that turns `data.recipe`/`data.flip`
and `data.erasing` nulls (the dataset's default recipe, `DataBundle.recipe`) or `data.pipeline=auto`
into values.
The run writes it once (config.yaml's data section, data.json, every checkpoint, export metadata)
and everything that makes views reads it: both loaders (`ecl.data.loading`), evaluation, `ecl predict` and exports.

A record written by an older ecl (`{"image_size", "style", "mean", "std"}`, no `recipe`) is read
by :meth:`DataPlan.from_dict`, its style mapped to the recipe it stood for.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, replace
from typing import Any

import torch

from ecl.data.ragged import LONG_SIDE_CAP
from ecl.data.torch_datasets import ArrayDataset, ImageFileDataset
from ecl.data.views import build_train_transform, check_recipe, eval_resize, eval_transform, recipe_statistics

__all__ = ["DataPlan", "PipelineError", "PlanError", "PLAN_KEY", "MEMORY_SHARE", "resolve_data_plan",
           "resolve_erasing", "choose_pipeline", "free_memory"]

PLAN_KEY = "preprocess"  # the plan's key in data.json and in export metadata
MEMORY_SHARE = 0.25  # data.pipeline=auto: the tensors may take at most this share of the device's free memory
_ERASING_OFF = ("imagenet-lt",)  # datasets whose published protocols apply no RandomErasing
_STYLE_RECIPE = {"cifar": "bcl", "imagenet": "authors", "small": "small"}  # records of older ecl: view style → recipe


class PipelineError(ValueError):
    """data.pipeline=tensor cannot hold this dataset; the message names the key and the reason."""


class PlanError(ValueError):
    """A stored data plan that cannot be read (the reader names the file)."""


@dataclass(frozen=True)
class DataPlan:
    """How images become the network's input, resolved (see the module docstring).

    `mean`/`std` are what the recipe normalises with (ImageNet's for "authors", else the dataset's).
    Eval view: shorter side → `resize`, centre crop `image_size` (`resize == image_size`: fit to S).
    `stored_size`: the side R of image files in the tensor path's decode cache (the eval resize).
    """

    image_size: int
    recipe: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    resize: int
    flip: bool
    erasing: bool
    randaugment: bool = True
    pipeline: str = "pil"
    stored_size: int = 0
    size_reason: str = ""
    recipe_reason: str = ""
    pipeline_reason: str = ""

    @property
    def crop(self) -> int:
        return self.image_size

    @property
    def draft_size(self) -> int:
        """The side JPEGs may be decoded down to (PIL draft) on either path: the largest side any
        recipe reads, the authors' eval resize S/0.875."""
        return max(self.image_size, int(self.image_size / 0.875))

    @property
    def mode(self) -> str:
        """The eval view in one phrase, e.g. ``resize_shorter_then_center_crop(256→224)``."""
        return f"resize_shorter_then_center_crop({self.resize}→{self.image_size})"

    def eval_transform(self):
        """PIL image → (3,S,S) float32 eval view."""
        return eval_transform(self.image_size, self.resize, self.mean, self.std)

    def train_transform(self, num_contrastive_views: int):
        """PIL image → [classifier view, contrastive views…], each (3,S,S) float32."""
        return build_train_transform(self.image_size, self.recipe, self.mean, self.std,
                                     num_contrastive_views=num_contrastive_views, flip=self.flip,
                                     randaugment=self.randaugment, erasing=self.erasing)

    def batched_views(self, num_contrastive_views: int):
        """The tensor path's BatchedViews of this plan; its eval view is a plain normalisation (the
        eval tensors are already resized and cropped)."""
        from ecl.data.batched_views import BatchedViews

        views = BatchedViews(self.recipe, self.image_size, self.mean, self.std,
                             num_contrastive_views=num_contrastive_views, flip=self.flip, erasing=self.erasing)
        if not self.randaugment:
            views.classifier_spec = replace(views.classifier_spec, randaugment=None)
        return views

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: every field, plus `crop` and `mode` (what export metadata readers look for)."""
        out = asdict(self)
        out.update(mean=list(self.mean), std=list(self.std), crop=self.crop, mode=self.mode)
        return out

    @classmethod
    def from_dict(cls, raw: Any) -> "DataPlan":
        """From `as_dict`'s output or an older record ({"image_size", "style", "mean", "std"}); PlanError otherwise."""
        try:
            size = raw["image_size"]
            if isinstance(size, bool) or int(size) != size or int(size) < 1:
                raise ValueError(f"image_size {size!r}")
            mean, std = tuple(float(v) for v in raw["mean"]), tuple(float(v) for v in raw["std"])
            if len(mean) != 3 or len(std) != 3:
                raise ValueError("mean and std need 3 values")
            recipe = check_recipe(str(raw.get("recipe") or _STYLE_RECIPE.get(str(raw.get("style")), raw.get("style"))))
            size = int(size)
            return cls(size, recipe, mean, std, int(raw.get("resize") or eval_resize(size, recipe)),  # type: ignore[arg-type]
                       flip=bool(raw.get("flip", recipe != "small")), erasing=bool(raw.get("erasing", recipe != "small")),
                       randaugment=bool(raw.get("randaugment", True)), pipeline=str(raw.get("pipeline", "pil")),
                       stored_size=int(raw.get("stored_size") or 0), size_reason=str(raw.get("size_reason", "")),
                       recipe_reason=str(raw.get("recipe_reason", "")),
                       pipeline_reason=str(raw.get("pipeline_reason", "")))
        except (KeyError, TypeError, ValueError) as exc:
            raise PlanError(f"bad preprocessing metadata ({type(exc).__name__}: {exc})") from None


def _resolve_recipe(config: Any, bundle: Any) -> tuple[str, str]:
    """(recipe, why)."""
    if config.data.recipe is not None:
        return check_recipe(config.data.recipe), "data.recipe"
    return check_recipe(bundle.recipe), f"the dataset's default for {int(bundle.image_size)} px images"


def resolve_erasing(requested: bool | None, dataset: str, recipe: str | None) -> bool | None:
    """RandomErasing in the views: `data.erasing` when set, off for a dataset in `_ERASING_OFF`,
    else the recipe's (every recipe but `small` erases); None while the recipe is not known."""
    if requested is not None:
        return bool(requested)
    if dataset in _ERASING_OFF:
        return False
    return None if recipe is None else recipe != "small"


def _size_reason(config: Any, bundle: Any) -> str:
    if config.data.image_size is not None:
        return "data.image_size"
    return getattr(bundle, "size_reason", "") or f"the default of {config.data.name}"


def resolve_data_plan(config: Any, bundle: Any, device: torch.device | None = None) -> DataPlan:
    """The run's plan from its config (`data` section) and DataBundle; `device`: the training device
    (None: the data path is left to the per-image loader, as for `ecl predict`/`evaluate` of files)."""
    size = int(bundle.image_size)
    recipe, recipe_reason = _resolve_recipe(config, bundle)
    mean, std = recipe_statistics(recipe, bundle.mean, bundle.std)
    flip = config.data.flip if config.data.flip is not None else recipe != "small"
    resize = eval_resize(size, recipe)
    erasing = resolve_erasing(config.data.erasing, config.data.name, recipe)
    plan = DataPlan(size, recipe, mean, std, resize, flip=bool(flip), erasing=bool(erasing),  # type: ignore[arg-type]
                    randaugment=bool(config.data.randaugment), stored_size=resize,
                    size_reason=_size_reason(config, bundle), recipe_reason=recipe_reason,
                    pipeline_reason="no training device: per image")
    if device is None:
        return plan
    pipeline, why = choose_pipeline(config.data.pipeline, plan, bundle, device)
    return replace(plan, pipeline=pipeline, pipeline_reason=why)


def _split_bytes(dataset: Any, stored: int, size: int, train: bool) -> int | None:
    """uint8 bytes of one split on the tensor path; None when the dataset kind cannot be held.

    Image files for training: the bound 3·R·(cap·R) per image (whole images, `data.ragged`)."""
    if isinstance(dataset, ArrayDataset):
        return dataset.nbytes_uint8 if train else len(dataset) * 3 * size * size
    if isinstance(dataset, ImageFileDataset):
        return len(dataset) * 3 * (int(stored * stored * LONG_SIDE_CAP) if train else size * size)
    return None


def free_memory(device: torch.device) -> int:
    """Free bytes of the device: torch.cuda.mem_get_info on CUDA, MemAvailable (RAM) otherwise."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def choose_pipeline(requested: str, plan: DataPlan, bundle: Any, device: torch.device) -> tuple[str, str]:
    """("tensor" | "pil", one-line reason) for `data.pipeline` = `requested` on this bundle and device:
    auto picks tensor when every split's uint8 tensor fits MEMORY_SHARE of the device's free memory."""
    size, stored = plan.image_size, plan.stored_size
    splits = [(bundle.train, True), (bundle.test, False)] + ([(bundle.val, False)] if bundle.val is not None else [])
    sizes = [_split_bytes(ds, stored, size, train) for ds, train in splits]
    if requested == "pil":
        return "pil", "data.pipeline=pil"
    if any(s is None for s in sizes):
        kind = type(bundle.train).__name__
        if requested == "tensor":
            raise PipelineError(f"data.pipeline=tensor: cannot hold a {kind} as one tensor; use data.pipeline=pil")
        return "pil", f"data.pipeline=auto: {kind} items cannot be held as one tensor"
    need, free = sum(sizes), free_memory(device)  # type: ignore[arg-type]
    where = f"{need / 2**20:.1f} MiB of uint8 images, {free / 2**30:.1f} GiB free on {device.type}"
    if requested == "tensor":
        return "tensor", f"data.pipeline=tensor ({where})"
    if need <= MEMORY_SHARE * free:
        return "tensor", f"data.pipeline=auto → tensor: {where} (≤ {MEMORY_SHARE:.0%})"
    return "pil", f"data.pipeline=auto → pil: {where} (> {MEMORY_SHARE:.0%})"

