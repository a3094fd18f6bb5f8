"""Data: long-tail profiles, dataset readers, view transforms and the embedded demo data.

    from ecl.data import build_datasets, build_train_transform, ViewsDataset
    bundle = build_datasets(cfg.data)          # validated DataBundle of (PIL RGB, label) items
    train = ViewsDataset(bundle.train, build_train_transform(bundle.image_size, bundle.style,
                                                             bundle.mean, bundle.std))
"""

from ecl.data.bundle import DataBundle, export_split, format_summary, shot_groups, summarize
from ecl.data.datasets import ArrayDataset, ImageFileDataset, ViewsDataset
from ecl.data.errors import DataError
from ecl.data.images import IMAGE_EXTENSIONS, decode_image, load_rgb, to_rgb, verify_image
from ecl.data.profiles import class_counts, long_tail_counts, select_long_tail
from ecl.data.registry import DATASETS, DatasetSpec, build_datasets, check_dataset
from ecl.data.views import build_eval_transform, build_train_transform

__all__ = [
    "DATASETS",
    "DatasetSpec",
    "DataBundle",
    "DataError",
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
    "export_split",
    "summarize",
    "format_summary",
    "shot_groups",
    "decode_image",
    "load_rgb",
    "to_rgb",
    "verify_image",
]
