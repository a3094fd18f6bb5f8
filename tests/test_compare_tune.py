"""`ecl compare --tune`: a real tiny grid on digits-lt (choice = argmax of the validation scores read
back from the runs' metrics files), resumption, selection by validation never by test (a fake
training where they disagree), equal grid sizes, the validation-split requirement."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import FAST as FAST_OVERRIDES
from ecl.cli import main
from ecl.config import ConfigError
from ecl.engine.commands.compare import ComparisonError, run_comparison
from ecl.engine.training.run_folder import RunFolder
from ecl.engine.commands.tuning import TuningError, choose, combination_label, method_grids
from ecl.evaluation.comparison import format_table, summarize

FAST = ["train.epochs=1", "data.val_per_class=8", *FAST_OVERRIDES]
LRS = ("0.01", "0.2")


def _val_scores_from_files(run_dirs: list[Path]) -> list[float]:
    """The last metrics.jsonl line's val/balanced_accuracy of each run, parsed here independently."""
    scores = []
    for run_dir in run_dirs:
        lines = [json.loads(line) for line in RunFolder(run_dir).metrics_file.read_text().splitlines() if line.strip()]
        scores.append(float(lines[-1]["val/balanced_accuracy"]))
    return scores


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    """A real tuned comparison: la and ecl, lr ∈ {0.01, 0.2}, tuning seed 100, report seed 0, 1 epoch."""
    out = tmp_path_factory.mktemp("tune") / "out"
    code = main(["compare", "--methods", "la,ecl", "--seeds", "0", "--tune", f"train.lr={','.join(LRS)}",
                 *FAST, f"out={out}"])
    assert code == 0
    return out


@pytest.mark.slow
def test_chosen_value_is_validation_argmax(tuned):
    summary = json.loads((tuned / "summary.json").read_text())
    for method in ("la", "ecl"):
        record = summary[method]["tuning"]
        assert record["grid"] == {"train.lr": list(LRS)}
        assert record["tune_seeds"] == [100]
        runs = [tuned / "tune" / method / f"train.lr={lr}" / "seed100" for lr in LRS]
        scores = _val_scores_from_files(runs)
        assert [row["mean"] for row in record["scores"]] == pytest.approx(scores)
        best = scores.index(max(scores))  # first maximum: ties go to the first in grid order
        assert record["chosen"] == {"train.lr": LRS[best]} and record["chosen_index"] == best
        # the report run was trained with the chosen value, on the report seed
        config = RunFolder(tuned / method / "seed0").read_config()
        assert config.train.lr == pytest.approx(float(LRS[best])) and config.seed == 0
        assert RunFolder(runs[0]).read_config().seed == 100
    table = (tuned / "table.md").read_text()
    assert "| method | tuned |" in table and "## Tuning (validation, never test)" in table
    chosen_la = summary["la"]["tuning"]["chosen"]["train.lr"]
    assert f"| la | lr={chosen_la} |" in table
    assert json.loads((tuned / "tuning.json").read_text())["ecl"] == summary["ecl"]["tuning"]


@pytest.mark.slow
def test_rerun_skips_finished_and_retrains_only_missing(tuned, monkeypatch):
    import ecl.engine.commands.train as run_module

    calls = []
    real_train = run_module.train

    def spy(*args, **kwargs):
        calls.append(Path(kwargs["resume"]) if kwargs.get("resume") else Path(args[0].out))
        return real_train(*args, **kwargs)

    monkeypatch.setattr(run_module, "train", spy)
    args = (["la", "ecl"], [0])
    kwargs = dict(overrides=[*FAST, f"out={tuned}"], tune=[f"train.lr={','.join(LRS)}"], log=lambda t: None)
    run_comparison(*args, **kwargs)
    assert calls == []
    # one tuning run removed: only it is trained again, and the choice is recomputed from the files
    lost = tuned / "tune" / "ecl" / f"train.lr={LRS[1]}" / "seed100"
    for path in (RunFolder(lost).final_file, RunFolder(lost).last_checkpoint):
        path.unlink()
    result = run_comparison(*args, **kwargs)
    assert calls == [lost]
    scores = _val_scores_from_files([tuned / "tune" / "ecl" / f"train.lr={lr}" / "seed100" for lr in LRS])
    assert result["summary"]["ecl"]["tuning"]["chosen_index"] == scores.index(max(scores))


