import numpy as np
import pytest
import torch
from matplotlib.image import imread

from ecl.evaluation.metrics import classification_metrics, confusion_matrix
from ecl.evaluation.plots import (
    make_plots,
    plot_confusion_matrix,
    plot_feature_geometry,
    plot_per_class_accuracy,
    plot_training_curves,
)


def _is_png(path):
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    img = imread(path)
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100
    return img


def _synthetic(num_classes, seed=0, d=16):
    rng = np.random.default_rng(seed)
    counts = np.round(500 * 0.01 ** (np.arange(num_classes) / max(1, num_classes - 1))).astype(int)
    labels = np.repeat(np.arange(num_classes), 10)
    preds = np.where(rng.random(labels.size) < 0.6, labels, rng.integers(0, num_classes, labels.size))
    means = rng.normal(size=(num_classes, d))
    feats = means[labels] + 0.3 * rng.normal(size=(labels.size, d))
    return counts, labels, preds, feats, means


@pytest.mark.parametrize("num_classes", [4, 100])
def test_all_plots_write_pngs(tmp_path, num_classes):
    counts, labels, preds, feats, means = _synthetic(num_classes)
    final = classification_metrics(preds, labels, counts)
    cm = confusion_matrix(preds, labels, num_classes)
    names = [f"c{c}" for c in range(num_classes)]
    records = [{"epoch": e, "lr": 0.1 / e, "loss/total": 3.0 / e, "loss/lc": 1.0 / e} for e in range(1, 6)]
    records[-1]["eval/top1"] = 0.5
    paths = make_plots(tmp_path / "plots", final=final, train_counts=counts, class_names=names, confusion=cm,
                       features=torch.from_numpy(feats).float(), labels=torch.from_numpy(labels),
                       classifier_weight=means, prototypes=means + 0.1, records=records,
                       many_threshold=100, few_threshold=20)
    assert sorted(p.name for p in paths) == sorted(
        ["per_class_accuracy.png", "confusion_matrix.png", "feature_geometry.png", "training_curves.png"])
    for p in paths:
        _is_png(p)


def test_make_plots_skips_missing_inputs(tmp_path):
    assert make_plots(tmp_path, final={}, records=[]) == []
    paths = make_plots(tmp_path, records=[{"loss/total": 1.0}, {"loss/total": 0.5}])
    assert [p.name for p in paths] == ["training_curves.png"]


def test_per_class_accuracy_with_missing_classes_and_empty_groups(tmp_path):
    acc = [0.9, None, 0.5, 0.0]
    p = plot_per_class_accuracy(tmp_path / "a.png", acc, [500, 300, 150, 0], None)  # no medium/few-with-data
    _is_png(p)
    with pytest.raises(ValueError, match="per_class_accuracy"):
        plot_per_class_accuracy(tmp_path / "b.png", acc, [1, 2, 3], None)
    with pytest.raises(ValueError, match="class_names"):
        plot_per_class_accuracy(tmp_path / "b.png", acc, [1, 2, 3, 4], ["a"])


def test_confusion_matrix_with_empty_rows(tmp_path):
    cm = np.array([[3, 1, 0], [0, 0, 0], [1, 0, 2]])
    _is_png(plot_confusion_matrix(tmp_path / "cm.png", cm, ["cat", "dog", "<bird>"]))
    with pytest.raises(ValueError, match="confusion"):
        plot_confusion_matrix(tmp_path / "cm.png", np.zeros((2, 3)), None)


def test_feature_geometry_edge_cases(tmp_path):
    counts, labels, _, feats, means = _synthetic(8, d=12)
    # prototypes of a different dimension are not drawn, but the figure is made
    _is_png(plot_feature_geometry(tmp_path / "g.png", feats, labels, means, np.ones((8, 5)), counts, None))
    # a single present class: an explanatory figure, no crash
    one = labels == 0
    _is_png(plot_feature_geometry(tmp_path / "g1.png", feats[one], labels[one], means, None, counts, None))
    with pytest.raises(ValueError, match="classifier_weight"):
        plot_feature_geometry(tmp_path / "g2.png", feats, labels, means[:, :3], None, counts, None)


