import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from ecl.evaluation.metrics import (
    classification_metrics,
    confusion_matrix,
    metrics_from_confusion,
    shot_groups,
)


@pytest.mark.parametrize("num_classes,n,seed", [(2, 50, 0), (5, 300, 1), (10, 1000, 2), (37, 2000, 3), (100, 5000, 4)])
def test_matches_sklearn_on_random_predictions(num_classes, n, seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, num_classes, size=n)
    # predictions: 40 % correct, the rest random, so metrics are non-trivial
    preds = np.where(rng.random(n) < 0.4, labels, rng.integers(0, num_classes, size=n))
    counts = rng.integers(1, 500, size=num_classes)
    out = classification_metrics(preds, labels, counts)

    present = np.unique(labels)
    assert out["top1"] == pytest.approx(skm.accuracy_score(labels, preds), abs=1e-12)
    assert out["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(labels, preds), abs=1e-12)
    ref_f1 = skm.f1_score(labels, preds, average="macro", labels=present, zero_division=0)
    assert out["macro_f1"] == pytest.approx(ref_f1, abs=1e-12)
    cm = confusion_matrix(preds, labels, num_classes)
    np.testing.assert_array_equal(cm, skm.confusion_matrix(labels, preds, labels=np.arange(num_classes)))
    assert cm.dtype == np.int64 and cm.shape == (num_classes, num_classes)
    # per-class accuracy = per-class recall (brute force)
    for c in range(num_classes):
        mask = labels == c
        if mask.any():
            assert out["per_class_accuracy"][c] == pytest.approx(np.mean(preds[mask] == c))
        else:
            assert out["per_class_accuracy"][c] is None


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_missing_classes_and_predicted_only_classes():
    # class 3 never appears in labels but is predicted; class 2 never appears at all
    labels = np.array([0, 0, 1, 1, 1, 4, 4])
    preds = np.array([0, 3, 1, 3, 1, 4, 0])
    out = classification_metrics(preds, labels, [500, 50, 5, 5, 200])
    present = [0, 1, 4]
    assert out["per_class_accuracy"][2] is None and out["per_class_accuracy"][3] is None
    assert out["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(labels, preds))
    assert out["macro_f1"] == pytest.approx(skm.f1_score(labels, preds, average="macro", labels=present))
    # few group = classes 2, 3: none evaluated -> None, never 0
    assert out["few"] is None
    assert out["many"] == pytest.approx(np.mean([0.5, 0.5]))
    assert out["medium"] == pytest.approx(2 / 3)


def test_shot_group_boundaries():
    counts = [101, 100, 20, 19, 1000, 1]
    g = shot_groups(counts, many_threshold=100, few_threshold=20)
    assert g == {"many": [0, 4], "medium": [1, 2], "few": [3, 5]}
    g = shot_groups(counts, many_threshold=19, few_threshold=19)
    assert g == {"many": [0, 1, 2, 4], "medium": [3], "few": [5]}


def test_shot_group_accuracy_is_mean_of_class_accuracies_and_empty_is_none():
    # class 0 (many, 101 train) has 9/10 correct; class 1 (many, 500) 0/1 correct.
    labels = np.array([0] * 10 + [1] + [2] * 4)
    preds = np.array([0] * 9 + [1] + [0] + [2, 2, 0, 0])
    out = classification_metrics(preds, labels, [101, 500, 100])
    assert out["many"] == pytest.approx((0.9 + 0.0) / 2)  # not 9/11 pooled
    assert out["medium"] == pytest.approx(0.5)
    assert out["few"] is None
    out = classification_metrics(preds, labels, [5, 19, 3])
    assert out["many"] is None and out["medium"] is None
    assert out["few"] == pytest.approx((0.9 + 0.0 + 0.5) / 3)


def test_accepts_torch_and_from_confusion_equals_direct():
    rng = np.random.default_rng(7)
    labels = rng.integers(0, 6, size=200)
    preds = rng.integers(0, 6, size=200)
    counts = [300, 150, 100, 40, 20, 3]
    a = classification_metrics(torch.from_numpy(preds), torch.from_numpy(labels), torch.tensor(counts))
    # summing per-"rank" confusion matrices gives exact metrics (DDP all-reduce)
    cm = confusion_matrix(preds[:77], labels[:77], 6) + confusion_matrix(preds[77:], labels[77:], 6)
    b = metrics_from_confusion(torch.from_numpy(cm), counts)
    assert a == b
    assert isinstance(a["top1"], float) and isinstance(a["many"], float)


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="preds"):
        classification_metrics([0, 1, 2], [0, 1], [10, 10, 10])
    with pytest.raises(ValueError, match="labels"):
        classification_metrics([0, 1], [0, 3], [10, 10, 10])
    with pytest.raises(ValueError, match="preds"):
        classification_metrics([0, -1], [0, 1], [10, 10, 10])
    with pytest.raises(ValueError, match="train_counts"):
        classification_metrics([0, 1], [0, 1], [10, 10, 10], num_classes=4)
    with pytest.raises(ValueError, match="train_counts"):
        metrics_from_confusion(np.zeros((3, 3), dtype=int), [1, 2])
    with pytest.raises(ValueError, match="confusion"):
        metrics_from_confusion(np.zeros((3, 2), dtype=int), [1, 2, 3])


def test_package_imports_nothing_from_engine_or_cli():
    import subprocess
    import sys

    code = (
        "import sys, ecl.evaluation as ev; ev.write_report; ev.make_plots; "
        "bad = [m for m in sys.modules if m.startswith(('ecl.engine', 'ecl.cli'))]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
