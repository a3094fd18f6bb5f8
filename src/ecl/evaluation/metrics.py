"""Classification metrics for long-tailed evaluation.

Everything is derived from a confusion matrix (rows = true class, columns =
predicted class), so that distributed evaluation can all-reduce the (C, C)
integer matrix and obtain exactly the single-process numbers.

Conventions
-----------
* ``top1``: fraction of evaluation samples whose prediction equals the label.
* ``per_class_accuracy[c]``: recall of class ``c`` (correct / evaluated samples
  of ``c``); ``None`` when the evaluation set holds no sample of ``c``.
* ``balanced_accuracy``: mean per-class recall over the classes *present* in
  the evaluation set (as ``sklearn.metrics.balanced_accuracy_score``).
* ``macro_f1``: unweighted mean of per-class F1 over the classes present in
  the evaluation set, i.e. ``sklearn.metrics.f1_score(y, p, average="macro",
  labels=<present classes>)``. A class that is predicted but never appears in
  the evaluation set is not averaged (its wrong predictions still count as
  misses, i.e. lower the recall, of their true classes). A present class
  with zero true positives has F1 = 0 (sklearn's ``zero_division`` case
  included: precision 0/0 counts as 0).
* Shot groups (long-tail literature, e.g. Liu et al. 2019 OLTR, BCL): by the
  *training* count ``n_c``: ``many`` if ``n_c > many_threshold``, ``medium`` if
  ``few_threshold <= n_c <= many_threshold``, ``few`` if ``n_c <
  few_threshold``. A group's accuracy is the mean of the per-class accuracies
  of its classes that have evaluation samples (not the pooled sample
  accuracy); it is ``None`` when no such class exists — never 0.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

__all__ = [
    "confusion_matrix",
    "metrics_from_confusion",
    "classification_metrics",
    "shot_groups",
]


def _to_numpy(x: Any, name: str) -> np.ndarray:
    """Convert a torch tensor / array-like to a numpy array (no copy when possible)."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch.Tensor without importing torch
        x = x.detach().cpu()
        if x.is_floating_point() and x.element_size() < 4:  # bfloat16 has no numpy dtype
            x = x.float()
        x = x.numpy()
    try:
        arr = np.asarray(x)
    except Exception as exc:  # pragma: no cover - defensive
        raise ValueError(f"{name}: cannot convert to an array ({exc})") from exc
    return arr


