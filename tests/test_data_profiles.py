"""Long-tail profiles and the per-class selection, against brute-force restatements."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ecl.data import class_counts, long_tail_counts, select_long_tail
from ecl.evaluation.metrics import shot_groups


@pytest.mark.parametrize("max_count, classes, imbalance", [(500, 10, 100), (124, 10, 10), (400, 10, 100), (37, 7, 3.5)])
def test_exp_profile_brute_force(max_count, classes, imbalance):
    counts = long_tail_counts(max_count, classes, imbalance, "exp")
    for c, n in enumerate(counts):
        exact = max_count * math.exp(-math.log(imbalance) * c / (classes - 1))
        assert n == math.floor(exact) or (abs(exact - round(exact)) < 1e-9 and n in (round(exact), round(exact) - 1))
    assert counts[0] == max_count and all(a >= b for a, b in zip(counts, counts[1:]))


@pytest.mark.parametrize("classes", [2, 3, 10, 11])
def test_step_profile_brute_force(classes):
    counts = long_tail_counts(200, classes, 10, "step")
    for c, n in enumerate(counts):
        assert n == (200 if c < classes // 2 else 20)


def test_select_long_tail_brute_force():
    rng = np.random.default_rng(3)
    targets = rng.integers(0, 4, 300)
    counts = [50, 20, 7, 1]
    kept = select_long_tail(targets, counts, seed=0)
    assert len(set(kept.tolist())) == len(kept) == sum(min(n, int((targets == c).sum())) for c, n in enumerate(counts))
    for c, n in enumerate(counts):
        assert int((targets[kept] == c).sum()) == n
    # classes come out in label order
    assert targets[kept].tolist() == sorted(targets[kept].tolist())
    # a class with fewer images than asked keeps them all
    assert len(select_long_tail(np.array([0, 0, 1]), [1, 5])) == 2


def test_class_counts_and_shot_groups_loops():
    labels = [2, 2, 0, 5, 2]
    assert class_counts(labels, 6) == [sum(1 for v in labels if v == c) for c in range(6)]
    counts = [500, 101, 100, 20, 19, 1]
    expected = {"many": [], "medium": [], "few": []}
    for c, n in enumerate(counts):  # one meaning: class indices by training count
        expected["many" if n > 100 else "few" if n < 20 else "medium"].append(c)
    assert shot_groups(counts, 100, 20) == expected == {"many": [0, 1], "medium": [2, 3], "few": [4, 5]}
