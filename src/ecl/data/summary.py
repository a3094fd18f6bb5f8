"""`data_summary` (a JSON description of a bundle: splits, counts, indices, shot groups) and its text table.

Shot groups have one meaning in ecl: `ecl.evaluation.metrics.shot_groups`, the class indices with
> many_threshold (many), < few_threshold (few) and the rest (medium) training images.
"""

from __future__ import annotations

from typing import Any

from ecl.data.bundle import DataBundle
from ecl.evaluation.metrics import shot_groups

__all__ = ["data_summary", "format_data_summary"]


def data_summary(bundle: DataBundle, many_threshold: int = 100, few_threshold: int = 20,
                 plan: Any = None) -> dict[str, Any]:
    """A JSON-serialisable description of the splits, counts, selected indices and shot groups.

    `plan`: the DataPlan a run on this data would use (image size and recipe, with their reasons);
    None: the bundle's image size only.

    `train` / `test` / `val` hold `size`, `counts` (per class) and, where the split record lists
    them, `indices` into the source; `val` is None when the bundle has no validation split;
    `shot_groups` maps many/medium/few to class indices.
    """
    record = bundle.split_record or {}
    indices = record.get("indices", {})

    def split(counts: list[int] | None, name: str) -> dict[str, Any] | None:
        if counts is None:
            return None
        out: dict[str, Any] = {"size": int(sum(counts)), "counts": [int(n) for n in counts]}
        if name in indices:
            out["indices"] = [int(i) for i in indices[name]]
        return out

    nonzero = [n for n in bundle.train_counts if n > 0]
    return {
        "dataset": record.get("dataset", ""),
        "classes": list(bundle.classes),
        "train": split(list(bundle.train_counts), "train"),
        "test": split(list(bundle.test_counts), "test"),
        "val": split(bundle.val_counts, "val"),
        "imbalance_ratio": (max(nonzero) / min(nonzero)) if nonzero else 0.0,
        "shot_groups": shot_groups(list(bundle.train_counts), many_threshold, few_threshold),
        "image_size": bundle.image_size,
        **({"recipe": plan.recipe, "recipe_reason": plan.recipe_reason, "size_reason": plan.size_reason}
           if plan is not None else {}),
        "notes": list(bundle.notes),
    }


def format_data_summary(summary: dict[str, Any]) -> str:
    """A readable table: one row per class with train/test(/val) counts, then totals and notes."""
    classes = summary["classes"]
    has_val = summary.get("val") is not None
    name_w = min(max([len("class")] + [len(str(c)) for c in classes]), 40)
    header = f"{'#':>5}  {'class':<{name_w}}  {'train':>8}  {'test':>8}" + (f"  {'val':>8}" if has_val else "")
    lines = [
        f"dataset: {summary.get('dataset', '')}  ({len(classes)} classes"
        + (f", {summary['image_size']} px" if "image_size" in summary else "")
        + (f", recipe {summary['recipe']} ({summary['recipe_reason']}))" if "recipe" in summary else ")"),
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
        f"imbalance ratio (max/min train): {summary['imbalance_ratio']:.2f}   shot groups (classes): "
        f"many {len(groups['many'])}, medium {len(groups['medium'])}, few {len(groups['few'])}"
    )
    lines += [f"note: {note}" for note in summary.get("notes", [])]
    return "\n".join(lines)
