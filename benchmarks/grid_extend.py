"""Extending a recorded tuning grid without retraining its recorded points (issue 21, item 6).

A tuning record (one method's entry of tuning.json, as `ecl compare --tune` writes it with
`ecl.engine.commands.tuning.choose`) keeps the validation scores of every combination it trained. When
the grid grows (here: the learning rate 0.01 below {0.03, 0.1}), only the combinations without a
recorded score need training (`missing`); `merge` then puts their scores beside the recorded ones in
the order of the wider grid and chooses again with `choose` itself (final-epoch validation balanced
accuracy, mean over the tuning seeds; ties: the first in grid order), so the choice is the one
`ecl compare --tune` would make on the whole grid. Every combination keeps its provenance (when, at
which commit and by which command it was trained). `changed` names the methods whose choice moved:
only their report rows need new report runs; the others keep their recorded rows.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Sequence

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ecl.engine.commands.tuning import Combination, choose, combination_label  # noqa: E402


class GridExtendError(ValueError):
    """A recorded tuning grid that cannot be extended as asked (other tuning seeds, no record)."""


def missing(recorded: dict[str, Any], grids: dict[str, list[Combination]]) -> dict[str, list[Combination]]:
    """Per method, the combinations of its (wider) grid with no recorded score, in grid order."""
    out = {}
    for method, combinations in grids.items():
        have = {row["label"] for row in (recorded.get(method) or {}).get("scores", [])}
        out[method] = [c for c in combinations if combination_label(c) not in have]
    return out


def merge(record: dict[str, Any] | None, combinations: Sequence[Combination],
          new_scores: dict[str, list[float]], new_provenance: dict[str, Any],
          old_provenance: dict[str, Any] | None, tune_seeds: Sequence[int]) -> dict[str, Any]:
    """One method's tuning record over `combinations` (the wider grid, in its order): the recorded
    scores of `record` where present (their provenance kept, else `old_provenance`: the row's), the
    scores `new_scores` ({label: per-seed scores}) of the combinations trained now (`new_provenance`),
    and the choice `choose` makes on them. GridExtendError when the recorded tuning seeds differ."""
    record = record or {"scores": [], "tune_seeds": list(tune_seeds)}
    if [int(s) for s in record.get("tune_seeds", tune_seeds)] != [int(s) for s in tune_seeds]:
        raise GridExtendError(f"recorded tuning seeds {record['tune_seeds']} differ from {list(tune_seeds)}: "
                              "the grid can only be extended on the seeds its points were scored on")
    old = {row["label"]: row for row in record["scores"]}
    scores, origins = [], []
    for combination in combinations:
        label = combination_label(combination)
        if label in old:
            scores.append(old[label]["per_seed"])
            origins.append(old[label].get("provenance") or {k: (old_provenance or {}).get(k)
                                                             for k in ("date", "commit", "command")})
        elif label in new_scores:
            scores.append(new_scores[label])
            origins.append(new_provenance)
        else:
            raise GridExtendError(f"combination {label}: neither recorded nor trained")
    merged = {**choose(combinations, scores), "tune_seeds": [int(s) for s in tune_seeds]}
    for row, origin in zip(merged["scores"], origins):
        row["provenance"] = origin
    return merged


def changed(records: dict[str, dict[str, Any]], summary: dict[str, Any] | None) -> list[str]:
    """The methods whose choice in `records` differs from the tuning record of their report row in
    `summary` (or that have no report row): they need report runs; the others keep their rows."""
    summary = summary or {}
    return [m for m, record in records.items()
            if (summary.get(m, {}).get("tuning") or {}).get("chosen") != record["chosen"]]


def values_of(combinations: Sequence[Combination], key: str) -> list[str]:
    """The values of `key` among `combinations`, in first-seen order."""
    return list(dict.fromkeys(dict(c)[key] for c in combinations if key in dict(c)))
