"""Plain-language names and one-sentence meanings of what a run measures and records.

One owner for the words a newcomer reads: the report (:mod:`ecl.evaluation.report`) and the
training-curve figure (:mod:`ecl.evaluation.plots`) both take them from here, so a metric or a
``metrics.jsonl`` key is called the same everywhere.

* :data:`METRIC_MEANING`: final.json key → one sentence (what it measures, its range, which way is
  better, what a good value looks like);
* :func:`shot_group_name`, :func:`shot_group_range`, :func:`shot_group_meaning`: the many / medium /
  few-shot vocabulary with its thresholds;
* :func:`record_label`: a ``metrics.jsonl`` key (``loss/lc``, ``weights/alpha``, ``val/top1``, …)
  → its human name;
* :data:`PLOT_TITLES`: the title of each figure of ``plots/``.
"""

from __future__ import annotations

__all__ = [
    "METRIC_MEANING",
    "METRIC_NAME",
    "PLOT_TITLES",
    "chance_level",
    "record_label",
    "shot_group_meaning",
    "shot_group_name",
    "shot_group_range",
]

#: final.json key → the name shown for it.
METRIC_NAME: dict[str, str] = {
    "top1": "top-1 accuracy",
    "balanced_accuracy": "balanced accuracy",
    "macro_f1": "macro-F1",
    "ece": "expected calibration error (ECE)",
    "FC": "FC — feature collapse",
    "MS": "MS — mean spacing",
    "SD": "SD — self-duality",
}

#: final.json key → one plain sentence: what it measures, range, which way is better, a good value.
METRIC_MEANING: dict[str, str] = {
    "top1": ("The share of test images whose highest-scoring class is the true one; 0–100%, higher is "
             "better. Every image counts once, so on an imbalanced test set the frequent classes dominate it."),
    "balanced_accuracy": ("The mean over classes of the share of each class's test images classified "
                          "correctly (mean per-class recall), so every class counts the same; 0–100%, higher "
                          "is better; guessing scores 1/C (C = number of classes), a perfect model 100%."),
    "macro_f1": ("The mean over classes of F1, the balance of precision (of the images predicted as a class, "
                 "the share that are that class) and recall; 0–100%, higher is better; it is low when the "
                 "model floods the frequent classes with wrong predictions, even if their recall is high."),
    "ece": ("How far the model's confidence (its highest softmax probability) is from how often it is "
            "right, averaged over 15 confidence bins; 0–1, lower is better; 0 means an 80% confident "
            "prediction is right 80% of the time, and below about 0.05 is usually called well calibrated."),
    "FC": ("How widely the test features of each class scatter around their class mean, relative to how far "
           "apart the class means are (Tr(Σ_W Σ_B^†)/C); 0 or more, lower is better; 0 means every image of a "
           "class has the same feature, and a value near 1 or above means a class's spread is as large as "
           "the distance between classes."),
    "MS": ("How unevenly the class means are spread: the mean over class pairs of how far the cosine between "
           "two centred class means is from −1/(C−1), the value of a regular simplex where all classes are "
           "equally far apart; 0 to 1 + 1/(C−1), lower is better; 0 is perfectly even spacing (compare runs "
           "on the same data: the value shrinks as C grows)."),
    "SD": ("How far the classifier's class vectors are from pointing at the centred class means, both "
           "scaled to unit overall size (‖W/‖W‖ − M/‖M‖‖); 0 to 2, lower is better; 0 means each class's "
           "classifier vector points exactly at its feature centre, and about 1.41 is what unrelated "
           "directions give."),
}

#: The figures :func:`ecl.evaluation.plots.make_plots` writes, file name → the title a reader sees for it
#: (the report shows them in this order).
PLOT_TITLES: dict[str, str] = {
    "per_class_accuracy.png": "Per-class accuracy against training images (log scale), shot groups shaded",
    "confusion_matrix.png": "Confusion matrix: true class (rows) against predicted class (columns), most "
                            "frequent class first",
    "feature_geometry.png": "Feature directions of the most and the least frequent classes",
    "training_curves.png": "Training curves: losses, accuracy (validation and test), learning rate and "
                           "loss weights α, β, γ per epoch",
}


_GROUP_NAMES = {"many": "many-shot", "medium": "medium-shot", "few": "few-shot"}


def shot_group_name(group: str) -> str:
    """'many' → 'many-shot' (likewise medium, few)."""
    return _GROUP_NAMES[group]


def shot_group_range(group: str, many_threshold: float, few_threshold: float) -> str:
    """The group's training-image range in words, e.g. 'more than 100 training images'."""
    if group == "many":
        return f"more than {many_threshold:g} training images"
    if group == "few":
        return f"fewer than {few_threshold:g} training images"
    return f"{few_threshold:g} to {many_threshold:g} training images"


def shot_group_meaning(many_threshold: float, few_threshold: float) -> str:
    """One sentence on the many / medium / few-shot accuracies, with the run's thresholds."""
    return (f"Classes are grouped by how many training images they have: many-shot "
            f"({shot_group_range('many', many_threshold, few_threshold)}), medium-shot "
            f"({shot_group_range('medium', many_threshold, few_threshold)}) and few-shot "
            f"({shot_group_range('few', many_threshold, few_threshold)}); a group's accuracy is the mean of "
            f"its classes' accuracies, 0–100%, higher is better. A method for long-tailed data should raise few-shot "
            f"accuracy without losing much many-shot accuracy.")


def chance_level(num_classes: int) -> float:
    """Balanced accuracy of guessing among `num_classes` classes: 1/C."""
    return 1.0 / num_classes


_RECORD_NAMES = {
    "epoch": "epoch",
    "lr": "learning rate",
    "loss/total": "total loss α·L_LC + β·L_con + γ·L_CC-GE",
    "loss/lc": "L_LC classification (logit-compensated cross-entropy)",
    "loss/contrastive": "L_con contrastive (BC-ECL, BCL or SupCon)",
    "loss/ccge": "L_CC-GE classifier–prototype alignment",
    "weights/alpha": "α (weight of L_LC, classification)",
    "weights/beta": "β (weight of L_con, contrastive)",
    "weights/gamma": "γ (weight of L_CC-GE, alignment)",
    "nonfinite_steps": "steps skipped (non-finite loss)",
    "images_per_s": "training speed (images/s)",
    "seconds": "epoch time (s)",
}

_SPLIT_NAMES = {"eval": "test", "val": "validation", "geometry": "test-feature geometry"}


def record_label(key: str) -> str:
    """Human name of a metrics.jsonl key: 'loss/lc' → 'classification loss L_LC (…)',
    'val/balanced_accuracy' → 'validation balanced accuracy'; an unknown key is returned with its
    '/' and '_' turned into words ('foo/bar_baz' → 'foo bar baz')."""
    if key in _RECORD_NAMES:
        return _RECORD_NAMES[key]
    prefix, _, rest = key.partition("/")
    if rest and prefix in _SPLIT_NAMES:
        name = METRIC_NAME.get(rest, rest.replace("_", " "))
        return f"{_SPLIT_NAMES[prefix]} {name}"
    if rest and prefix == "loss":
        return f"loss component {rest.replace('_', ' ')}"
    if rest and prefix == "weights":
        return f"weight {rest.replace('_', ' ')}"
    return key.replace("/", " ").replace("_", " ")
