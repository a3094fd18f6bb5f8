"""Calls read from paired seed differences, shared by methods.py, fashion_study.py and fashion_probes.py.

Every verdict sentence of docs/RESULTS.md is generated here from the numbers, never written by hand:
- ``paired_p``: the two-sided paired-t p-value of a − b over seeds (the same differences, n − 1
  degrees of freedom, as ``ecl.evaluation.comparison.paired_interval``; p < 0.05 exactly when the
  95 % interval excludes 0);
- ``holm``: the Holm–Bonferroni step-down over one table's family of comparisons;
- ``family``: every comparison of a table with its interval, p-value, direction and Holm mark;
- ``family_note`` and ``verdict_line``: the sentences the page prints.

A comparison is *untestable* (no p-value, left out of the family) with fewer than 3 paired seeds or
zero spread of the differences, the table's rule for drawing no star.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Hashable, Mapping, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from ecl.evaluation.comparison import paired_interval  # noqa: E402

ALPHA = 0.05
MIN_PAIRS = 3
HOLM_MARK = " (Holm)"


def paired_p(a: Sequence[float | None], b: Sequence[float | None]) -> float | None:
    """Two-sided paired-t p-value of a − b (pairs with a None dropped); None when untestable."""
    from scipy import stats

    diffs = [float(x) - float(y) for x, y in zip(a, b, strict=True) if x is not None and y is not None]
    n = len(diffs)
    if n < MIN_PAIRS:
        return None
    mean = math.fsum(diffs) / n
    sd = math.sqrt(math.fsum((d - mean) ** 2 for d in diffs) / (n - 1))
    if sd <= 1e-12 * max(1.0, abs(mean)):
        return None
    return float(2.0 * stats.t.sf(abs(mean / (sd / math.sqrt(n))), n - 1))


def holm(pvalues: Mapping[Hashable, float | None], alpha: float = ALPHA) -> set[Hashable]:
    """The keys whose null hypothesis Holm's step-down rejects at family-wise level `alpha`.

    The family is every key with a p-value (None: untestable, not in the family). Sorted by p
    ascending, the k-th smallest (k = 0, 1, …) is rejected while p ≤ alpha / (m − k); the first
    that fails stops the procedure.
    """
    ordered = sorted(((p, i, key) for i, (key, p) in enumerate(pvalues.items()) if p is not None),
                     key=lambda item: (item[0], item[1]))
    rejected: set[Hashable] = set()
    for k, (p, _, key) in enumerate(ordered):
        if p > alpha / (len(ordered) - k):
            break
        rejected.add(key)
    return rejected


@dataclass(frozen=True)
class Call:
    """One paired comparison a − b: interval (``paired_interval``), p-value, sign, Holm mark."""

    interval: dict | None
    p: float | None
    sign: int  # +1: a above b beyond the noise (interval above 0), −1: below, 0: inside the noise / untestable
    holm: bool


def family(pairs: Mapping[Hashable, tuple[Sequence, Sequence]], alpha: float = ALPHA) -> dict[Hashable, Call]:
    """{key: Call} of one table's comparisons {key: (a values, b values)}, Holm over all of them."""
    intervals = {key: paired_interval(a, b) for key, (a, b) in pairs.items()}
    pvalues = {key: paired_p(a, b) for key, (a, b) in pairs.items()}
    survivors = holm(pvalues, alpha)
    calls = {}
    for key, interval in intervals.items():
        p = pvalues[key]
        sign = 0 if p is None or p >= alpha else (1 if interval["mean"] > 0 else -1)
        calls[key] = Call(interval, p, sign, key in survivors)
    return calls


def family_note(calls: Mapping[Hashable, Call], what: str) -> str:
    """The sentence on a family: size, false positives expected by chance, calls, Holm survivors."""
    tested = [c for c in calls.values() if c.p is not None]
    untested = len(calls) - len(tested)
    excluded = sum(c.sign != 0 for c in tested)
    survivors = sum(c.holm for c in tested)
    return (f"Family: the {len(tested)} paired comparisons of {what}"
            + (f" ({untested} more untestable: fewer than {MIN_PAIRS} seeds or zero spread)" if untested else "")
            + f". If no method differed, about 0.05 × {len(tested)} = {ALPHA * len(tested):.1f} of them would "
            f"exclude 0 by chance at 95 %; {excluded} do, and {survivors} survive a Holm correction over the "
            f"family (marked{HOLM_MARK}).")


def word(call: Call | None, higher_is_better: bool = True) -> str:
    """'better' / 'worse' / 'inside the noise' / 'untestable' for the subject b of a − b."""
    if call is None or call.p is None:
        return "untestable"
    if call.sign == 0:
        return "inside the noise"
    # a − b < 0 beyond the noise: b (the subject) is higher
    return "better" if (call.sign < 0) == higher_is_better else "worse"


def verdict_line(subject: str, outcomes: Sequence[tuple[str, Call | None]], higher_is_better: bool = True,
                 words: tuple[str, str] = ("better than", "worse than"), same: str = "inside the noise of") -> str:
    """'ECL better than ce (Holm), la; inside the noise of bcl; worse than supcon' from rival − subject calls
    (`words`: the better/worse phrases, `same`: the inside-the-noise phrase)."""
    groups: dict[str, list[str]] = {"better": [], "inside the noise": [], "worse": [], "untestable": []}
    for name, call in outcomes:
        groups[word(call, higher_is_better)].append(name + (HOLM_MARK if call is not None and call.holm else ""))
    parts = []
    if groups["better"]:
        parts.append(f"{words[0]} {', '.join(groups['better'])}")
    if groups["inside the noise"]:
        parts.append(f"{same} {', '.join(groups['inside the noise'])}")
    if groups["worse"]:
        parts.append(f"{words[1]} {', '.join(groups['worse'])}")
    if groups["untestable"]:
        parts.append(f"untestable against {', '.join(groups['untestable'])}")
    return f"{subject} " + "; ".join(parts)


def interval_text(call: Call | None, scale: float = 100.0, unit: str = " pp") -> str:
    """'+0.57 [+0.10, +1.05] pp' (+ Holm mark) of a call, or 'n/a'."""
    if call is None or call.interval is None:
        return "n/a"
    i = call.interval
    if i["low"] is None:
        return f"{scale * i['mean']:+.2f}{unit} (one seed)"
    return (f"{scale * i['mean']:+.2f} [{scale * i['low']:+.2f}, {scale * i['high']:+.2f}]{unit}"
            + (HOLM_MARK if call.holm else ""))
