"""The learning-rate schedule: a pure function, checked against the cosine formula."""

from __future__ import annotations

import math

import pytest

from ecl.engine.training.schedule import cosine_lr


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


# --- the authors' per-epoch schedule (adjust_lr in ProConDual/ECL main_cifar.py) -------------------

from ecl.engine.training.schedule import SCHEDULES, epoch_cosine_lr, lr_at  # noqa: E402


@pytest.mark.parametrize("epoch", [0, 1, 50, 99, 150, 198, 199])
def test_epoch_cosine_matches_the_authors_formula(epoch: int) -> None:
    lr, epochs = 0.15, 200
    expected = lr * 0.5 * (1.0 + math.cos(math.pi * (epoch + 1) / (epochs + 1)))
    assert epoch_cosine_lr(epoch, lr, epochs) == pytest.approx(expected, rel=1e-12)


def test_epoch_cosine_chosen_values() -> None:
    # E = 3: lr·½(1+cos(π/4)), lr·½(1+cos(π/2)) = lr/2, lr·½(1+cos(3π/4))
    assert epoch_cosine_lr(0, 1.0, 3) == pytest.approx(0.5 + 0.5 * math.sqrt(0.5))
    assert epoch_cosine_lr(1, 1.0, 3) == pytest.approx(0.5)
    assert epoch_cosine_lr(2, 1.0, 3) == pytest.approx(0.5 - 0.5 * math.sqrt(0.5))
    # the first epoch already runs below lr, the last one above 0
    assert 0 < epoch_cosine_lr(199, 0.15, 200) < epoch_cosine_lr(0, 0.15, 200) < 0.15


def test_epoch_cosine_with_warmup_follows_adjust_lr() -> None:
    lr, epochs, w = 0.2, 10, 2
    assert epoch_cosine_lr(0, lr, epochs, w) == pytest.approx(0.1)  # lr/w·(e+1)
    assert epoch_cosine_lr(1, lr, epochs, w) == pytest.approx(0.2)
    for e in range(2, 10):
        expected = lr * 0.5 * (1 + math.cos(math.pi * (e - w + 1) / (epochs - w + 1)))
        assert epoch_cosine_lr(e, lr, epochs, w) == pytest.approx(expected)


def test_lr_at_dispatches_and_is_constant_within_an_epoch() -> None:
    assert SCHEDULES == ("cosine_epoch", "cosine_step")
    per_epoch = {lr_at("cosine_epoch", 4, step, 7, 0.1, 10) for step in range(7)}
    assert per_epoch == {epoch_cosine_lr(4, 0.1, 10)}
    assert lr_at("cosine_step", 2, 3, 6, 0.1, 10) == pytest.approx(cosine_lr(2.5, 0.1, 10))
    with pytest.raises(ValueError, match="train.schedule"):
        lr_at("step", 0, 0, 1, 0.1, 10)