# ---------------------------------------------------------------------------------------------
# a fake training: validation and test disagree on purpose


def _fake_train_factory(calls: list, with_val: bool = True):
    def fake_train(config=None, *, resume=None, overwrite=False, log=None):
        run = RunFolder(config.out)
        calls.append(run.path)
        run.path.mkdir(parents=True, exist_ok=True)
        run.write_config(config)
        lr, wd = float(config.train.lr), float(config.train.weight_decay)
        val = 0.3 + lr + 10 * wd + 0.001 * config.seed  # higher lr / wd: better on validation ...
        test = 0.9 - lr - 10 * wd  # ... and worse on test
        record = {"epoch": 1, "lr": lr}
        if with_val:
            record["val/balanced_accuracy"] = val
        run.append_metrics(record)
        final = {"top1": test, "balanced_accuracy": test, "macro_f1": test, "many": test, "medium": test,
                 "few": test, "geometry": {"FC": 1.0, "MS": 0.5, "SD": 0.5}}
        run.write_final(final)
        return final
    return fake_train


def test_selection_uses_validation_not_test_with_method_axes(tmp_path, monkeypatch):
    import ecl.engine.commands.train as run_module

    calls: list = []
    monkeypatch.setattr(run_module, "train", _fake_train_factory(calls))
    out = tmp_path / "cmp"
    tune = ["train.lr=0.05,0.1", "ce:train.weight_decay=0.001,0.0001", "ecl:loss.temperature=0.07,0.1"]
    common = dict(overrides=[f"out={out}", "data.val_per_class=5"], tune=tune, tune_seeds=[100, 101],
                  log=lambda t: None)
    result = run_comparison(["ce", "ecl"], [0, 1], stage="tune", **common)
    assert len(calls) == 2 * 4 * 2 and not (out / "summary.json").exists()
    assert result["tuning"]["ce"]["chosen"] == {"train.lr": "0.1", "train.weight_decay": "0.001"}
    assert result["tuning"]["ecl"]["chosen"] == {"train.lr": "0.1", "loss.temperature": "0.07"}  # tie → first
    calls.clear()
    result = run_comparison(["ce", "ecl"], [0, 1], stage="report", **common)
    assert len(calls) == 2 * 2  # report runs only
    summary = json.loads((out / "summary.json").read_text())
    ce = summary["ce"]["tuning"]
    assert [row["label"] for row in ce["scores"]] == [
        "train.lr=0.05+train.weight_decay=0.001", "train.lr=0.05+train.weight_decay=0.0001",
        "train.lr=0.1+train.weight_decay=0.001", "train.lr=0.1+train.weight_decay=0.0001"]
    expected = [0.3 + lr + 10 * wd + 0.1005 for lr in (0.05, 0.1) for wd in (0.001, 0.0001)]
    assert [row["mean"] for row in ce["scores"]] == pytest.approx(expected)
    # the test set would have picked the other corner: the choice is the validation one
    assert summary["ce"]["balanced_accuracy"]["mean"] == pytest.approx(0.9 - 0.1 - 0.01)
    assert RunFolder(out / "ecl" / "seed1").read_config().loss.temperature == pytest.approx(0.07)
    table = (out / "table.md").read_text()
    assert "| ce | lr=0.1, weight_decay=0.001 |" in table and "| ecl | lr=0.1, temperature=0.07 |" in table


def test_report_stage_needs_finished_tuning(tmp_path, monkeypatch):
    import ecl.engine.commands.train as run_module

    calls: list = []
    monkeypatch.setattr(run_module, "train", _fake_train_factory(calls))
    with pytest.raises(ComparisonError, match="tuning stage first"):
        run_comparison(["la"], [0], overrides=[f"out={tmp_path}", "data.val_per_class=5"],
                       tune=["train.lr=0.05,0.1"], stage="report", log=lambda t: None)
    assert calls == []


