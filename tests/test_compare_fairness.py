"""Fair by default (issue 25): `ecl compare --tune auto` tries lr/3, lr, 3·lr per method and chooses on
validation; an untuned comparison says so (start-up, table.md, summary.json) and names each method's
loss weighting; every run states its classifier loss's effective rate lr × α."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

from conftest import FAST as FAST_OVERRIDES
from test_compare_tune import _fake_train_factory
from ecl.cli import main
from ecl.config import load_config
from ecl.engine.commands.compare import run_comparison
from ecl.engine.training.run_folder import RunFolder
from ecl.engine.commands.tuning import TuningError, expand_auto

FAST = ["data.name=digits-lt", "train.epochs=1", *FAST_OVERRIDES]
NOT_TUNED_TEXT = ("not tuned: one learning rate for every method; the differences compare settings as much "
                  "as methods")


def _cli(args: list[str]) -> str:
    """Run `ecl ARGS` and return what it printed on stderr (the comparison's log)."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(args) == 0
    return err.getvalue()


def _metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def untuned(tmp_path_factory):
    out = tmp_path_factory.mktemp("fair") / "untuned"
    log = _cli(["compare", "--methods", "bcl,ecl", "--seeds", "0", *FAST, f"out={out}"])
    return out, log


@pytest.fixture(scope="module")
def auto_tuned(tmp_path_factory):
    out = tmp_path_factory.mktemp("fair") / "auto"
    log = _cli(["compare", "--methods", "la,ecl", "--seeds", "0", "--tune", "auto", "data.val_per_class=5",
                *FAST, f"out={out}"])
    return out, log


@pytest.mark.slow
def test_untuned_comparison_says_so_and_names_the_weighting(untuned):
    out, log = untuned
    said = [line for line in log.splitlines() if line.startswith("[compare]") and NOT_TUNED_TEXT in line]
    assert len(said) == 1  # once, at the start (before the first run trains); table.md is printed at the end
    assert log.index(said[0]) < log.index("bcl/seed0: training")
    assert NOT_TUNED_TEXT in (out / "table.md").read_text()
    summary = json.loads((out / "summary.json").read_text())
    for method in ("bcl", "ecl"):
        setting = summary[method]["setting"]
        config = RunFolder(out / method / "seed0").read_config()  # the resolved config of the run
        last = _metrics(out / method / "seed0")[-1]
        assert setting["tuned"] is False and setting["note"] == NOT_TUNED_TEXT
        assert setting["lr"] == pytest.approx(config.train.lr) and setting["weighting"] == config.loss.weighting
        assert setting["weights"][0]["alpha"] == pytest.approx(last["weights/alpha"], abs=1e-6)
        assert setting["lr_classifier"][0] == pytest.approx(config.train.lr * last["weights/alpha"], rel=1e-5)
        # every metrics line carries lr × α of that epoch
        for line in _metrics(out / method / "seed0"):
            assert line["lr_classifier"] == pytest.approx(line["lr"] * line["weights/alpha"], rel=1e-6)
    bcl = RunFolder(out / "bcl" / "seed0").read_config()
    assert bcl.loss.weighting == "fixed"
    alpha = bcl.loss.alpha
    rate = f"classifier loss rate lr×α = {bcl.train.lr:g}×{alpha:g} = {bcl.train.lr * alpha:.4g}"
    assert rate in log  # bcl's start-up line: fixed weights are known before training
    ecl_alpha = _metrics(out / "ecl" / "seed0")[-1]["weights/alpha"]
    assert f"= {0.05:g}×{round(ecl_alpha, 2):g}" in log  # ecl's calibration line, once α is set
    table = (out / "table.md").read_text()
    assert f"- bcl: fixed α={alpha:.3g}" in table and "- ecl: auto, calibrated α=" in table


@pytest.mark.slow
def test_tune_auto_tries_three_learning_rates_per_method(auto_tuned):
    out, log = auto_tuned
    base_lr = load_config(None, FAST).train.lr
    expected = [base_lr / 3, base_lr, base_lr * 3]
    summary = json.loads((out / "summary.json").read_text())
    for method in ("la", "ecl"):
        record = summary[method]["tuning"]
        tried = [float(v) for v in record["grid"]["train.lr"]]
        assert tried == pytest.approx(expected, rel=1e-2)  # 3 significant digits in the run-folder names
        scores = []
        for value in record["grid"]["train.lr"]:
            run_dir = out / "tune" / method / f"train.lr={value}" / "seed100"
            assert RunFolder(run_dir).read_config().train.lr == pytest.approx(float(value))
            scores.append(_metrics(run_dir)[-1]["val/balanced_accuracy"])
        best = scores.index(max(scores))
        assert record["chosen"] == {"train.lr": record["grid"]["train.lr"][best]}
        assert "×" in record["rule"] and summary[method]["setting"]["tuned"] is True
        report = RunFolder(out / method / "seed0").read_config()
        assert report.train.lr == pytest.approx(tried[best])
        assert summary[method]["setting"]["lr"] == pytest.approx(tried[best])
    table = (out / "table.md").read_text()
    assert NOT_TUNED_TEXT not in table and "--tune auto: train.lr × 1/3, × 1, × 3" in table
    assert NOT_TUNED_TEXT not in log


# ---------------------------------------------------------------------------------------------
# without training


def test_expand_auto_is_the_lr_axis_around_the_configuration():
    assert expand_auto(["auto"], 0.05) == ["train.lr=0.0167,0.05,0.15"]
    assert expand_auto(["ecl:loss.temperature=0.07,0.1", " auto "], 0.3) == [
        "ecl:loss.temperature=0.07,0.1", "train.lr=0.1,0.3,0.9"]
    assert expand_auto(["train.lr=0.1,0.2"], 0.05) == ["train.lr=0.1,0.2"]


def test_tune_auto_with_an_lr_axis_is_refused(tmp_path):
    with pytest.raises(TuningError, match="train.lr given twice"):
        run_comparison(["la"], [0], overrides=[f"out={tmp_path / 'x'}", "data.val_per_class=5"],
                       tune=["auto", "train.lr=0.1,0.2"], log=lambda t: None)
    assert not (tmp_path / "x").exists()


def test_tune_auto_trains_the_same_three_rates_for_every_method(tmp_path, monkeypatch):
    import ecl.engine.commands.train as run_module

    calls: list = []
    monkeypatch.setattr(run_module, "train", _fake_train_factory(calls))  # validation: the higher lr the better
    lines: list[str] = []
    run_comparison(["ce", "ecl"], [0], overrides=[f"out={tmp_path}", "data.val_per_class=5", "train.lr=0.03"],
                   tune=["auto"], log=lines.append)
    configs = [RunFolder(path).read_config() for path in calls]
    runs = [(c.loss.method, float(c.train.lr), c.seed) for c in configs]
    assert sorted((m, lr) for m, lr, seed in runs if seed == 100) == sorted(
        (m, lr) for m in ("ce", "ecl") for lr in (0.01, 0.03, 0.09))
    assert sorted((m, lr) for m, lr, seed in runs if seed == 0) == [("ce", 0.09), ("ecl", 0.09)]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["ce"]["tuning"]["chosen"] == {"train.lr": "0.09"}
    assert summary["ce"]["tuning"]["grid"] == {"train.lr": ["0.01", "0.03", "0.09"]}
    assert summary["ecl"]["setting"]["tuned"] is True and summary["ecl"]["setting"]["lr"] == pytest.approx(0.09)
    assert not any("not tuned" in line for line in lines)
