"""The speed hint after the time estimate: only on a CPU, only over 15 minutes, naming the faster
choices that exist (a smaller data.image_size, a pretrained backbone) — no training."""

from __future__ import annotations

import pytest
import torch

from ecl.engine.training.progress import EpochProgress, speed_hint

MINUTE = 60.0


def test_no_hint_on_a_gpu_or_a_short_run():
    assert speed_hint(120 * MINUTE, "cuda", 224, False) is None
    assert speed_hint(15 * MINUTE, "cpu", 224, False) is None  # exactly 15 minutes: not over
    assert speed_hint(14 * MINUTE, "cpu", 238, False) is None


@pytest.mark.parametrize("size, from_weights, smaller, weights", [
    (238, False, "data.image_size=64", True),
    (238, True, "data.image_size=64", False),
    (48, False, "data.image_size=32", True),
    (32, False, None, True),
    (16, False, None, True),
])
def test_hint_names_the_choices_that_exist(size, from_weights, smaller, weights):
    hint = speed_hint(16 * MINUTE, "cpu", size, from_weights)
    assert hint is not None and hint.startswith("hint: ") and "\n" not in hint
    assert ("data.image_size=" in hint) == (smaller is not None)
    if smaller:
        assert smaller in hint
    assert ("model.weights" in hint) == weights


def test_hint_states_the_pixel_saving():
    assert "about 14× fewer pixels than 238 px" in speed_hint(20 * MINUTE, "cpu", 238, False)  # (238/64)² = 13.8


def test_no_hint_when_no_faster_choice_exists():
    assert speed_hint(60 * MINUTE, "cpu", 32, True) is None


def test_the_hint_follows_the_estimate_once():
    ticks = iter(float(t) for t in range(0, 10_000, 100))  # every clock reading is 100 s later
    loader = [(torch.zeros(2, 3, 2, 2), torch.zeros(2, dtype=torch.long)) for _ in range(4)]
    lines: list[str] = []
    seen: list[float] = []

    def hint(seconds: float) -> str:
        seen.append(seconds)
        return "hint: faster"

    progress = EpochProgress(loader, epoch=0, epochs=5, log=lines.append, interval=1e9,
                             clock=lambda: next(ticks), estimate=True, hint=hint)
    assert len(list(progress)) == 4
    # the estimate after the first step (100 s ≥ 5 s): 400 s per epoch, 2000 s for the 5 epochs to go
    assert lines == ["time estimate: ~6m40s per epoch, ~33m20s for the 5 epoch(s) to go (from the first 1 steps)",
                     "hint: faster"]
    assert seen == [2000.0]
