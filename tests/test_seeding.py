"""Seeds: every input of `derive_seed` and of each seed derivation changes what it seeds; each
epoch reseeds Python's, NumPy's and torch's global generators from (seed, epoch) alone; the
network's start from (seed, "init"). So a run resumed after a complete epoch — or after all of
them, with the final results missing — equals the uninterrupted run whatever state the global
generators are in at the resume (a checkpoint needs no generator state).

The data paths' seeds (views, order) per epoch, step, rank and image: tests/test_tensor_pipeline.py.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from conftest import FAST
from ecl.config import load_config
from ecl.engine.training import loop
from ecl.engine.training.epoch import EpochResult
from ecl.seeding import derive_seed

PARTS = (7, 3, 12, 1, "views")  # seed, epoch, step, rank, purpose


def test_derive_seed_changes_with_each_part_and_is_63_bit() -> None:
    base = derive_seed(*PARTS)
    assert 0 <= base < 2**63 and derive_seed(*PARTS) == base
    changed = [PARTS[:i] + (value,) + PARTS[i + 1:] for i, value in enumerate((8, 4, 13, 0, "loader"))]
    seeds = {derive_seed(*parts) for parts in changed} | {base}
    assert len(seeds) == len(changed) + 1  # each part on its own changes the seed
    assert derive_seed(7, 3) != derive_seed(3, 7) and derive_seed(7, 3) != derive_seed(7, 3, 0)
    assert derive_seed(1) != derive_seed("1")


def test_derive_seed_is_the_same_in_another_process() -> None:
    """Not Python's salted hash(): another interpreter (another PYTHONHASHSEED) derives the same seed."""
    code = "from ecl.seeding import derive_seed; print(derive_seed(7, 3, 12, 1, 'views'))"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert int(out.stdout) == derive_seed(*PARTS)


def _scramble_global_generators() -> None:
    random.seed(991)
    np.random.seed(992)
    torch.manual_seed(993)
    random.random(), np.random.rand(5), torch.rand(7)


def _draws_in_epoch(seed: int, epoch: int, monkeypatch: pytest.MonkeyPatch) -> tuple[float, float, float]:
    """(Python, NumPy, torch) first draws inside `loop._run_epoch`'s training of `epoch`."""
    seen = []

    def fake_train_one_epoch(ctx, loader, e, control):
        seen.append((random.random(), float(np.random.rand()), float(torch.rand(1))))
        return EpochResult(means={}, images=0, steps=0, nonfinite_steps=0, seconds=1.0, lr=0.1)

    monkeypatch.setattr(loop, "train_one_epoch", fake_train_one_epoch)
    ctx = SimpleNamespace(config=SimpleNamespace(seed=seed), loader=SimpleNamespace(train_epoch=lambda e: None),
                          objective=SimpleNamespace(weighting="fixed"))
    loop._run_epoch(ctx, run=None, epoch=epoch, stop=loop.StopFlag(), control=loop.EpochControl())
    return seen[0]


def test_each_epoch_reseeds_every_global_generator_from_seed_and_epoch(monkeypatch) -> None:
    first = _draws_in_epoch(0, 4, monkeypatch)
    _scramble_global_generators()
    assert _draws_in_epoch(0, 4, monkeypatch) == first  # the state before the epoch plays no part
    for other in (_draws_in_epoch(0, 5, monkeypatch), _draws_in_epoch(1, 4, monkeypatch)):
        assert all(a != b for a, b in zip(first, other))  # Python's, NumPy's and torch's all reseeded


def test_network_start_follows_the_seed_alone() -> None:
    from ecl.data import build_datasets
    from ecl.engine.training.context import build_run

    config = load_config(None, FAST)
    bundle = build_datasets(config.data)

    def start(seed: int) -> list[torch.Tensor]:
        config.seed = seed
        return [p.detach().clone() for p in build_run(config, bundle, device=torch.device("cpu")).network.parameters()]

    first = start(0)
    _scramble_global_generators()
    assert all(torch.equal(a, b) for a, b in zip(first, start(0)))
    assert any(not torch.equal(a, b) for a, b in zip(first, start(1)))


class _Stopped(Exception):
    """Raised after the first epoch's checkpoint and metrics line: a kill between epochs."""


@pytest.mark.slow
@pytest.mark.parametrize("pipeline", ["tensor", "pil"])
def test_resume_equals_the_uninterrupted_run_whatever_the_generators_state(tmp_path: Path, monkeypatch,
                                                                           pipeline: str) -> None:
    """A 2-epoch run stopped after epoch 1, and one stopped before its final results, resumed with
    the global generators scrambled right after the checkpoint is restored: both end with the
    uninterrupted run's final.json (so restoring a generator state on resume would protect nothing)."""
    from ecl.engine.commands import train as train_module

    def config(out: Path):
        return load_config(None, ["train.epochs=2", f"data.pipeline={pipeline}", *FAST, f"out={out}"])

    quiet = dict(log=lambda text: None)
    whole = train_module.train(config(tmp_path / "whole"), **quiet)
    assert whole == json.loads((tmp_path / "whole" / "final.json").read_text())

    report = loop._report
    monkeypatch.setattr(loop, "_report", lambda *a: (report(*a), (_ for _ in ()).throw(_Stopped()))[0])
    with pytest.raises(_Stopped):
        train_module.train(config(tmp_path / "cut"), **quiet)
    monkeypatch.setattr(loop, "_report", report)
    assert not (tmp_path / "cut" / "final.json").exists()

    restore = train_module._restore
    monkeypatch.setattr(train_module, "_restore", lambda *a: (restore(*a), _scramble_global_generators())[0])
    assert train_module.train(resume=tmp_path / "cut", **quiet) == whole

    unfinished = Path(shutil.copytree(tmp_path / "whole", tmp_path / "unfinished"))
    (unfinished / "final.json").unlink()
    assert train_module.train(resume=unfinished, **quiet) == whole