def _int_vector(x: Any, name: str) -> np.ndarray:
    arr = _to_numpy(x, name)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {tuple(arr.shape)}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if np.issubdtype(arr.dtype, np.floating) and np.all(np.mod(arr, 1) == 0):
            arr = arr.astype(np.int64)
        elif arr.dtype == bool:
            arr = arr.astype(np.int64)
        else:
            raise ValueError(f"{name} must hold integers, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def _check_range(arr: np.ndarray, name: str, num_classes: int) -> None:
    if arr.size and (arr.min() < 0 or arr.max() >= num_classes):
        bad = arr[(arr < 0) | (arr >= num_classes)][0]
        raise ValueError(f"{name} holds {int(bad)}, outside [0, {num_classes - 1}] (num_classes={num_classes})")


def confusion_matrix(preds: Any, labels: Any, num_classes: int) -> np.ndarray:
    """Confusion matrix, shape (C, C) int64; entry [t, p] counts samples of true class t predicted p.

    ``preds`` and ``labels``: (N,) integer class indices (torch or numpy).
    """
    if int(num_classes) != num_classes or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    num_classes = int(num_classes)
    p = _int_vector(preds, "preds")
    y = _int_vector(labels, "labels")
    if p.shape[0] != y.shape[0]:
        raise ValueError(f"preds has {p.shape[0]} entries but labels has {y.shape[0]}")
    _check_range(p, "preds", num_classes)
    _check_range(y, "labels", num_classes)
    flat = np.bincount(y * num_classes + p, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes).astype(np.int64)


def shot_groups(train_counts: Any, many_threshold: int = 100, few_threshold: int = 20) -> dict[str, list[int]]:
    """Split class indices by training count: many (> many), medium ([few, many]), few (< few)."""
    counts = _to_numpy(train_counts, "train_counts")
    if counts.ndim != 1:
        raise ValueError(f"train_counts must be 1-D, got shape {tuple(counts.shape)}")
    if few_threshold > many_threshold:
        raise ValueError(f"few_threshold ({few_threshold}) must not exceed many_threshold ({many_threshold})")
    groups: dict[str, list[int]] = {"many": [], "medium": [], "few": []}
    for c, n in enumerate(counts.tolist()):
        if n > many_threshold:
            groups["many"].append(c)
        elif n < few_threshold:
            groups["few"].append(c)
        else:
            groups["medium"].append(c)
    return groups


def metrics_from_confusion(
    confusion: Any,
    train_counts: Any,
    many_threshold: int = 100,
    few_threshold: int = 20,
) -> dict[str, Any]:
    """All classification metrics from a (C, C) confusion matrix (rows = true class) and (C,) train counts.

    Returns ``top1``, ``balanced_accuracy``, ``macro_f1``, ``per_class_accuracy``
    (list, ``None`` for classes without evaluation samples), ``many``, ``medium``,
    ``few`` (float or ``None``). See the module docstring for conventions.
    """
    cm = _to_numpy(confusion, "confusion")
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"confusion must be square (C, C), got shape {tuple(cm.shape)}")
    if cm.size and cm.min() < 0:
        raise ValueError("confusion holds negative counts")
    cm = cm.astype(np.float64)
    num_classes = cm.shape[0]
    counts = _to_numpy(train_counts, "train_counts")
    if counts.ndim != 1 or counts.shape[0] != num_classes:
        raise ValueError(
            f"train_counts has shape {tuple(counts.shape)} but confusion is {num_classes}x{num_classes}"
        )

    support = cm.sum(axis=1)  # evaluated samples per true class
    predicted = cm.sum(axis=0)
    tp = np.diag(cm)
    total = cm.sum()
    present = support > 0

    per_class: list[float | None] = [
        float(tp[c] / support[c]) if present[c] else None for c in range(num_classes)
    ]
    top1 = float(tp.sum() / total) if total > 0 else None
    balanced = float(np.mean(tp[present] / support[present])) if present.any() else None

    # F1 = 2TP / (2TP + FP + FN) = 2TP / (support + predicted); 0 when TP = 0.
    denom = support + predicted
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    macro_f1 = float(np.mean(f1[present])) if present.any() else None

    groups = shot_groups(counts, many_threshold, few_threshold)
    out: dict[str, Any] = {
        "top1": top1,
        "balanced_accuracy": balanced,
        "macro_f1": macro_f1,
        "per_class_accuracy": per_class,
    }
    for name, members in groups.items():
        accs = [per_class[c] for c in members if per_class[c] is not None]
        out[name] = float(np.mean(accs)) if accs else None
    return out


def classification_metrics(
    preds: Any,
    labels: Any,
    train_counts: Sequence[int] | Any,
    many_threshold: int = 100,
    few_threshold: int = 20,
    num_classes: int | None = None,
) -> dict[str, Any]:
    """Metrics of (N,) predictions against (N,) labels; ``num_classes`` defaults to ``len(train_counts)``."""
    counts = _to_numpy(train_counts, "train_counts")
    if counts.ndim != 1:
        raise ValueError(f"train_counts must be 1-D, got shape {tuple(counts.shape)}")
    if num_classes is None:
        num_classes = counts.shape[0]
    elif num_classes != counts.shape[0]:
        raise ValueError(f"train_counts has {counts.shape[0]} entries but num_classes={num_classes}")
    cm = confusion_matrix(preds, labels, num_classes)
    return metrics_from_confusion(cm, counts, many_threshold, few_threshold)
