"""Re-running some rows of a recorded comparison while keeping the others (issue 21, item 6).

methods.py and fashion_study.py record one summary.json per dataset ({method: {metric: stats, ...}}).
`--methods ce,la` on either driver trains only those rows; `merge_rows` puts them into the recorded
summary in place of the old ones (the other rows are kept as they were committed), and `provenance`
records, per row, when, at which commit, by which command and under which loss weighting it was
trained, so that the page can state it (`provenance_lines`). Rows recorded before this file existed
carry no record: `LEGACY_WEIGHTING` names the weighting they trained under (ce and la ran the ECL
authors' automatic weighting until issue 21 fixed their weight at 1).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any, Sequence

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ecl.evaluation.comparison import setting_text  # noqa: E402

LEGACY_WEIGHTING = {
    "ce": "auto (the ECL authors' calibration at the end of epoch 1; before issue 21)",
    "la": "auto (the ECL authors' calibration at the end of epoch 1; before issue 21)",
}
LEGACY_OTHER = "the method's weighting of today (issue 21 changed only ce's and la's)"


class RowMergeError(ValueError):
    """Rows that cannot be merged into a recorded summary (other seeds than the kept rows')."""


def _seed_count(summary: dict[str, Any], method: str) -> int:
    return len(summary[method]["balanced_accuracy"]["values"])


def merge_rows(old: dict[str, Any] | None, new: dict[str, Any], methods: Sequence[str],
               label: str = "summary.json") -> dict[str, Any]:
    """`old` with the rows `methods` taken from `new`: a replaced row keeps its place, a new row is
    appended; every other row of `old` is kept unchanged. The rows must have as many seeds as the kept
    ones (a paired table needs one seed list), else RowMergeError naming `label` and the row."""
    missing = [m for m in methods if m not in new]
    if missing:
        raise RowMergeError(f"{label}: no row {', '.join(missing)} in the new results")
    merged = dict(old or {})
    kept = [m for m in merged if m not in methods]
    for method in methods:
        if kept and _seed_count(new, method) != _seed_count(merged, kept[0]):
            raise RowMergeError(f"{label}: row {method} has {_seed_count(new, method)} seeds, the kept row "
                                f"{kept[0]} has {_seed_count(merged, kept[0])}: rerun it on the recorded seeds")
        merged[method] = new[method]
    return merged


def merge_records(old: dict[str, Any] | None, new: dict[str, Any], methods: Sequence[str]) -> dict[str, Any]:
    """A per-method record file (tuning.json) with the entries `methods` replaced from `new`."""
    merged = dict(old or {})
    merged.update({m: new[m] for m in methods if m in new})
    return merged


def commit() -> str:
    """The checkout's short commit, "+local changes" when src/ differs from it ("unknown" outside git)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=ROOT, capture_output=True,
                               text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" + local changes to src/" if dirty else "")


def weighting(method: str, entry: dict[str, Any]) -> str:
    """A row's loss weighting in words, from its summary "setting" record (legacy text without one)."""
    setting = entry.get("setting")
    if setting:
        return setting_text(method, setting).split(": ", 1)[1]
    return LEGACY_WEIGHTING.get(method, LEGACY_OTHER)


def provenance(old: dict[str, Any] | None, summary: dict[str, Any], methods: Sequence[str], *, date: str,
               command: str, legacy_date: str | None, legacy_command: str | None,
               revision: str | None = None) -> dict[str, dict[str, Any]]:
    """{method: {"date", "commit", "command", "weighting"}} for every row of the merged `summary`: the
    rows `methods` from this invocation, the others from `old` (the recorded provenance), or, for rows
    recorded before provenance existed, `legacy_date`/`legacy_command` and LEGACY_WEIGHTING."""
    rows = {}
    for method, entry in summary.items():
        if method in methods:
            rows[method] = {"date": date, "commit": revision or commit(), "command": command,
                            "weighting": weighting(method, entry)}
        elif old and method in old:
            rows[method] = old[method]
        else:
            rows[method] = {"date": legacy_date, "commit": None, "command": legacy_command,
                            "weighting": weighting(method, entry)}
    return rows


def provenance_lines(rows: dict[str, dict[str, Any]] | None, portable=lambda text: text) -> list[str]:
    """The page's per-row lines: rows trained together share one line (date, commit, weighting, command)."""
    if not rows:
        return []
    groups: dict[tuple, list[str]] = {}
    for method, record in rows.items():
        key = (record.get("date"), record.get("commit"), record.get("command"))
        groups.setdefault(key, []).append(method)
    lines = ["- rows and when they were trained:"]
    for (date, revision, command), methods in groups.items():
        by_weighting: dict[str, list[str]] = {}
        for method in methods:
            by_weighting.setdefault(rows[method]["weighting"], []).append(f"`{method}`")
        weights = "; ".join(f"{', '.join(names)} {text}" for text, names in by_weighting.items())
        where = f"at commit {revision}" if revision else "before per-row records (commit not recorded)"
        lines.append(f"  - {', '.join(f'`{m}`' for m in methods)}: trained {date or 'date not recorded'} "
                     f"{where}, by `{portable(command or 'not recorded')}`; weighting: {weights}")
    return lines
