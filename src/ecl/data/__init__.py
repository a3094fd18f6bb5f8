"""Data: long-tail profiles, dataset readers, view transforms and the embedded demo data.

    from ecl.data import build_datasets, ViewsDataset
    from ecl.data.plan import resolve_data_plan
    bundle = build_datasets(cfg.data)          # validated DataBundle of (PIL RGB, label) items
    plan = resolve_data_plan(cfg, bundle)      # image size, recipe, views, eval view: decided once
    train = ViewsDataset(bundle.train, plan.train_transform(num_contrastive_views=2))
    record = split_record(bundle)              # which source items each split holds (a dict)

Homes: bundle.py (DataBundle, split record), registry.py (DATASETS, build/check), readers/ (one
module per source), profiles.py (long-tail counts and selection), torch_datasets.py (item
stores), images.py (safe decoding), validation.py (where the validation split comes from),
summary.py (data summary), plan.py (the run's DataPlan: the one place that resolves size, recipe,
flip, erasing, data path and storage), views.py / batched/ (view transforms), ragged.py (whole
images in one buffer), encoded.py (the files' bytes, decoded per batch), loading.py (the one loading interface) over tensor_loader.py and pil_loader.py.
"""

from ecl.data.bundle import DataBundle, split_record
from ecl.data.errors import DataError, format_problems
from ecl.data.images import IMAGE_EXTENSIONS, decode_image, load_rgb, to_rgb, verify_image
from ecl.data.profiles import class_counts, long_tail_counts, select_long_tail
from ecl.data.registry import DATASETS, DatasetSpec, build_datasets, check_dataset
from ecl.data.summary import data_summary, format_data_summary
from ecl.data.torch_datasets import ArrayDataset, ImageFileDataset, ViewsDataset
from ecl.data.validation import validation_choices, validation_source
from ecl.data.views import build_eval_transform, build_train_transform

__all__ = [
    "DATASETS",
    "DatasetSpec",
    "DataBundle",
    "DataError",
    "format_problems",
    "ArrayDataset",
    "ImageFileDataset",
    "ViewsDataset",
    "IMAGE_EXTENSIONS",
    "build_datasets",
    "check_dataset",
    "build_train_transform",
    "build_eval_transform",
    "class_counts",
    "long_tail_counts",
    "select_long_tail",
    "split_record",
    "data_summary",
    "format_data_summary",
    "decode_image",
    "load_rgb",
    "to_rgb",
    "verify_image",
    "validation_source",
    "validation_choices",
]
