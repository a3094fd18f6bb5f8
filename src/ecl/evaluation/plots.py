"""PNG figures of an evaluation (matplotlib, Agg canvas; pyplot's global state is never touched).

Every ``plot_*`` function writes one PNG to ``path`` and returns it as a ``Path``; each wraps a
``build_*_figure`` twin that returns the matplotlib ``Figure`` (tests read labels, ticks, legends
and marks from it).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import PowerNorm
from matplotlib.figure import Figure

from .glossary import record_label, shot_group_name
from .metrics import _int_vector, _to_numpy, shot_groups

__all__ = [
    "build_per_class_accuracy_figure",
    "build_confusion_matrix_figure",
    "build_feature_geometry_figure",
    "build_training_curves_figure",
    "calibration_epoch",
    "frequency_order",
    "CALIBRATION_LABEL",
    "GEOMETRY_CAPTION",
    "TRAINING_PANELS",
    "plot_per_class_accuracy",
    "plot_confusion_matrix",
    "plot_feature_geometry",
    "plot_training_curves",
    "make_plots",
]

_DPI = 110
_GROUP_COLOURS = {"few": "#f4cccc", "medium": "#fff2cc", "many": "#d9ead3"}


def _new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=_DPI)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", bbox_inches="tight")
    return path


def _names(class_names: Sequence[str] | None, num_classes: int) -> list[str]:
    if class_names is None:
        return [str(c) for c in range(num_classes)]
    names = [str(n) for n in class_names]
    if len(names) != num_classes:
        raise ValueError(f"class_names has {len(names)} entries, expected {num_classes}")
    return names


def plot_per_class_accuracy(path: str | Path, *args: Any, **kwargs: Any) -> Path:
    """Write :func:`build_per_class_accuracy_figure` (same arguments after ``path``) to ``path`` (PNG)."""
    return _save(build_per_class_accuracy_figure(*args, **kwargs), path)


def build_per_class_accuracy_figure(
    per_class_accuracy: Sequence[float | None],
    train_counts: Any,
    class_names: Sequence[str] | None,
    many_threshold: int = 100,
    few_threshold: int = 20,
) -> Figure:
    """Per-class accuracy against training count (log x), shot groups shaded, group means drawn.

    ``per_class_accuracy``: (C,) fractions, ``None`` for classes without evaluation samples
    (not drawn). ``train_counts``: (C,).
    """
    counts = _to_numpy(train_counts, "train_counts").astype(np.float64)
    num = counts.shape[0]
    if len(per_class_accuracy) != num:
        raise ValueError(f"per_class_accuracy has {len(per_class_accuracy)} entries but train_counts has {num}")
    names = _names(class_names, num)
    order = np.argsort(counts, kind="stable")
    acc = np.array([np.nan if a is None else float(a) for a in per_class_accuracy])
    xs = np.maximum(counts, 1.0)  # log axis: a class with 0 training images is drawn at 1

    fig = _new_figure(8.0, 4.2)
    ax = fig.add_subplot(1, 1, 1)
    ax.set_xscale("log")
    lo, hi = xs.min() / 1.5, xs.max() * 1.5
    # shaded shot-group regions: few < few_threshold <= medium <= many_threshold < many
    bounds = {
        "few": (lo, few_threshold),
        "medium": (few_threshold, many_threshold + 0.5),
        "many": (many_threshold + 0.5, hi),
    }
    groups = shot_groups(counts, many_threshold, few_threshold)
    for name, (a, b) in bounds.items():
        a, b = max(a, lo), min(b, hi)
        if b <= a:
            continue
        members = [c for c in groups[name] if not math.isnan(acc[c])]
        ax.axvspan(a, b, color=_GROUP_COLOURS[name], alpha=0.8, zorder=0, lw=0)
        n = len(groups[name])
        label = f"{shot_group_name(name)}: {n} class{'es' if n != 1 else ''}"
        if members:
            mean = float(np.mean(acc[members]))
            ax.hlines(mean, a, b, colors="0.25", linestyles="--", lw=1.2, zorder=2)
            label += f", mean {100 * mean:.1f}%"
        ax.text(math.sqrt(a * b), 1.06, label, ha="center", va="bottom", fontsize=8)
    ok = order[~np.isnan(acc[order])]
    ax.plot(xs[ok], acc[ok], "-", color="0.6", lw=0.6, zorder=2)
    ax.scatter(xs[ok], acc[ok], s=22 if num <= 50 else 12, color="#1f4e99", zorder=3)
    if num <= 20:
        for c in ok:
            ax.annotate(names[c], (xs[c], acc[c]), textcoords="offset points", xytext=(3, 4), fontsize=7)
    ax.set_xlim(lo, hi)
    ax.set_ylim(-0.03, 1.13)
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.set_yticklabels([f"{int(100 * t)}%" for t in np.linspace(0, 1, 6)])
    ax.set_xlabel("training images of the class (log scale)")
    ax.set_ylabel("per-class accuracy")
    ax.set_title("Per-class accuracy vs. training count (dashed: shot-group mean)", fontsize=10, pad=16)
    ax.grid(True, which="major", axis="y", alpha=0.3)
    return fig


def frequency_order(train_counts: Any, num_classes: int) -> np.ndarray:
    """(C,) class indices sorted by training count, largest first; ties keep index order."""
    counts = _to_numpy(train_counts, "train_counts").astype(np.float64).reshape(-1)
    if counts.shape[0] != num_classes:
        raise ValueError(f"train_counts has {counts.shape[0]} entries, expected {num_classes}")
    return np.argsort(-counts, kind="stable")


def plot_confusion_matrix(path: str | Path, confusion: Any, class_names: Sequence[str] | None,
                          train_counts: Any = None) -> Path:
    """Write :func:`build_confusion_matrix_figure` to ``path`` (PNG)."""
    return _save(build_confusion_matrix_figure(confusion, class_names, train_counts), path)


def build_confusion_matrix_figure(confusion: Any, class_names: Sequence[str] | None,
                                  train_counts: Any = None) -> Figure:
    """Row-normalised (C, C) confusion matrix (rows = true class); cell text only for C <= 20.

    With ``train_counts`` (C,) rows and columns are in frequency order (most training images
    first, ties by class index, see :func:`frequency_order`), so the head sits top-left and the
    tail bottom-right; without, in class-index order. The axis labels say which.
    """
    cm = _to_numpy(confusion, "confusion").astype(np.float64)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"confusion must be square (C, C), got shape {tuple(cm.shape)}")
    num = cm.shape[0]
    names = _names(class_names, num)
    order = np.arange(num) if train_counts is None else frequency_order(train_counts, num)
    cm = cm[np.ix_(order, order)]
    names = [names[c] for c in order]
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)

    side = min(12.0, max(4.5, 0.1 * num + 3.5))
    fig = _new_figure(side + 1.2, side)
    ax = fig.add_subplot(1, 1, 1)
    # square-root colour scale: small confusions stay visible next to the diagonal
    im = ax.imshow(norm, cmap="Blues", norm=PowerNorm(gamma=0.5, vmin=0.0, vmax=1.0), interpolation="nearest")
    cbar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    cbar.set_label("fraction of the true class (square-root scale)")
    step = max(1, math.ceil(num / 25))
    ticks = np.arange(0, num, step)
    fontsize = 8 if num <= 25 else 7
    ax.set_xticks(ticks)
    ax.set_yticks(ticks)
    ax.set_xticklabels([names[t] for t in ticks], rotation=90, fontsize=fontsize)
    ax.set_yticklabels([names[t] for t in ticks], fontsize=fontsize)
    if num <= 20:
        for t in range(num):
            for p in range(num):
                v = norm[t, p]
                if cm[t, p] > 0:
                    ax.text(p, t, f"{v:.2f}", ha="center", va="center", fontsize=7 if num > 10 else 8,
                            color="white" if v > 0.35 else "black")
    how = "by training count, most frequent first" if train_counts is not None else "in class-index order"
    ax.set_xlabel(f"predicted class ({how})")
    ax.set_ylabel(f"true class ({how})")
    title = "Confusion matrix (row-normalised)"
    if step > 1:
        title += f"; every {step}th class labelled"
    ax.set_title(title, fontsize=10)
    return fig


def _select_classes(counts: np.ndarray, present: np.ndarray, num_head: int, num_tail: int) -> tuple[list[int], list[int]]:
    cand = [int(c) for c in np.argsort(-counts, kind="stable") if present[c]]
    head = cand[:num_head]
    rest = [c for c in cand if c not in head]
    tail = rest[::-1][:num_tail][::-1]  # smallest counts, listed from larger to smaller
    return head, tail


def plot_feature_geometry(path: str | Path, *args: Any, **kwargs: Any) -> Path:
    """Write :func:`build_feature_geometry_figure` (same arguments after ``path``) to ``path`` (PNG)."""
    return _save(build_feature_geometry_figure(*args, **kwargs), path)


_HEAD_COLOURS = ["#1f4e99", "#2e8b57", "#6a3d9a", "#17becf", "#4a6fa5", "#7fbc41"]
_TAIL_COLOURS = ["#d62728", "#ff7f0e", "#e377c2", "#8c564b", "#bcbd22", "#b2182b"]
# (legend label, line style, line width, arrow length on the unit circle)
ARROW_KINDS = {
    "mean": ("class mean of the test features (solid arrow)", "-", 2.0, 0.92),
    "weight": ("classifier weight (dashed arrow)", "--", 1.5, 0.78),
    "prototype": ("prototype (dotted arrow)", ":", 1.3, 0.64),
}
GEOMETRY_CAPTION = (
    "Each dot is one test image's feature direction, coloured by its true class (blue/green hues: the "
    "most frequent classes in training; red/orange hues: the rarest; the legend gives each class's shot "
    "group and training images). Arrows from the centre, in the class's colour: solid = mean of its test "
    "features, dashed = its classifier weight, dotted = its prototype. Only directions in the plane of the "
    "shown classes' means are drawn. Well learnt: each class's dots cluster around its arrows, and the "
    "rarest classes' arrows are as far apart as the most frequent ones'."
)


def _group_tally(groups: Sequence[str]) -> str:
    """'3 classes: 1 many-shot, 2 medium-shot' (groups in many → few order, empty ones left out)."""
    parts = [f"{groups.count(g)} {shot_group_name(g)}" for g in ("many", "medium", "few") if g in groups]
    return f"{len(groups)} classes: " + ", ".join(parts)


def _unit(a: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(a, axis=-1, keepdims=True)
    return np.divide(a, n, out=np.zeros_like(a), where=n > 0)


def _arrow(ax: Any, direction: np.ndarray, colour: str, kind: str) -> None:
    _, style, lw, length = ARROW_KINDS[kind]
    ax.annotate("", xy=direction * length, xytext=(0, 0), zorder=3, gid=f"arrow-{kind}",
                arrowprops=dict(arrowstyle="-|>", color=colour, lw=lw, linestyle=style))


def _geometry_legend(fig: Figure, ax: Any, with_prototypes: bool) -> None:
    """Legend entries for the mark kinds (dots, each arrow style) after the per-class entries, and the caption."""
    ax.scatter([], [], s=11, color="0.45", lw=0, label="feature of one test image (dot)")
    for kind, (label, style, lw, _) in ARROW_KINDS.items():
        if kind != "prototype" or with_prototypes:
            ax.plot([], [], color="0.2", lw=lw, ls=style, label=label)
    leg = ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False, markerscale=1.8,
                    title="classes (shot group, training images) and marks", title_fontsize=8)
    for handle in leg.legend_handles:
        if hasattr(handle, "set_alpha"):
            handle.set_alpha(1.0)
    fig.text(0.02, 0.09, GEOMETRY_CAPTION, ha="left", va="top", fontsize=8, wrap=True, gid="caption")


def _geometry_arrays(features: Any, labels: Any, classifier_weight: Any, prototypes: Any | None,
                     train_counts: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
    """Checked numpy arrays: features (N, d), labels (N,), weights (C, d), prototypes or None, counts (C,)."""
    h = _to_numpy(features, "features").astype(np.float64)
    y = _int_vector(labels, "labels")
    w = _to_numpy(classifier_weight, "classifier_weight").astype(np.float64)
    counts = _to_numpy(train_counts, "train_counts").astype(np.float64)
    if h.ndim != 2 or w.ndim != 2 or h.shape[1] != w.shape[1]:
        raise ValueError(
            f"features (N, d) and classifier_weight (C, d) must share d; got {tuple(h.shape)} and {tuple(w.shape)}"
        )
    if h.shape[0] != y.shape[0]:
        raise ValueError(f"features has {h.shape[0]} rows but labels has {y.shape[0]} entries")
    num = w.shape[0]
    if counts.shape != (num,):
        raise ValueError(f"train_counts has shape {tuple(counts.shape)}, expected ({num},)")
    if y.size and (y.min() < 0 or y.max() >= num):
        raise ValueError(f"labels must lie in [0, {num - 1}]")
    p = None if prototypes is None else _to_numpy(prototypes, "prototypes").astype(np.float64)
    return h, y, w, p, counts


def build_feature_geometry_figure(
    features: Any,
    labels: Any,
    classifier_weight: Any,
    prototypes: Any | None,
    train_counts: Any,
    class_names: Sequence[str] | None,
    num_head: int = 3,
    num_tail: int = 3,
    max_points_per_class: int = 150,
    many_threshold: int = 100,
    few_threshold: int = 20,
) -> Figure:
    """Unit-circle view of the `num_head` most and `num_tail` least frequent classes (in the spirit of
    the paper's figures 3 and 5), each named with its shot group (many / medium / few-shot at
    `many_threshold` / `few_threshold`, as everywhere in the report).

    ``features`` (N, d) are L2-normalised; the 2-D plane is spanned by the first two principal
    directions of the selected classes' (normalised-feature) class means. Features, class means,
    classifier weights ``classifier_weight`` (C, d) and, when their dimension is d, prototypes
    (C, d_z) are projected on it and rescaled to unit length, so only their *directions* in the
    plane are shown: features as dots on the circle (one scatter per class), the others as arrows
    (class mean: solid, classifier weight: dashed, prototype: dotted). A legend names every kind
    of mark and a caption under the plot explains them.
    """
    h, y, w, p, counts = _geometry_arrays(features, labels, classifier_weight, prototypes, train_counts)
    num = w.shape[0]
    names = _names(class_names, num)
    hn = _unit(h)
    present = np.bincount(y, minlength=num) > 0
    head, tail = _select_classes(counts, present, num_head, num_tail)
    chosen = head + tail
    group_of = {c: g for g, members in shot_groups(counts, many_threshold, few_threshold).items() for c in members}

    fig = _new_figure(6.8, 6.2)
    ax = fig.add_subplot(1, 1, 1)
    if len(chosen) < 2:
        ax.text(0.5, 0.5, "fewer than two classes with evaluation samples", ha="center", va="center")
        ax.set_axis_off()
        return fig

    means = np.stack([hn[y == c].mean(axis=0) for c in chosen])
    _, _, vt = np.linalg.svd(means - means.mean(axis=0), full_matrices=False)
    basis = vt[:2]
    if basis.shape[0] < 2:  # pragma: no cover - d == 1
        basis = np.vstack([basis, np.zeros_like(basis)])

    def project(a: np.ndarray) -> np.ndarray:
        return _unit(a @ basis.T)

    theta = np.linspace(0, 2 * np.pi, 361)
    ax.plot(np.cos(theta), np.sin(theta), color="0.75", lw=1.0, zorder=0)
    rng = np.random.default_rng(0)
    proto_ok = p is not None and p.ndim == 2 and p.shape == (num, h.shape[1])
    for k, c in enumerate(chosen):
        is_head = k < len(head)
        colour = _HEAD_COLOURS[k % 6] if is_head else _TAIL_COLOURS[(k - len(head)) % 6]
        idx = np.flatnonzero(y == c)
        if idx.size > max_points_per_class:
            idx = rng.choice(idx, size=max_points_per_class, replace=False)
        pts = project(hn[idx])
        r = 1.0 + rng.normal(scale=0.012, size=(pts.shape[0], 1))  # slight radial jitter to show density
        tag = shot_group_name(group_of[c])
        ax.scatter(pts[:, 0] * r[:, 0], pts[:, 1] * r[:, 0], s=11, alpha=0.5, color=colour, lw=0,
                   label=f"{names[c]} ({tag}, n={int(counts[c])})", zorder=1, gid=f"class-{c}")
        _arrow(ax, project(means[k][None])[0], colour, "mean")
        _arrow(ax, project(w[c][None])[0], colour, "weight")
        if proto_ok:
            _arrow(ax, project(p[c][None])[0], colour, "prototype")
    ax.set_aspect("equal")
    ax.set_xlim(-1.25, 1.25)
    ax.set_ylim(-1.25, 1.25)
    ax.set_xticks([])
    ax.set_yticks([])
    _geometry_legend(fig, ax, proto_ok)
    title = f"Feature directions of {_group_tally([group_of[c] for c in chosen])}"
    if p is not None and not proto_ok:
        title += "\n(prototypes not drawn: their dimension differs from the features')"
    ax.set_title(title, fontsize=10)
    return fig


#: (panel title, metrics.jsonl keys drawn in it); each line is labelled with glossary.record_label.
TRAINING_PANELS: list[tuple[str, list[str]]] = [
    ("losses (epoch means; the total is weighted)", ["loss/total", "loss/lc", "loss/contrastive", "loss/ccge"]),
    ("accuracy (validation and test)", ["val/balanced_accuracy", "val/top1", "eval/balanced_accuracy", "eval/top1"]),
    ("learning rate", ["lr"]),
    ("loss weights α, β, γ", ["weights/alpha", "weights/beta", "weights/gamma"]),
]


CALIBRATION_LABEL = "auto weights α,β,γ set"
_WEIGHT_KEYS = ("weights/alpha", "weights/beta", "weights/gamma")


def _number(rec: Any, key: str) -> float | None:
    v = rec.get(key) if isinstance(rec, dict) else None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def _epochs(records: Sequence[dict[str, Any]]) -> list[float]:
    """x of each record: its ``epoch``, else its index."""
    xs = []
    for i, rec in enumerate(records):
        e = _number(rec, "epoch")
        xs.append(float(i) if e is None else e)
    return xs


def calibration_epoch(records: Sequence[dict[str, Any]], loss_weighting: str | None = None) -> float | None:
    """Epoch at whose end ``loss.weighting=auto`` set α, β, γ, read from the ``weights/*`` records; else None.

    The epochs before the switch train with (1, 1, 1). The trainer writes an epoch's record after
    the calibration, so the first record may already hold the calibrated weights: then the switch
    is at the end of that record's epoch — taken as such when ``loss_weighting == "auto"``, or, when
    ``loss_weighting`` is None (unknown), when that record is epoch 1. A later change from (1, 1, 1)
    marks the end of the last all-ones epoch. ``loss_weighting == "fixed"``: None.
    """
    if loss_weighting == "fixed":
        return None
    xs = _epochs(records)
    seen = [(xs[i], tuple(_number(r, k) for k in _WEIGHT_KEYS)) for i, r in enumerate(records)]
    seen = [(x, w) for x, w in seen if all(v is not None for v in w)]
    for i, (x, w) in enumerate(seen):
        if w == (1.0, 1.0, 1.0):
            continue
        if i > 0:
            return seen[i - 1][0]
        return x if loss_weighting == "auto" or x == 1.0 else None
    return None


def _mark_calibration(ax: Any, x: float) -> None:
    ax.axvline(x, color="0.35", ls=":", lw=1.3, zorder=1, gid="calibration",
               label=f"{CALIBRATION_LABEL} (end of epoch {x:g})")


def plot_training_curves(path: str | Path, records: Sequence[dict[str, Any]],
                         loss_weighting: str | None = None) -> Path:
    """Write :func:`build_training_curves_figure` to ``path`` (PNG)."""
    return _save(build_training_curves_figure(records, loss_weighting), path)


def build_training_curves_figure(records: Sequence[dict[str, Any]], loss_weighting: str | None = None) -> Figure:
    """Curves of the metrics.jsonl records against ``epoch`` (record index if absent).

    Panels: losses, evaluation accuracies, learning rate, loss weights; any key may be missing
    (a panel without data is left out). Where :func:`calibration_epoch` finds the automatic loss
    weights switching on, every panel gets a dotted vertical line there, named in its legend
    (the loss curves jump at that point because the weights change, not the model).
    """
    xs_all = _epochs(records)
    panels = []
    for title, keys in TRAINING_PANELS:
        series = []
        for key in keys:
            pts = [(xs_all[i], _number(r, key)) for i, r in enumerate(records)]
            pts = [(x, v) for x, v in pts if v is not None]
            if pts:
                series.append((key, pts))
        if series:
            panels.append((title, series))

    if not panels:
        fig = _new_figure(6.0, 2.0)
        ax = fig.add_subplot(1, 1, 1)
        ax.text(0.5, 0.5, "no training records", ha="center", va="center")
        ax.set_axis_off()
        return fig

    switch = calibration_epoch(records, loss_weighting)
    cols = 2 if len(panels) > 1 else 1
    rows = math.ceil(len(panels) / cols)
    fig = _new_figure(5.2 * cols, 3.4 * rows)
    for k, (title, series) in enumerate(panels):
        ax = fig.add_subplot(rows, cols, k + 1)
        for key, pts in series:
            x, v = zip(*pts)
            ax.plot(x, v, marker="o" if len(pts) <= 30 else None, ms=3, lw=1.4, label=record_label(key), gid=key)
        if switch is not None:
            _mark_calibration(ax, switch)
        if title == TRAINING_PANELS[1][0]:
            ax.set_ylim(0, 1)
        if title == "learning rate":
            ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def make_plots(
    plots_dir: str | Path,
    *,
    final: dict[str, Any] | None = None,
    train_counts: Any = None,
    class_names: Sequence[str] | None = None,
    confusion: Any = None,
    features: Any = None,
    labels: Any = None,
    classifier_weight: Any = None,
    prototypes: Any = None,
    records: Sequence[dict[str, Any]] | None = None,
    many_threshold: int = 100,
    few_threshold: int = 20,
    loss_weighting: str | None = None,
) -> list[Path]:
    """Write every figure whose inputs are given into ``plots_dir``; return the PNG paths.

    Files: per_class_accuracy.png (needs ``final["per_class_accuracy"]`` and ``train_counts``),
    confusion_matrix.png (``confusion``; in frequency order when ``train_counts`` is given),
    feature_geometry.png (``features``, ``labels``,
    ``classifier_weight``, ``train_counts``), training_curves.png (``records``; the
    calibration marker is read from their ``weights/*`` values, ``loss_weighting`` — the run's
    ``loss.weighting`` — removes the one ambiguity, see :func:`calibration_epoch`).
    """
    out_dir = Path(plots_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    per_class = (final or {}).get("per_class_accuracy")
    if per_class is not None and train_counts is not None:
        written.append(plot_per_class_accuracy(out_dir / "per_class_accuracy.png", per_class, train_counts,
                                               class_names, many_threshold, few_threshold))
    if confusion is not None:
        written.append(plot_confusion_matrix(out_dir / "confusion_matrix.png", confusion, class_names,
                                             train_counts))
    if features is not None and labels is not None and classifier_weight is not None and train_counts is not None:
        written.append(plot_feature_geometry(out_dir / "feature_geometry.png", features, labels, classifier_weight,
                                             prototypes, train_counts, class_names, many_threshold=many_threshold,
                                             few_threshold=few_threshold))
    if records:
        written.append(plot_training_curves(out_dir / "training_curves.png", records, loss_weighting))
    return written
