"""The tuning grid of `ecl compare --tune`: parsing, per-method combinations, validation scores, choice.

A grid axis is ``KEY=V1,V2,...`` (every method) or ``METHOD:KEY=V1,V2,...`` (that method only, e.g.
``ce:train.weight_decay=5e-4,1e-4`` beside ``supcon:loss.temperature=0.07,0.1``). A method's grid is
the Cartesian product of the shared axes and its own axes, in the order given (first axis slowest).
Every method must end with the same number of combinations (the same tuning budget), else
:class:`TuningError`.

Selection criterion (documented choice): the **final-epoch** validation balanced accuracy
(``val/balanced_accuracy`` of the last line of a tuning run's metrics.jsonl), averaged over the tuning
seeds — the same epoch the report runs are scored at on test (final.json is the last epoch's model,
not best_val.pt). Test metrics are never read for selection. Ties go to the first combination in grid
order. Imports nothing from the rest of the engine but the run folder.

``--tune auto`` (:func:`expand_auto`) is the axis ``train.lr=lr/3,lr,3·lr`` around the configuration's
learning rate, the same three values for every method (:data:`AUTO_RULE` says why).
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Sequence

from ecl.config import ConfigError
from ecl.engine.training.run_folder import RunFolder

__all__ = ["TuningError", "Combination", "parse_grid", "method_grids", "combination_label",
           "validation_score", "choose", "expand_auto", "CRITERION", "VAL_METRIC", "AUTO", "LR_FACTORS",
           "AUTO_RULE"]

VAL_METRIC = "val/balanced_accuracy"
CRITERION = ("final-epoch validation balanced accuracy (val/balanced_accuracy of the last metrics.jsonl "
             "line), mean over the tuning seeds; ties: first in grid order; test metrics are never read")
_RESERVED = ("loss.method", "seed", "out")
AUTO = "auto"
LR_FACTORS = (1 / 3, 1.0, 3.0)
AUTO_RULE = ("--tune auto: train.lr × 1/3, × 1, × 3 of the configuration's value, the same three for every "
             "method (the same budget). The learning rate is the setting the methods are most sensitive to, "
             "and their classifier losses run at different scales (lr × α, α ≈ 0.2 auto-weighted, 1–2 fixed); "
             "a factor 3 each way (a half decade) spans the ~10× range where the methods' best rates lie "
             "at 3 runs per method and tuning seed")

Combination = tuple[tuple[str, str], ...]  # ((key, value), ...) in axis order


class TuningError(ConfigError):
    """A bad --tune grid, or tuning runs that cannot be scored on validation."""


def _parse_axis(text: str, methods: Sequence[str]) -> tuple[str | None, str, list[str]]:
    """``[METHOD:]KEY=V1,V2`` → (method or None, key, values); TuningError naming the bad part."""
    if "=" not in text:
        raise TuningError(f"--tune {text!r}: expected KEY=V1,V2,... or METHOD:KEY=V1,V2,...")
    head, _, tail = text.partition("=")
    method, key = (None, head.strip())
    if ":" in head:
        method, _, key = (part.strip() for part in head.partition(":"))
        if method not in methods:
            raise TuningError(f"--tune {text!r}: method {method!r} is not in --methods ({', '.join(methods)})")
    values = [v.strip() for v in tail.split(",") if v.strip()]
    if not key or not values:
        raise TuningError(f"--tune {text!r}: needs a key and at least one value")
    if key in _RESERVED:
        raise TuningError(f"--tune {key}: ecl compare sets it itself; it cannot be tuned")
    if len(set(values)) != len(values):
        raise TuningError(f"--tune {key}: repeated value in {tail!r}")
    for value in values:
        if "/" in value or "+" in value:
            raise TuningError(f"--tune {key}: value {value!r} may not contain '/' or '+' (run-folder names)")
    return method, key, values


def parse_grid(specs: Sequence[str], methods: Sequence[str]) -> dict[str, list[tuple[str, list[str]]]]:
    """``{method: [(key, values), ...]}``: the shared axes then the method's own, in the order given."""
    axes = [_parse_axis(text, methods) for text in specs]
    grids: dict[str, list[tuple[str, list[str]]]] = {}
    for method in methods:
        mine = [(key, values) for owner, key, values in axes if owner is None] + \
               [(key, values) for owner, key, values in axes if owner == method]
        keys = [key for key, _ in mine]
        repeated = sorted({k for k in keys if keys.count(k) > 1})
        if repeated:
            raise TuningError(f"--tune: {', '.join(repeated)} given twice for method {method!r}")
        grids[method] = mine
    return grids


def method_grids(specs: Sequence[str], methods: Sequence[str]) -> dict[str, list[Combination]]:
    """``{method: [combination, ...]}`` in grid order; TuningError when the sizes differ."""
    grids = parse_grid(specs, methods)
    combos = {m: [tuple(zip([k for k, _ in axes], values))
                  for values in itertools.product(*[v for _, v in axes])] if axes else [()]
              for m, axes in grids.items()}
    sizes = {m: len(c) for m, c in combos.items()}
    if len(set(sizes.values())) > 1:
        listed = ", ".join(f"{m}: {n}" for m, n in sizes.items())
        raise TuningError(f"--tune: every method needs the same number of combinations (the same tuning "
                          f"budget), got {listed}; add or drop METHOD:KEY=... values")
    return combos


def expand_auto(specs: Sequence[str], lr: float) -> list[str]:
    """`specs` with each ``auto`` replaced by the axis ``train.lr=lr/3,lr,3·lr`` (3 significant digits)."""
    axis = "train.lr=" + ",".join(f"{lr * factor:.3g}" for factor in LR_FACTORS)
    return [axis if text.strip() == AUTO else text for text in specs]


def combination_label(combination: Combination) -> str:
    """The run-folder name of a combination: ``train.lr=0.05+loss.temperature=0.1`` (``default``: none)."""
    return "+".join(f"{key}={value}" for key, value in combination) or "default"


def validation_score(run: RunFolder) -> float:
    """The final-epoch ``val/balanced_accuracy`` of a finished tuning run (never a test metric)."""
    records = run.read_metrics()
    if not records:
        raise TuningError(f"{run.metrics_file}: no epoch recorded; cannot score the tuning run")
    value = records[-1].get(VAL_METRIC)
    if value is None or not math.isfinite(float(value)):
        raise TuningError(f"{run.metrics_file}: the last epoch has no finite {VAL_METRIC}; tuning needs a "
                          f"validation split (a val/ folder, data.val_csv, data.val_list or data.val_per_class)")
    return float(value)


def choose(combinations: Sequence[Combination], scores: Sequence[Sequence[float]]) -> dict[str, Any]:
    """The tuning record of one method from per-combination, per-seed validation scores.

    Returns ``{"grid": {key: [values]}, "scores": [{"values": {key: value}, "label", "per_seed",
    "mean"}], "chosen": {key: value}, "chosen_index", "criterion"}``; ties: the first in grid order.
    """
    rows = []
    for combination, per_seed in zip(combinations, scores):
        mean = math.fsum(per_seed) / len(per_seed)
        rows.append({"values": dict(combination), "label": combination_label(combination),
                     "per_seed": [float(s) for s in per_seed], "mean": mean})
    best = max(range(len(rows)), key=lambda i: (rows[i]["mean"], -i))
    grid: dict[str, list[str]] = {}
    for combination in combinations:
        for key, value in combination:
            if value not in grid.setdefault(key, []):
                grid[key].append(value)
    return {"grid": grid, "scores": rows, "chosen": dict(combinations[best]), "chosen_index": best,
            "criterion": CRITERION}
