"""The data plan of a run: every choice about how an image becomes the network's input, resolved
once from the config and the dataset (the idea of timm's ``resolve_data_config``).

`resolve_data_plan(config, bundle, device)` → a frozen :class:`DataPlan`: image size S and why,
view recipe and why, flip, erasing (`data.erasing`, else off for the datasets whose published
protocols never erase — ImageNet-LT: neither the authors' `main_imagenet.py` nor BCL's `main.py` —
and the recipe's otherwise: :func:`resolve_erasing`), RandAugment, the eval view (shorter side → `resize`, centre
crop S), the recipe's mean/std, the data path (tensor | pil) and why, the tensor path's storage
(pixels | encoded, :func:`decide_data_path`) and why, and the side R at which image files are
stored for the tensor path. It is the only place that turns `data.recipe`/`data.flip` and
`data.erasing` nulls (the dataset's default recipe, `DataBundle.recipe`) or `data.pipeline=auto`
and `data.storage=auto` into values.
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

__all__ = ["DataPlan", "DataPath", "PipelineError", "PlanError", "PLAN_KEY", "MEMORY_SHARE", "PER_IMAGE",
           "resolve_data_plan", "resolve_erasing", "protocol_family", "choose_data_path", "decide_data_path", "free_memory"]

PLAN_KEY = "preprocess"  # the plan's key in data.json and in export metadata
PER_IMAGE = "per-image"  # DataPlan.storage on the pil path (files or arrays read image by image)
MEMORY_SHARE = 0.25  # data.pipeline=auto: the tensors may take at most this share of the device's free memory
_FAMILY_OF_DATASET = {"imagenet-lt": "imagenet-lt"}  # every other dataset: "cifar"
_ERASING_OFF = ("imagenet-lt",)  # protocol families whose sources apply no RandomErasing
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
    `storage`: how the tensor path holds the training images — "pixels" (decoded, whole, shorter
    side R: `data.ragged`), "encoded" (the files' bytes, decoded per batch: `data.encoded`) — or
    "per-image" on the pil path; `storage_reason` says why.
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
    storage: str = "per-image"
    storage_reason: str = ""

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
                       pipeline_reason=str(raw.get("pipeline_reason", "")),
                       storage=str(raw.get("storage", PER_IMAGE)), storage_reason=str(raw.get("storage_reason", "")))
        except (KeyError, TypeError, ValueError) as exc:
            raise PlanError(f"bad preprocessing metadata ({type(exc).__name__}: {exc})") from None


def _resolve_recipe(config: Any, bundle: Any) -> tuple[str, str]:
    """(recipe, why)."""
    if config.data.recipe is not None:
        return check_recipe(config.data.recipe), "data.recipe"
    return check_recipe(bundle.recipe), f"the dataset's default for {int(bundle.image_size)} px images"


def protocol_family(dataset: str) -> str:
    """The published protocol family of a dataset: "imagenet-lt" (ImageNet-LT) or "cifar" (every other)."""
    return _FAMILY_OF_DATASET.get(dataset, "cifar")


def resolve_erasing(requested: bool | None, dataset: str, recipe: str | None) -> bool | None:
    """RandomErasing in the views: `data.erasing` when set, off for a family in `_ERASING_OFF`,
    else the recipe's (every recipe but `small` erases); None while the recipe is not known."""
    if requested is not None:
        return bool(requested)
    if protocol_family(dataset) in _ERASING_OFF:
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
    path = choose_data_path(config.data.pipeline, config.data.storage, plan, bundle, device)
    return replace(plan, pipeline=path.pipeline, pipeline_reason=path.pipeline_reason, storage=path.storage,
                   storage_reason=path.storage_reason)


