"""The figures explain themselves: read labels, tick order, legends and marks from the matplotlib objects."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.collections import PathCollection
from matplotlib.image import AxesImage

from ecl.evaluation.plots import (
    CALIBRATION_LABEL,
    GEOMETRY_CAPTION,
    build_confusion_matrix_figure,
    build_feature_geometry_figure,
    build_per_class_accuracy_figure,
    build_training_curves_figure,
    calibration_epoch,
    make_plots,
)


def _records(weights_by_epoch):
    return [{"epoch": e, "loss/total": 3.0 / e, "loss/lc": 1.0 / e, "lr": 0.1,
             "weights/alpha": a, "weights/beta": b, "weights/gamma": g}
            for e, (a, b, g) in enumerate(weights_by_epoch, start=1)]


def _markers(fig):
    """(panel title, x of the calibration line) for each vertical marker in the figure."""
    return [(ax.get_title(), tuple(line.get_xdata())) for ax in fig.axes for line in ax.get_lines()
            if line.get_gid() == "calibration"]


def test_calibration_marker_as_the_trainer_records_it():
    # the trainer writes epoch 1's record after the calibration: its weights are already set
    recs = _records([(0.6, 0.25, 0.4)] * 5)
    fig = build_training_curves_figure(recs)
    marks = _markers(fig)
    assert {t.split(" (")[0] for t, _ in marks} == {"losses", "learning rate", "loss weights α, β, γ"}
    assert all(x == (1.0, 1.0) for _, x in marks)
    for ax in fig.axes:
        texts = [t.get_text() for t in ax.get_legend().get_texts()]
        assert f"{CALIBRATION_LABEL} (end of epoch 1)" in texts
    assert "α,β,γ" in CALIBRATION_LABEL


def test_calibration_marker_after_all_ones_epochs():
    recs = _records([(1.0, 1.0, 1.0), (1.0, 1.0, 1.0), (0.5, 0.2, 0.3), (0.5, 0.2, 0.3)])
    assert calibration_epoch(recs) == 2.0
    assert all(x == (2.0, 2.0) for _, x in _markers(build_training_curves_figure(recs)))


@pytest.mark.parametrize("weights, weighting", [
    ([(1.0, 1.0, 1.0)] * 4, None),        # fixed weighting with unit weights: nothing switches
    ([(0.5, 0.2, 0.3)] * 4, "fixed"),     # fixed user weights, the run says so
    ([], None),                           # no weights recorded
])
def test_no_calibration_marker(weights, weighting):
    recs = _records(weights) if weights else [{"epoch": 1, "loss/total": 1.0}, {"epoch": 2, "loss/total": 0.5}]
    assert calibration_epoch(recs, weighting) is None
    assert _markers(build_training_curves_figure(recs, weighting)) == []


def test_auto_weighting_resumed_records_mark_first_epoch_shown():
    recs = _records([(0.5, 0.2, 0.3)] * 4)[2:]  # records from epoch 3 on
    assert calibration_epoch(recs) is None  # unknown weighting: not guessed
    assert calibration_epoch(recs, "auto") == 3.0


def test_confusion_matrix_in_frequency_order():
    counts = np.array([5, 50, 20, 50, 1, 20])
    names = ["ant", "bee", "cat", "dog", "eel", "fox"]
    rng = np.random.default_rng(0)
    cm = rng.integers(0, 9, size=(6, 6)) + np.diag(np.full(6, 20))
    fig = build_confusion_matrix_figure(cm, names, counts)
    ax = fig.axes[0]
    expected = sorted(range(6), key=lambda c: (-counts[c], c))  # independent: descending count, ties by index
    assert expected == [1, 3, 2, 5, 0, 4]
    assert [t.get_text() for t in ax.get_xticklabels()] == [names[c] for c in expected]
    assert [t.get_text() for t in ax.get_yticklabels()] == [names[c] for c in expected]
    assert "training count" in ax.get_xlabel() and "most frequent first" in ax.get_ylabel()
    assert ax.get_xlabel().startswith("predicted class") and ax.get_ylabel().startswith("true class")
    shown = [im for im in ax.get_children() if isinstance(im, AxesImage)][0].get_array()
    for i, t in enumerate(expected):
        for j, p in enumerate(expected):
            assert shown[i, j] == pytest.approx(cm[t, p] / cm[t].sum())
    plain = build_confusion_matrix_figure(cm, names).axes[0]
    assert [t.get_text() for t in plain.get_xticklabels()] == names
    assert "class-index order" in plain.get_xlabel()


def _geometry_inputs(num_classes=8, d=12, per_class=20, seed=0):
    rng = np.random.default_rng(seed)
    counts = np.round(500 * 0.01 ** (np.arange(num_classes) / (num_classes - 1))).astype(int)
    labels = np.repeat(np.arange(num_classes), per_class)
    means = rng.normal(size=(num_classes, d))
    feats = means[labels] + 0.3 * rng.normal(size=(labels.size, d))
    return feats, labels, means, counts


def test_feature_geometry_legend_and_caption():
    feats, labels, means, counts = _geometry_inputs()
    names = [f"k{c}" for c in range(8)]
    fig = build_feature_geometry_figure(feats, labels, means, means + 0.1, counts, names)
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    # three most and three least frequent classes, tagged with their shot group (> 100 many,
    # < 20 few, else medium: the report's thresholds) and their counts
    by_count = sorted(range(8), key=lambda c: (-counts[c], c))
    for c in by_count[:3] + by_count[-3:]:
        group = "many" if counts[c] > 100 else "few" if counts[c] < 20 else "medium"
        assert f"k{c} ({group}-shot, n={counts[c]})" in texts
    chosen = by_count[:3] + by_count[-3:]
    tally = {g: sum(1 for c in chosen if (counts[c] > 100, counts[c] < 20) == key)
             for g, key in (("many", (True, False)), ("medium", (False, False)), ("few", (False, True)))}
    title = ax.get_title()
    assert title.startswith("Feature directions of 6 classes: ")
    for g, n in tally.items():
        assert (f"{n} {g}-shot" in title) == (n > 0)
    assert "head" not in title and "tail" not in title
    for kind in ("feature of one test image (dot)", "class mean of the test features (solid arrow)",
                 "classifier weight (dashed arrow)", "prototype (dotted arrow)"):
        assert kind in texts
    arrows = [a.get_gid() for a in ax.texts if (a.get_gid() or "").startswith("arrow-")]
    assert sorted(arrows) == sorted(["arrow-mean", "arrow-weight", "arrow-prototype"] * 6)
    dots = [col for col in ax.collections if isinstance(col, PathCollection) and (col.get_gid() or "").startswith("class-")]
    assert len(dots) == 6 and all(len(col.get_offsets()) == 20 for col in dots)
    captions = [t for t in fig.texts if t.get_gid() == "caption"]
    assert len(captions) == 1 and captions[0].get_text() == GEOMETRY_CAPTION
    for word in ("dot", "solid", "dashed", "dotted", "most frequent", "rarest", "shot group", "prototype",
                 "classifier weight"):
        assert word in GEOMETRY_CAPTION


def test_feature_geometry_without_prototypes_has_no_prototype_entry():
    feats, labels, means, counts = _geometry_inputs()
    ax = build_feature_geometry_figure(feats, labels, means, None, counts, None).axes[0]
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "prototype (dotted arrow)" not in texts and "classifier weight (dashed arrow)" in texts
    assert not [a for a in ax.texts if a.get_gid() == "arrow-prototype"]


def test_per_class_accuracy_points_and_labels():
    acc = [0.9, None, 0.5, 0.0, 0.7]
    counts = [500, 300, 150, 3, 40]
    ax = build_per_class_accuracy_figure(acc, counts, None).axes[0]
    pts = [col for col in ax.collections if isinstance(col, PathCollection)][0].get_offsets()
    assert len(pts) == 4  # the class without evaluation samples is not drawn
    assert sorted(map(tuple, np.asarray(pts))) == sorted([(500, 0.9), (150, 0.5), (3, 0.0), (40, 0.7)])
    assert "training images" in ax.get_xlabel() and ax.get_ylabel() == "per-class accuracy"
    # the shot groups in the report's words: > 100 many-shot (500, 300, 150), 20..100 medium (40), < 20 few (3)
    labels = sorted(t.get_text().split(",")[0] for t in ax.texts if "-shot" in t.get_text())
    assert labels == ["few-shot: 1 class", "many-shot: 3 classes", "medium-shot: 1 class"]


def test_make_plots_passes_counts_and_weighting(tmp_path, monkeypatch):
    import ecl.evaluation.plots as plots

    seen = {}
    real_cm, real_tc = plots.build_confusion_matrix_figure, plots.build_training_curves_figure

    def spy_cm(confusion, class_names, train_counts=None):
        seen["counts"] = list(train_counts)
        return real_cm(confusion, class_names, train_counts)

    def spy_tc(records, loss_weighting=None):
        seen["weighting"] = loss_weighting
        return real_tc(records, loss_weighting)

    monkeypatch.setattr(plots, "build_confusion_matrix_figure", spy_cm)
    monkeypatch.setattr(plots, "build_training_curves_figure", spy_tc)
    paths = make_plots(tmp_path, train_counts=[3, 9], confusion=np.eye(2), records=_records([(1, 1, 1)]),
                       loss_weighting="fixed")
    assert sorted(p.name for p in paths) == ["confusion_matrix.png", "training_curves.png"]
    assert seen == {"counts": [3, 9], "weighting": "fixed"}
