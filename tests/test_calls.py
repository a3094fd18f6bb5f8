"""benchmarks/calls.py: paired-t p-values, the Holm correction and the verdict sentences of docs/RESULTS.md."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))

calls = pytest.importorskip("calls")
stats = pytest.importorskip("scipy.stats")


def test_holm_against_a_hand_computation():
    # m = 4, sorted: d 0.005 ≤ 0.05/4 = 0.0125 (reject), a 0.010 ≤ 0.05/3 = 0.0167 (reject),
    # c 0.030 > 0.05/2 = 0.025 (stop: c and b are kept although b 0.04 < 0.05)
    assert calls.holm({"a": 0.010, "b": 0.040, "c": 0.030, "d": 0.005}) == {"a", "d"}
    # untestable comparisons are not in the family: m = 2, 0.02 ≤ 0.025 and 0.04 ≤ 0.05
    assert calls.holm({"a": 0.02, "b": 0.04, "c": None}) == {"a", "b"}
    assert calls.holm({"a": 0.02, "b": 0.04, "c": 0.9}) == set()  # m = 3: 0.02 > 0.0167
    assert calls.holm({}) == set()


def _holm_adjusted(pvalues: dict) -> set:
    """Independent reference: Holm's adjusted p-values max_{j ≤ k} min(1, (m − j) p_(j)) ≤ α."""
    keys = sorted(pvalues, key=lambda k: pvalues[k])
    m, running, rejected = len(keys), 0.0, set()
    for j, key in enumerate(keys):
        running = max(running, min(1.0, (m - j) * pvalues[key]))
        if running <= 0.05:
            rejected.add(key)
    return rejected


def test_holm_matches_the_adjusted_p_value_form_on_random_families():
    rng = random.Random(0)
    for _ in range(200):
        family = {i: rng.random() ** 3 for i in range(rng.randint(1, 60))}
        assert calls.holm(family) == _holm_adjusted(family)


def test_paired_p_is_scipys_paired_t_test_and_untestable_cases_give_none():
    a, b = [0.80, 0.82, 0.79, 0.81, 0.83], [0.78, 0.80, 0.78, 0.80, 0.80]
    assert calls.paired_p(a, b) == pytest.approx(stats.ttest_rel(a, b).pvalue, rel=1e-9)
    assert calls.paired_p(a + [None], b + [0.5]) == pytest.approx(stats.ttest_rel(a, b).pvalue, rel=1e-9)
    assert calls.paired_p([0.8, 0.9], [0.7, 0.7]) is None  # fewer than 3 pairs
    assert calls.paired_p([0.8, 0.8, 0.8], [0.7, 0.7, 0.7]) is None  # zero spread


def test_family_calls_agree_with_the_interval_and_mark_holm_survivors():
    clear = ([0.90, 0.91, 0.92, 0.93, 0.94], [0.80, 0.805, 0.82, 0.825, 0.84])   # far above 0
    weak = ([0.80, 0.76, 0.83, 0.77, 0.82], [0.78, 0.80, 0.78, 0.80, 0.80])      # inside the noise
    family = calls.family({"clear": clear, "weak": weak, "flat": ([1.0] * 3, [1.0] * 3)})
    assert family["clear"].sign == 1 and family["clear"].holm and family["clear"].interval["low"] > 0
    assert family["weak"].sign == 0 and not family["weak"].holm
    assert family["flat"].p is None and family["flat"].sign == 0
    note = calls.family_note(family, "a test table")
    assert "the 2 paired comparisons of a test table (1 more untestable" in note
    assert "0.05 × 2 = 0.1 of them would exclude 0 by chance" in note and "1 do, and 1 survive" in note


def _call(sign: int, holm: bool = False, p: float | None = 0.01) -> "calls.Call":
    return calls.Call({"mean": 0.01 * sign, "low": 0.0, "high": 0.0, "n": 5}, p, sign, holm)


def test_verdict_line_reads_rival_minus_subject():
    # rival − ECL < 0 beyond the noise: ECL better; > 0: ECL worse
    outcomes = [("ce", _call(-1, holm=True)), ("la", _call(0, p=0.4)), ("bcl", _call(0, p=0.3)),
                ("supcon", _call(+1)), ("x", _call(0, p=None))]
    assert calls.verdict_line("ECL", outcomes) == (
        "ECL better than ce (Holm); inside the noise of la, bcl; worse than supcon; untestable against x")
    # lower is better (geometry): rival − ECL > 0 means ECL's value is lower, i.e. better
    assert calls.verdict_line("ECL", [("bcl", _call(+1))], higher_is_better=False) == "ECL better than bcl"


def test_methods_goal_section_marks_holm_and_generates_one_verdict_line_per_metric():
    methods = pytest.importorskip("methods")
    from ecl.evaluation.comparison import METRICS, summary_stats

    ecl = [0.80, 0.81, 0.79, 0.82, 0.80]
    shifts = {"ce": [-0.10, -0.11, -0.10, -0.12, -0.10], "la": [0.01, -0.02, 0.02, -0.01, 0.00],
              "bcl": [0.010, 0.012, 0.015, 0.011, 0.013]}
    rows = {"ecl": ecl, **{m: [e + s for e, s in zip(ecl, d)] for m, d in shifts.items()}}
    summary = {m: {k: summary_stats(v) for k in METRICS} for m, v in rows.items()}
    meta = {"imbalance_factor": 10, "epochs": 3, "seeds": [0, 1, 2, 3, 4]}
    text = "\n".join(methods._goal_section("toy-lt", summary, meta))
    assert "| balanced accuracy ≥ baseline | ce | ECL better | -10.60 pp [" in text and "] (Holm) |" in text
    assert "| balanced accuracy ≥ baseline | la | within noise |" in text
    lines = text.splitlines()
    assert "- bal. acc: ECL better than ce (Holm); inside the noise of la; worse than bcl (Holm)" in lines
    # FC/MS/SD: lower is better, so bcl's higher values make ECL better there
    assert "- MS ↓: ECL better than bcl (Holm); inside the noise of la; worse than ce (Holm)" in lines
    assert "the 27 paired comparisons of the toy-lt paired table" in text  # 3 rows × 9 metric columns
