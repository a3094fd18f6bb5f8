"""Shared fixtures: the fast overrides, and ONE trained 1-epoch run folder for the whole session.

`trained_run` is read-only (the inference and CLI tests read it); a test that writes into a run
folder (an export beside the checkpoint, a report) takes `run_copy`, its private copy.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

#: overrides that keep a test run short and quiet (no plots, no report, no bar, one thread)
FAST = ["eval.plots=false", "eval.report=false", "train.progress=false", "train.threads=1"]


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 1-epoch run of the default configuration (embedded digits-lt, CPU)."""
    from ecl.config import load_config
    from ecl.engine.commands.train import train

    out = tmp_path_factory.mktemp("trained") / "run"
    train(load_config(None, ["train.epochs=1", *FAST, f"out={out}"]), log=lambda text: None)
    return out


@pytest.fixture()
def run_copy(trained_run: Path, tmp_path: Path) -> Path:
    """A private copy of `trained_run` that the test may write into."""
    return Path(shutil.copytree(trained_run, tmp_path / "run"))