def _split_bytes(dataset: Any, stored: int, size: int, train: bool) -> int | None:
    """uint8 bytes of one split on the tensor path's pixels storage; None when the dataset kind
    cannot be held.

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


@dataclass(frozen=True)
class DataPath:
    """The data path (tensor | pil) and the tensor path's storage (pixels | encoded; `PER_IMAGE`
    on the pil path), each with its one-line reason."""

    pipeline: str
    pipeline_reason: str
    storage: str
    storage_reason: str


def decide_data_path(pipeline: str, storage: str, pixels: int | None, encoded: int | None, free: int,
                     where: str = "") -> DataPath:
    """The rule of `data.pipeline` × `data.storage` on measured sizes (bytes): `pixels` of the decoded
    images on the tensor path (None: the dataset kind cannot be held), `encoded` of the files' bytes
    plus the eval views (None: not image files), `free` memory of the device.

    auto/auto: pixels when they fit MEMORY_SHARE of `free`, else encoded when it fits, else pil.
    An explicit storage takes the tensor path (under data.pipeline=auto too); data.pipeline=tensor
    with storage auto holds the smaller store when neither fits. Refused (PipelineError naming the
    keys): an explicit storage with data.pipeline=pil; encoded on in-memory arrays (no files);
    tensor or an explicit storage on a dataset kind that cannot be held."""
    if pipeline == "pil":
        if storage != "auto":
            raise PipelineError(f"data.storage={storage} is the tensor path's storage but data.pipeline=pil "
                                f"makes views image by image: set data.pipeline=auto or tensor, or data.storage=auto")
        return DataPath("pil", "data.pipeline=pil", PER_IMAGE, "data.pipeline=pil: read image by image")
    if pixels is None:
        if pipeline == "tensor" or storage != "auto":
            raise PipelineError(f"data.pipeline={pipeline} data.storage={storage}: {where}; use data.pipeline=pil")
        return DataPath("pil", f"data.pipeline=auto: {where}", PER_IMAGE, "not image files or arrays")
    if storage == "encoded" and encoded is None:
        raise PipelineError("data.storage=encoded: the dataset is held as in-memory arrays, not image files "
                            "(no bytes to keep); use data.storage=auto or pixels")
    budget = MEMORY_SHARE * free
    if storage != "auto":
        return DataPath("tensor", f"data.storage={storage}: {where}", storage, f"data.storage={storage}, as asked")
    share = f"{MEMORY_SHARE:.0%} of free memory"
    if pixels <= budget:
        return DataPath("tensor", f"data.pipeline={pipeline} → tensor: {where} (≤ {MEMORY_SHARE:.0%})", "pixels",
                        f"data.storage=auto → pixels: the decoded images fit in {share}")
    if encoded is not None and encoded <= budget:
        return DataPath("tensor", f"data.pipeline={pipeline} → tensor: {where} (encoded ≤ {MEMORY_SHARE:.0%})",
                        "encoded", f"data.storage=auto → encoded: the decoded images exceed {share}, the files' bytes fit")
    if pipeline == "tensor":
        kept = "pixels" if encoded is None else "encoded"
        return DataPath("tensor", f"data.pipeline=tensor ({where})", kept,
                        f"data.storage=auto → {kept}: nothing fits in {share}; the smaller store, as data.pipeline=tensor asks")
    return DataPath("pil", f"data.pipeline=auto → pil: {where} (> {MEMORY_SHARE:.0%})", PER_IMAGE,
                    f"data.storage=auto: neither the decoded images nor the files' bytes fit in {share}")


def _encoded_bytes(bundle: Any, size: int, splits: list[tuple[Any, bool]]) -> int | None:
    """Bytes of encoded storage: the training files' bytes + the eval views (S×S uint8); None when
    the training split is not image files."""
    if not isinstance(bundle.train, ImageFileDataset):
        return None
    from ecl.data.encoded import encoded_nbytes

    return encoded_nbytes(bundle.train.paths) + sum(len(ds) * 3 * size * size for ds, train in splits if not train)


def choose_data_path(pipeline: str, storage: str, plan: DataPlan, bundle: Any, device: torch.device) -> DataPath:
    """`decide_data_path` on this bundle and device: the sizes of each storage and the free memory."""
    size, stored = plan.image_size, plan.stored_size
    splits = [(bundle.train, True), (bundle.test, False)] + ([(bundle.val, False)] if bundle.val is not None else [])
    if pipeline == "pil":
        return decide_data_path(pipeline, storage, None, None, 0)
    sizes = [_split_bytes(ds, stored, size, train) for ds, train in splits]
    if any(s is None for s in sizes):
        kind = type(bundle.train).__name__
        return decide_data_path(pipeline, storage, None, None, 0, f"cannot hold a {kind} as one tensor")
    pixels, encoded, free = sum(sizes), _encoded_bytes(bundle, size, splits), free_memory(device)  # type: ignore[arg-type]
    held = "" if encoded is None else f" or {encoded / 2**20:.1f} MiB encoded"
    where = f"{pixels / 2**20:.1f} MiB of uint8 images{held}, {free / 2**30:.1f} GiB free on {device.type}"
    return decide_data_path(pipeline, storage, pixels, encoded, free, where)
