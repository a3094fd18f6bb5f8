"""Evaluation: classification metrics, calibration, representation geometry, plots, HTML report.

``ecl.evaluation`` imports nothing from ``ecl.engine`` or ``ecl.cli``. The plotting
and report modules (matplotlib) are loaded on first use.
"""

from __future__ import annotations

from typing import Any

from .calibration import expected_calibration_error
from .geometry import class_means, geometry_metrics
from .metrics import classification_metrics, confusion_matrix, metrics_from_confusion, shot_groups

__all__ = [
    "classification_metrics",
    "confusion_matrix",
    "metrics_from_confusion",
    "shot_groups",
    "expected_calibration_error",
    "geometry_metrics",
    "class_means",
    "make_plots",
    "plot_per_class_accuracy",
    "plot_confusion_matrix",
    "plot_feature_geometry",
    "plot_training_curves",
    "write_report",
]

_LAZY = {
    "make_plots": "plots",
    "plot_per_class_accuracy": "plots",
    "plot_confusion_matrix": "plots",
    "plot_feature_geometry": "plots",
    "plot_training_curves": "plots",
    "write_report": "report",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