def test_missing_validation_metric_is_an_error(tmp_path, monkeypatch):
    import ecl.engine.commands.train as run_module

    monkeypatch.setattr(run_module, "train", _fake_train_factory([], with_val=False))
    with pytest.raises(TuningError, match="val/balanced_accuracy.*data.val_per_class"):
        run_comparison(["la"], [0], overrides=[f"out={tmp_path}", "data.val_per_class=5"],
                       tune=["train.lr=0.05,0.1"], log=lambda t: None)


# ---------------------------------------------------------------------------------------------
# errors before anything trains


def test_unequal_grid_sizes_rejected(tmp_path, capsys):
    out = tmp_path / "never"
    code = main(["compare", "--methods", "ce,ecl", "--seeds", "0", "--tune", "train.lr=0.05,0.1",
                 "--tune", "ecl:loss.temperature=0.07,0.1", "data.val_per_class=5", f"out={out}"])
    assert code == 2
    err = capsys.readouterr().err
    assert "same number of combinations" in err and "ce: 2" in err and "ecl: 4" in err
    assert not out.exists()


def test_no_validation_split_rejected(tmp_path, capsys):
    out = tmp_path / "never"
    code = main(["compare", "--methods", "la", "--seeds", "0", "--tune", "train.lr=0.05,0.1", f"out={out}"])
    assert code == 2
    assert "data.val_per_class" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("spec, message", [
    ("train.lr", "KEY=V1"),
    ("seed=1,2", "cannot be tuned"),
    ("bcl:train.lr=0.1,0.2", "not in --methods"),
    ("train.lr=0.1,0.1", "repeated"),
    ("train.lr=-1,0.1", "train.lr"),
])
def test_bad_tune_specs(tmp_path, spec, message):
    with pytest.raises(ConfigError, match=message):
        run_comparison(["la"], [0], overrides=[f"out={tmp_path / 'x'}", "data.val_per_class=5"], tune=[spec],
                       log=lambda t: None)
    assert not (tmp_path / "x").exists()


def test_stage_without_tune_rejected(tmp_path):
    with pytest.raises(ConfigError, match="--stage tune needs --tune"):
        run_comparison(["la"], [0], overrides=[f"out={tmp_path}"], stage="tune")


# ---------------------------------------------------------------------------------------------
# pure functions


def test_grid_order_and_labels():
    grids = method_grids(["train.lr=0.1,0.2", "la:train.weight_decay=1e-4,5e-4", "ecl:loss.temperature=0.1,0.2"],
                         ["la", "ecl"])
    assert grids["la"] == [(("train.lr", "0.1"), ("train.weight_decay", "1e-4")),
                           (("train.lr", "0.1"), ("train.weight_decay", "5e-4")),
                           (("train.lr", "0.2"), ("train.weight_decay", "1e-4")),
                           (("train.lr", "0.2"), ("train.weight_decay", "5e-4"))]
    assert combination_label(grids["ecl"][1]) == "train.lr=0.1+loss.temperature=0.2"
    assert method_grids([], ["la"]) == {"la": [()]}


def test_choose_mean_over_seeds_and_first_on_ties():
    combos = [(("k", "a"),), (("k", "b"),), (("k", "c"),)]
    record = choose(combos, [[0.5, 0.7], [0.7, 0.5], [0.2, 0.9]])
    assert [r["mean"] for r in record["scores"]] == pytest.approx([0.6, 0.6, 0.55])
    assert record["chosen"] == {"k": "a"} and record["chosen_index"] == 0
    assert choose(combos, [[0.1], [0.3], [0.2]])["chosen"] == {"k": "b"}


def test_table_without_tuning_has_no_tuned_column():
    final = {"top1": 0.5, "balanced_accuracy": 0.5, "macro_f1": 0.5, "many": 0.5, "medium": 0.5, "few": 0.5,
             "geometry": {"FC": 1.0, "MS": 0.5, "SD": 0.5}}
    summary = summarize({"la": [final], "ecl": [final]})
    assert "tuned" not in format_table(summary)
    summary["la"]["tuning"] = choose([(("train.lr", "0.1"),)], [[0.4]])
    table = format_table(summary)
    assert "| la | lr=0.1 |" in table and "| ecl |  |" in table
