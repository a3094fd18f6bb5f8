"""The learning-rate schedule: a pure function, checked against the cosine formula."""

from __future__ import annotations

import math

import pytest

from ecl.engine.schedule import cosine_lr


def test_cosine_without_warmup_matches_the_formula() -> None:
    for progress in (0.0, 0.5, 1.0, 3.3, 7.9, 10.0):
        expected = 0.5 * 0.1 * (1 + math.cos(math.pi * progress / 10))
        assert cosine_lr(progress, 0.1, 10) == pytest.approx(expected)
    assert cosine_lr(0.0, 0.1, 10) == pytest.approx(0.1)
    assert cosine_lr(10.0, 0.1, 10) == pytest.approx(0.0, abs=1e-12)


def test_warmup_is_linear_then_cosine_from_the_peak() -> None:
    assert cosine_lr(1.0, 0.2, 10, warmup_epochs=4) == pytest.approx(0.05)
    assert cosine_lr(2.0, 0.2, 10, warmup_epochs=4) == pytest.approx(0.1)
    assert cosine_lr(4.0, 0.2, 10, warmup_epochs=4) == pytest.approx(0.2)
    assert cosine_lr(7.0, 0.2, 10, warmup_epochs=4) == pytest.approx(0.1)
    assert 0 < cosine_lr(0.0, 0.2, 10, warmup_epochs=4) < 0.01


def test_schedule_is_monotone_after_warmup() -> None:
    values = [cosine_lr(e / 10, 1.0, 20, warmup_epochs=2) for e in range(20, 200)]
    assert all(a >= b for a, b in zip(values, values[1:]))


@pytest.mark.parametrize("epochs, warmup", [(0, 0), (5, 5), (5, -1)])
def test_bad_arguments(epochs: int, warmup: int) -> None:
    with pytest.raises(ValueError):
        cosine_lr(0.0, 0.1, epochs, warmup)
