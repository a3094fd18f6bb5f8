"""`DataBundle`: what every reader returns, and its split record (the JSON of which items went where)."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path

from torch.utils.data import Dataset

from ecl.atomic import atomic_write_text

__all__ = ["DataBundle", "split_record"]


@dataclass
class DataBundle:
    """Train/test(/val) datasets of (PIL RGB image, int label) and everything known about them.

    `split_record` is JSON-serialisable: the dataset, its protocol and seeds, and which source
    items (indices or listed files) each split holds; a run folder keeps it as its split file.
    """

    train: Dataset
    test: Dataset
    val: Dataset | None
    classes: list[str]
    train_counts: list[int]
    test_counts: list[int]
    val_counts: list[int] | None
    image_size: int  # the size views are produced at
    recipe: str  # the dataset's default view recipe: "authors" | "bcl" | "small" (data.recipe null)
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    split_record: dict = field(default_factory=dict)  # JSON-serialisable
    notes: list[str] = field(default_factory=list)
    size_reason: str = ""  # why `image_size` when the reader chose it (e.g. measured); "": the dataset's default

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def split_record(bundle: DataBundle) -> dict:
    """A deep copy of the bundle's split record (JSON-serialisable); the caller decides where it goes."""
    return copy.deepcopy(bundle.split_record)
