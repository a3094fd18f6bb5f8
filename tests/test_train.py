"""`ecl train` end to end on the embedded digits-lt data: the run folder, resume after SIGKILL,
torchrun with two gloo processes, and bad configurations rejected before training."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import FAST
from ecl.config import load_config
from ecl.engine.commands.train import train

pytestmark = pytest.mark.slow

ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}


def ecl_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "ecl", *args]


def run_ecl(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(ecl_command(*args), capture_output=True, text=True, timeout=timeout, env=ENV)


@pytest.fixture(scope="module")
def two_epoch_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "digits"
    config = load_config(None, ["train.epochs=2", "train.progress=false", "train.threads=1", f"out={out}"])
    train(config, log=lambda text: None)
    return out


def test_run_folder_holds_the_documented_files(two_epoch_run: Path) -> None:
    out = two_epoch_run
    for name in ("config.yaml", "metrics.jsonl", "final.json", "data.json", "split.json",
                 "checkpoints/last.pt", "report.html"):
        assert (out / name).is_file(), name
    assert sorted(p.name for p in (out / "plots").glob("*.png"))
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2]
    for record in records:
        for key in ("lr", "loss/lc", "loss/contrastive", "loss/ccge", "loss/total", "weights/alpha",
                    "weights/beta", "weights/gamma", "eval/top1", "eval/balanced_accuracy", "seconds"):
            assert key in record, key
    # auto weights: 1 during the first epoch, then round(0.7/0.3/0.5 over the first epoch's means, 2)
    assert records[0]["weights/alpha"] == pytest.approx(round(0.7 / records[0]["loss/lc"], 2), abs=1e-6)
    assert records[0]["weights/beta"] == pytest.approx(round(0.3 / records[0]["loss/contrastive"], 2), abs=1e-6)
    assert records[0]["weights/gamma"] == pytest.approx(round(0.5 / records[0]["loss/ccge"], 2), abs=1e-6)
    final = json.loads((out / "final.json").read_text())
    for key in ("top1", "balanced_accuracy", "macro_f1", "many", "medium", "few", "per_class_accuracy",
                "geometry", "method", "dataset", "epochs", "seed"):
        assert key in final, key
    assert set(final["geometry"]) == {"FC", "MS", "SD"}
    assert 0.0 <= final["top1"] <= 1.0 and len(final["per_class_accuracy"]) == 10
    assert (final["method"], final["dataset"], final["epochs"], final["seed"]) == ("ecl", "digits-lt", 2, 0)
    assert final["balanced_accuracy"] == pytest.approx(records[-1]["eval/balanced_accuracy"])
    state = torch.load(out / "checkpoints" / "last.pt", weights_only=True)
    assert state["epoch"] == 2 and state["classes"] == final["classes"]
    data = json.loads((out / "data.json").read_text())
    assert data["train_counts"] == final["train_counts"]


def test_existing_folder_is_never_overwritten(two_epoch_run: Path, tmp_path: Path) -> None:
    before = (two_epoch_run / "final.json").read_bytes()
    result = run_ecl("train", f"out={two_epoch_run}", *FAST)
    assert result.returncode == 2 and "--resume" in result.stderr and "Traceback" not in result.stderr
    assert (two_epoch_run / "final.json").read_bytes() == before
    mine = tmp_path / "my_documents"
    mine.mkdir()
    (mine / "thesis.tex").write_text("precious")
    result = run_ecl("train", "--overwrite", f"out={mine}", *FAST)
    assert result.returncode == 2 and "not an ecl run folder" in result.stderr
    assert (mine / "thesis.tex").read_text() == "precious"


def _wait_for_lines(path: Path, count: int, proc: subprocess.Popen, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and len(path.read_text().splitlines()) >= count:
            return
        if proc.poll() is not None:
            raise AssertionError(f"training ended early: {proc.stderr.read() if proc.stderr else ''}")
        time.sleep(0.05)
    raise AssertionError("timed out waiting for metrics.jsonl")


@pytest.mark.parametrize("pipeline", ["pil", "tensor"])
def test_sigkill_then_resume_gives_the_same_final_json(tmp_path: Path, pipeline: str) -> None:
    args = ["train.epochs=4", f"data.pipeline={pipeline}", *FAST]
    reference = tmp_path / "reference"
    assert run_ecl("train", *args, f"out={reference}").returncode == 0
    killed = tmp_path / "killed"
    proc = subprocess.Popen(ecl_command("train", *args, f"out={killed}"), env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_lines(killed / "metrics.jsonl", 2, proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert not (killed / "final.json").exists()
    state = torch.load(killed / "checkpoints" / "last.pt", weights_only=True)
    assert 2 <= state["epoch"] < 4
    resumed = run_ecl("train", "--resume", str(killed))
    assert resumed.returncode == 0, resumed.stderr
    expected = json.loads((reference / "final.json").read_text())
    got = json.loads((killed / "final.json").read_text())
    assert got == expected
    lines = [json.loads(line) for line in (killed / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2, 3, 4]


def test_torchrun_two_gloo_processes_write_one_run_folder(tmp_path: Path) -> None:
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or shutil.which("torchrun")
    if torchrun is None:
        pytest.skip("torchrun not found")
    out = tmp_path / "ddp"
    result = subprocess.run(
        [torchrun, "--standalone", "--nproc_per_node=2", "-m", "ecl", "train", "train.epochs=1",
         "train.device=cpu", *FAST, f"out={out}"],
        capture_output=True, text=True, timeout=300, env=ENV,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    final = json.loads((out / "final.json").read_text())
    assert sum(final["eval_counts"]) == 500  # every test image counted once
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 1  # rank 0 alone writes
    data = json.loads((out / "data.json").read_text())
    assert data["distributed"] == {"world_size": 2, "backend": "gloo"}  # the run folder records how it ran
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ddp"]


@pytest.mark.parametrize(
    "args, needle",
    [
        (["train.batch_size=-1"], "train.batch_size"),
        (["data.name=imagenet"], "data.name"),
        (["loss.method=focal"], "loss.method"),
        (["--config", "nope.yaml"], "nope.yaml"),
        (["data.name=cifar10-lt", "data.root=/nonexistent/cifar"], "/nonexistent/cifar"),
    ],
)
def test_bad_configs_fail_before_training_without_traceback(tmp_path: Path, args: list[str],
                                                            needle: str) -> None:
    out = tmp_path / "run"
    result = run_ecl("train", *args, f"out={out}")
    assert result.returncode == 2
    assert needle in result.stderr and "Traceback" not in result.stderr
    assert not (out / "checkpoints" / "last.pt").exists()


def test_ecl_without_subcommand_prints_help() -> None:
    result = run_ecl()
    assert result.returncode == 0 and "train" in result.stdout and "usage" in result.stdout.lower()


@pytest.mark.parametrize("method", ["ce", "supcon", "bcl"])
def test_baselines_and_bf16_train_one_epoch(tmp_path: Path, method: str) -> None:
    """Every objective family trains; bf16 autocast on the CPU keeps the losses finite."""
    out = tmp_path / method
    config = load_config(None, ["train.epochs=1", f"loss.method={method}", "train.precision=bf16",
                                *FAST, f"out={out}"])
    final = train(config, log=lambda text: None)
    record = json.loads((out / "metrics.jsonl").read_text().splitlines()[0])
    expected = {"ce": {"lc"}, "supcon": {"lc", "contrastive"}, "bcl": {"lc", "contrastive"}}[method]
    assert {k.split("/")[1] for k in record if k.startswith("loss/")} - {"total"} == expected
    assert all(v == v and abs(v) < 1e6 for k, v in record.items() if k.startswith("loss/"))
    assert final["method"] == method


def test_geometry_every_k_epochs_goes_into_metrics(tmp_path: Path) -> None:
    out = tmp_path / "geo"
    config = load_config(None, ["train.epochs=2", "eval.geometry_every=2", *FAST, f"out={out}"])
    final = train(config, log=lambda text: None)
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert "geometry/FC" not in records[0]
    # the last epoch's geometry is that of the final model: the same numbers as final.json
    for key in ("FC", "MS", "SD"):
        assert records[1][f"geometry/{key}"] == pytest.approx(final["geometry"][key], rel=1e-9)


@pytest.mark.parametrize("method", ["la", "ce"])
def test_single_loss_methods_train_at_weight_one_in_epoch_two(method: str, tmp_path: Path) -> None:
    """`ecl train loss.method=la|ce train.epochs=2`: the weight in force in epoch 2 is 1.0 (issue 21:
    the authors' auto weight on a single loss was only a hidden learning-rate cut)."""
    from ecl.cli import main

    out = tmp_path / method
    assert main(["train", f"loss.method={method}", "train.epochs=2", *FAST, f"out={out}"]) == 0
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2]
    for record in records:
        assert record["weights/alpha"] == 1.0
        assert record["loss/total"] == pytest.approx(record["loss/lc"], rel=1e-6)  # total = 1·L
