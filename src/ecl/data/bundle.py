"""`DataBundle` (what every reader returns), split export, summary and its text table."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from ecl.atomic import atomic_write_text

__all__ = ["DataBundle", "export_split", "summarize", "format_summary", "shot_groups"]


@dataclass
class DataBundle:
    """Train/test(/val) datasets of (PIL RGB image, int label) and everything known about them."""

    train: Dataset
    test: Dataset
    val: Dataset | None
    classes: list[str]
    train_counts: list[int]
    test_counts: list[int]
    val_counts: list[int] | None
    image_size: int  # the size views are produced at
    style: str  # "small" | "cifar" | "imagenet"
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    split_record: dict = field(default_factory=dict)  # JSON-serialisable
    notes: list[str] = field(default_factory=list)

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def export_split(bundle: DataBundle, path: str | Path) -> Path:
    """Write `bundle.split_record` as JSON to `path` atomically (temp file + rename)."""
    path = Path(path)
    atomic_write_text(path, json.dumps(bundle.split_record, indent=1, sort_keys=False) + "\n")
    return path


def shot_groups(counts: list[int], many_threshold: int = 100, few_threshold: int = 20) -> dict[str, int]:
    """Number of classes with > many, few..many, < few training images."""
    many = sum(1 for n in counts if n > many_threshold)
    few = sum(1 for n in counts if n < few_threshold)
    return {"many": many, "medium": len(counts) - many - few, "few": few}


def summarize(bundle: DataBundle, many_threshold: int = 100, few_threshold: int = 20) -> dict[str, Any]:
    """A JSON-serialisable description of the splits, counts and shot groups."""
    record = bundle.split_record or {}
    train: dict[str, Any] = {"size": sum(bundle.train_counts), "counts": list(bundle.train_counts)}
    indices = record.get("indices", {})
    if "train" in indices:
        train["indices"] = list(indices["train"])
    nonzero = [n for n in bundle.train_counts if n > 0]
    summary: dict[str, Any] = {
        "dataset": record.get("dataset", ""),
        "classes": list(bundle.classes),
        "train": train,
        "test": {"size": sum(bundle.test_counts), "counts": list(bundle.test_counts)},
    }
    if bundle.val_counts is not None:
        summary["val"] = {"size": sum(bundle.val_counts), "counts": list(bundle.val_counts)}
    summary["imbalance_ratio"] = (max(nonzero) / min(nonzero)) if nonzero else 0.0
    summary["shot_groups"] = shot_groups(list(bundle.train_counts), many_threshold, few_threshold)
    summary["image_size"] = bundle.image_size
    summary["style"] = bundle.style
    summary["notes"] = list(bundle.notes)
    return summary


def format_summary(summary: dict[str, Any]) -> str:
    """A readable table: one row per class with train/test(/val) counts, then totals and notes."""
    classes = summary["classes"]
    has_val = "val" in summary
    name_w = max([len("class")] + [len(str(c)) for c in classes])
    name_w = min(name_w, 40)
    header = f"{'#':>5}  {'class':<{name_w}}  {'train':>8}  {'test':>8}" + (f"  {'val':>8}" if has_val else "")
    lines = [
        f"dataset: {summary.get('dataset', '')}  ({len(classes)} classes"
        + (f", {summary['image_size']} px, {summary['style']} views)" if "image_size" in summary else ")"),
        header,
        "-" * len(header),
    ]
    for i, name in enumerate(classes):
        row = f"{i:>5}  {str(name)[:name_w]:<{name_w}}  {summary['train']['counts'][i]:>8}  {summary['test']['counts'][i]:>8}"
        if has_val:
            row += f"  {summary['val']['counts'][i]:>8}"
        lines.append(row)
    lines.append("-" * len(header))
    total = f"{'':>5}  {'total':<{name_w}}  {summary['train']['size']:>8}  {summary['test']['size']:>8}"
    if has_val:
        total += f"  {summary['val']['size']:>8}"
    lines.append(total)
    groups = summary["shot_groups"]
    lines.append(
        f"imbalance ratio (max/min train): {summary['imbalance_ratio']:.2f}   "
        f"shot groups: many {groups['many']}, medium {groups['medium']}, few {groups['few']}"
    )
    for note in summary.get("notes", []):
        lines.append(f"note: {note}")
    return "\n".join(lines)