def test_training_curves_any_key_missing(tmp_path):
    recs = [{"epoch": 1, "weights/alpha": 1.0}, {"epoch": 2, "weights/alpha": 0.3, "eval/balanced_accuracy": 0.4},
            {"epoch": 3, "loss/ccge": float("nan")}, {"note": "text"}]
    _is_png(plot_training_curves(tmp_path / "t.png", recs))
    _is_png(plot_training_curves(tmp_path / "t0.png", []))


# --- content: what the figures show (read back from the matplotlib objects) ------------------------

@pytest.fixture()
def figures(monkeypatch):
    """Every matplotlib Figure saved during the test, in order."""
    from matplotlib.figure import Figure

    kept = []
    real = Figure.savefig

    def savefig(self, *args, **kwargs):
        kept.append(self)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", savefig)
    return kept


def test_per_class_accuracy_points_are_the_accuracies(tmp_path, figures):
    acc = [0.9, None, 0.5, 0.25, 1.0]
    counts = [500, 300, 60, 10, 3]
    plot_per_class_accuracy(tmp_path / "a.png", acc, counts, ["a", "b", "c", "d", "e"])
    ax = figures[-1].axes[0]
    assert ax.get_xlabel() == "training images of the class (log scale)"
    assert ax.get_ylabel() == "per-class accuracy"
    from matplotlib.collections import PathCollection

    [points] = [c for c in ax.collections if isinstance(c, PathCollection)]  # the scatter (not hlines)
    drawn = sorted(map(tuple, points.get_offsets().tolist()))
    expected = sorted((float(n), float(a)) for n, a in zip(counts, acc) if a is not None)  # class b has no sample
    assert drawn == expected


def test_confusion_matrix_shows_the_row_normalised_matrix(tmp_path, figures):
    cm = np.array([[3, 1, 0], [0, 0, 0], [1, 0, 2]])
    plot_confusion_matrix(tmp_path / "cm.png", cm, ["cat", "dog", "bird"])
    ax = figures[-1].axes[0]
    assert ax.get_xlabel().startswith("predicted class") and ax.get_ylabel().startswith("true class")
    [image] = ax.get_images()
    shown = np.asarray(image.get_array())
    expected = np.array([[3 / 4, 1 / 4, 0], [0, 0, 0], [1 / 3, 0, 2 / 3]])  # an empty row stays 0
    np.testing.assert_allclose(shown, expected)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["cat", "dog", "bird"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["cat", "dog", "bird"]


def test_training_curves_one_line_per_recorded_key(tmp_path, figures):
    records = [{"epoch": e, "lr": 0.1 / e, "loss/total": 3.0 / e, "loss/lc": 1.0 / e} for e in range(1, 6)]
    records[-1]["eval/top1"] = 0.5
    plot_training_curves(tmp_path / "t.png", records)
    axes = {ax.get_title().split(" (")[0]: ax for ax in figures[-1].axes}
    assert set(axes) == {"losses", "accuracy", "learning rate"}  # no loss weights recorded: no panel
    assert all(ax.get_xlabel() == "epoch" for ax in axes.values())
    lines = {line.get_gid(): line for line in axes["losses"].get_lines() if (line.get_gid() or "").startswith("loss/")}
    assert set(lines) == {"loss/total", "loss/lc"}
    # human names in the legend, never the raw keys
    assert not any("/" in line.get_label() for ax in axes.values() for line in ax.get_lines())
    assert lines["loss/lc"].get_label().startswith("L_LC") and "total loss" in lines["loss/total"].get_label()
    np.testing.assert_allclose(lines["loss/total"].get_xdata(), [1, 2, 3, 4, 5])
    np.testing.assert_allclose(lines["loss/total"].get_ydata(), [3.0 / e for e in range(1, 6)])
    [top1] = [line for line in axes["accuracy"].get_lines() if line.get_gid() == "eval/top1"]
    assert top1.get_label() == "test top-1 accuracy"
    assert list(top1.get_xdata()) == [5] and list(top1.get_ydata()) == [0.5]
