"""`ecl compare`: real runs through the CLI (one epoch), resumability, statistics against numpy,
the paired t-interval against a hand-computed example."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from ecl.cli import main
from ecl.config import ConfigError
from conftest import FAST as FAST_OVERRIDES
from ecl.engine.commands.compare import run_comparison
from ecl.evaluation import comparison
from ecl.evaluation.comparison import (
    METRICS,
    format_table,
    metric_value,
    paired_interval,
    plot_shot_groups,
    shot_group_figure,
    summary_stats,
    t_quantile,
)

FAST = ["train.epochs=1", *FAST_OVERRIDES]


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    """One real comparison: la and ecl, seed 0, one epoch on digits-lt."""
    out = tmp_path_factory.mktemp("cmp") / "out"
    code = main(["compare", "--methods", "la,ecl", "--seeds", "0", *FAST, f"out={out}"])
    assert code == 0
    return out


@pytest.mark.slow
def test_summary_matches_final_json(compared):
    summary = json.loads((compared / "summary.json").read_text())
    assert list(summary) == ["la", "ecl"]
    for method in ("la", "ecl"):
        final = json.loads((compared / method / "seed0" / "final.json").read_text())
        assert final["method"] == method and final["seed"] == 0 and final["epochs"] == 1
        assert set(summary[method]) == {*METRICS, "setting"}  # + the fairness record (not tuned, weighting)
        for metric in METRICS:
            stats = summary[method][metric]
            assert set(stats) == {"mean", "std", "values"}
            expected = final["geometry"][metric] if metric in ("FC", "MS", "SD") else final[metric]
            assert stats["values"] == [expected]
            if expected is None:
                assert stats["mean"] is None and stats["std"] is None
            else:
                assert stats["mean"] == pytest.approx(expected) and stats["std"] == 0.0
    # identical data for both methods
    la = json.loads((compared / "la" / "seed0" / "final.json").read_text())
    ecl = json.loads((compared / "ecl" / "seed0" / "final.json").read_text())
    assert la["train_counts"] == ecl["train_counts"] and la["eval_counts"] == ecl["eval_counts"]
    assert (compared / "shot_groups.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_table_has_every_method_and_bold_best(compared):
    table = (compared / "table.md").read_text()
    summary = json.loads((compared / "summary.json").read_text())
    means_table = table.split("## Paired")[0]
    rows = {line.split("|")[1].strip(): line for line in means_table.splitlines() if line.startswith(("| la ", "| ecl "))}
    assert "la" in rows and "ecl" in rows
    # the method with the higher balanced accuracy is bold in that column (column 2 of the first table)
    first = {m: rows[m].split("|")[3].strip() for m in ("la", "ecl")}
    bal = {m: summary[m]["balanced_accuracy"]["mean"] for m in ("la", "ecl")}
    winner = max(bal, key=bal.get)
    assert first[winner].startswith("**") and first[winner] == f"**{100 * bal[winner]:.2f}**"  # one seed: no ± 0.00
    assert "Paired difference to ecl" in table and "n/a" in table  # one seed: no interval


@pytest.mark.slow
def test_second_invocation_skips_finished_runs(compared, capsys):
    finals = [compared / m / "seed0" / "final.json" for m in ("la", "ecl")]
    before = [p.stat().st_mtime_ns for p in finals]
    capsys.readouterr()
    assert main(["compare", "--methods", "la,ecl", "--seeds", "0", *FAST, f"out={compared}"]) == 0
    err = capsys.readouterr().err
    assert [p.stat().st_mtime_ns for p in finals] == before
    assert err.count("finished earlier, skipped") == 2 and ": training" not in err and ": resuming" not in err


@pytest.mark.slow
def test_checkpoint_without_final_is_resumed(compared, monkeypatch):
    """final.json removed, checkpoint kept: `train(resume=dir)` finishes it without another epoch."""
    import ecl.engine.commands.train as run_module

    calls = []
    real_train = run_module.train

    def spy(*args, **kwargs):
        calls.append(kwargs.get("resume"))
        return real_train(*args, **kwargs)

    monkeypatch.setattr(run_module, "train", spy)
    la_dir = compared / "la" / "seed0"
    checkpoint = la_dir / "checkpoints" / "last.pt"
    ckpt_time = checkpoint.stat().st_mtime_ns
    (la_dir / "final.json").unlink()
    run_comparison(["la", "ecl"], [0], overrides=[*FAST, f"out={compared}"], log=lambda text: None)
    assert calls == [la_dir]
    assert (la_dir / "final.json").is_file()
    assert checkpoint.stat().st_mtime_ns == ckpt_time  # no epoch trained again


def test_unknown_method_exits_2_before_training(tmp_path, capsys):
    out = tmp_path / "never"
    code = main(["compare", "--methods", "la,ecl,not-a-method", "--seeds", "0", *FAST, f"out={out}"])
    assert code == 2
    err = capsys.readouterr().err
    assert "not-a-method" in err and "error:" in err
    assert not out.exists()


def test_bad_config_and_method_override_rejected(tmp_path):
    with pytest.raises(ConfigError, match="train.epochs"):
        run_comparison(["la"], [0], overrides=["train.epochs=-1", f"out={tmp_path}"])
    with pytest.raises(ConfigError, match="loss.method"):
        run_comparison(["la"], [0], overrides=["loss.method=ecl", f"out={tmp_path}"])
    with pytest.raises(ConfigError, match="repeated"):
        run_comparison(["la", "la"], [0], overrides=[f"out={tmp_path}"])


def _fake_final(config) -> dict:
    rng = np.random.default_rng(len(config.loss.method) * 100 + config.seed)
    acc = [float(v) for v in rng.uniform(0.2, 0.9, size=6)]
    return {"top1": acc[0], "balanced_accuracy": acc[1], "macro_f1": acc[2], "many": None, "medium": acc[4],
            "few": acc[5], "geometry": {"FC": float(rng.uniform(0, 3)), "MS": float(rng.uniform(0, 1)),
                                        "SD": float(rng.uniform(0, 1.5))},
            "method": config.loss.method, "seed": config.seed, "epochs": config.train.epochs}


def test_dispatch_new_resume_done_and_mismatch(tmp_path, monkeypatch):
    """Without training: a fake `train` records how each run folder is handled."""
    import ecl.engine.commands.train as run_module
    from ecl.config import dump_yaml, load_config
    from ecl.engine.training.run_folder import RunFolderError

    calls = []

    def fake_train(config=None, *, resume=None, overwrite=False, log=None):
        if resume is not None:
            calls.append(("resume", Path(resume)))
            config = load_config(None, [])
            config.loss.method, config.seed = Path(resume).parent.name, int(Path(resume).name[4:])
            run_dir = Path(resume)
        else:
            calls.append(("new", Path(config.out), overwrite))
            run_dir = Path(config.out)
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / "config.yaml").write_text(dump_yaml(config))
        final = _fake_final(config)
        (run_dir / "final.json").write_text(json.dumps(final))
        return final

    monkeypatch.setattr(run_module, "train", fake_train)
    out = tmp_path / "cmp"
    # la/seed1: a checkpoint but no final.json → resume; ce/seed0: empty folder → new (overwrite)
    (out / "la" / "seed1" / "checkpoints").mkdir(parents=True)
    (out / "la" / "seed1" / "checkpoints" / "last.pt").write_bytes(b"x")
    (out / "ce" / "seed0").mkdir(parents=True)
    result = run_comparison(["ce", "la", "ecl"], [0, 1, 2], overrides=[f"out={out}"], log=lambda t: None)
    assert ("resume", out / "la" / "seed1") in calls
    assert ("new", out / "ce" / "seed0", True) in calls
    assert len(calls) == 9
    # seed-major order: every method of seed 0 before any of seed 1
    seeds_in_order = [int(c[1].name[4:]) for c in calls]
    assert seeds_in_order == sorted(seeds_in_order)
    summary = json.loads((out / "summary.json").read_text())
    assert summary == json.loads(json.dumps(result["summary"]))
    assert summary["la"]["many"] == {"mean": None, "std": None, "values": [None, None, None]}
    values = [json.loads((out / "ecl" / f"seed{s}" / "final.json").read_text())["geometry"]["SD"] for s in range(3)]
    assert summary["ecl"]["SD"]["values"] == values
    assert summary["ecl"]["SD"]["std"] == pytest.approx(np.std(values, ddof=1))
    table = (out / "table.md").read_text()
    assert "[" in table and "(n/a)" not in table  # three seeds: intervals
    # everything finished: nothing is trained again
    calls.clear()
    run_comparison(["ce", "la", "ecl"], [0, 1, 2], overrides=[f"out={out}"], log=lambda t: None)
    assert calls == []
    # a finished run with other settings in OUT is refused, naming the key
    with pytest.raises(RunFolderError, match="train.lr"):
        run_comparison(["ce"], [0], overrides=[f"out={out}", "train.lr=0.5"], log=lambda t: None)


# ---------------------------------------------------------------------------------------------
# statistics


def test_summary_stats_against_numpy():
    rng = np.random.default_rng(0)
    values = [float(v) for v in rng.normal(size=7)]
    with_none = values[:3] + [None] + values[3:] + [None]
    stats = summary_stats(with_none)
    assert stats["mean"] == pytest.approx(np.mean(values), abs=1e-12)
    assert stats["std"] == pytest.approx(np.std(values, ddof=1), abs=1e-12)
    assert stats["values"] == with_none
    assert summary_stats([0.7]) == {"mean": 0.7, "std": 0.0, "values": [0.7]}
    assert summary_stats([None, None]) == {"mean": None, "std": None, "values": [None, None]}


def test_paired_interval_hand_computed():
    # d = a − b = [0.02, 0.05, 0.04]; mean 0.036667; sd (ddof=1) = sqrt(0.00046667/2) = 0.0152753;
    # se = sd/sqrt(3) = 0.00881917; t_{0.975,2} = 4.302653; half-width = 0.0379457
    a = [0.80, 0.85, 0.90]
    b = [0.78, 0.80, 0.86]
    interval = paired_interval(a, b)
    assert interval["n"] == 3
    assert interval["mean"] == pytest.approx(0.0366667, abs=1e-6)
    assert interval["low"] == pytest.approx(0.0366667 - 0.0379457, abs=1e-6)
    assert interval["high"] == pytest.approx(0.0366667 + 0.0379457, abs=1e-6)
    # pairs with a None are dropped; one pair: no interval; none: None
    assert interval["excludes_zero"] is False and interval["why_not"] is None  # 0 inside [−0.0013, 0.0746]
    assert paired_interval([0.5, None], [0.4, 0.3]) == {"mean": pytest.approx(0.1), "low": None, "high": None,
                                                        "n": 1, "excludes_zero": False, "why_not": "n < 3"}
    assert paired_interval([None], [0.3]) is None
    with pytest.raises(ValueError, match="equal lengths"):
        paired_interval([0.1], [0.1, 0.2])


def _hand_interval(diffs: list[float], t: float) -> tuple[float, float]:
    """mean ± t·sd/√n written out here (sd with n−1), independent of the module."""
    n = len(diffs)
    mean = sum(diffs) / n
    sd = (sum((d - mean) ** 2 for d in diffs) / (n - 1)) ** 0.5
    return mean - t * sd / n ** 0.5, mean + t * sd / n ** 0.5


def test_star_needs_three_seeds_and_a_spread():
    # n = 3, d = [0.10, 0.11, 0.12]: t_{0.975,2} = 4.302653 → [0.0852, 0.1348] excludes 0: starred
    low, high = _hand_interval([0.10, 0.11, 0.12], 4.302653)
    interval = paired_interval([0.60, 0.71, 0.82], [0.50, 0.60, 0.70])
    assert (interval["low"], interval["high"]) == (pytest.approx(low, abs=1e-6), pytest.approx(high, abs=1e-6))
    assert low > 0 and interval["excludes_zero"] is True and interval["why_not"] is None
    # n = 2, d = [0.20, 0.21]: t_{0.975,1} = 12.7062 → [0.1565, 0.2635] excludes 0, yet n < 3: no star
    low, high = _hand_interval([0.20, 0.21], 12.7062)
    interval = paired_interval([0.70, 0.71], [0.50, 0.50])
    assert interval["low"] == pytest.approx(low, abs=1e-4) and low > 0
    assert interval["excludes_zero"] is False and interval["why_not"] == "n < 3"
    # n = 3, every difference 0.1 (up to float noise): a zero-width interval, never starred
    interval = paired_interval([0.9, 0.8, 0.7], [0.8, 0.7, 0.6])
    assert interval["low"] == pytest.approx(0.1) and interval["high"] == pytest.approx(0.1)
    assert interval["excludes_zero"] is False and interval["why_not"] == "identical differences"
    # the table: the star only on the judged interval, the reason beside the others
    finals = {name: [{"top1": v, "geometry": {}} for v in values] for name, values in
              {"a": [0.60, 0.71, 0.82], "b": [0.6, 0.7, 0.8], "ecl": [0.50, 0.60, 0.70]}.items()}
    paired = format_table(comparison.summarize(finals), seeds=[0, 1, 2]).split("## Paired")[1]
    cells = {line.split("|")[1].strip(): line.split("|")[2].strip() for line in paired.splitlines()
             if line.startswith(("| a ", "| b "))}
    assert cells["a"] == "+11.00 [+8.52, +13.48]*"
    assert cells["b"] == "+10.00 [+10.00, +10.00] (identical differences)"


def test_t_quantile_with_and_without_scipy(monkeypatch):
    assert t_quantile(2) == pytest.approx(4.302653, abs=1e-5)
    assert t_quantile(4) == pytest.approx(2.776445, abs=1e-5)
    monkeypatch.setitem(sys.modules, "scipy", None)  # import scipy → ImportError
    assert t_quantile(2) == pytest.approx(4.3027, abs=1e-4)
    assert t_quantile(4) == pytest.approx(2.7764, abs=1e-4)
    assert t_quantile(22) == pytest.approx(2.0860, abs=1e-4)  # next smaller df listed: 20 (conservative)
    assert t_quantile(10_000) == pytest.approx(1.96)
    with pytest.raises(ValueError, match="df"):
        t_quantile(0)


def test_table_bold_and_plot(tmp_path):
    finals = {
        "bcl": [{"top1": 0.8, "balanced_accuracy": 0.7, "macro_f1": 0.6, "many": 0.9, "medium": 0.6,
                 "few": None, "geometry": {"FC": 1.0, "MS": 0.2, "SD": 0.5}}] * 2,
        "ecl": [{"top1": 0.7, "balanced_accuracy": 0.75, "macro_f1": 0.6, "many": 0.8, "medium": 0.7,
                 "few": None, "geometry": {"FC": 2.0, "MS": 0.1, "SD": 0.5}}] * 2,
    }
    summary = comparison.summarize(finals)
    assert metric_value(finals["ecl"][0], "MS") == 0.1 and metric_value(finals["ecl"][0], "few") is None
    table = format_table(summary, seeds=[0, 1])
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in table.split("## Paired")[0].splitlines() if line.startswith(("| bcl", "| ecl"))}
    col = {m: i for i, m in enumerate(METRICS)}
    assert rows["bcl"][col["top1"]] == "**80.00 ± 0.00**" and rows["ecl"][col["top1"]] == "70.00 ± 0.00"
    assert rows["ecl"][col["balanced_accuracy"]].startswith("**")
    assert rows["bcl"][col["FC"]] == "**1.000 ± 0.000**"  # min for geometry
    assert rows["ecl"][col["MS"]] == "**0.100 ± 0.000**"
    assert rows["bcl"][col["SD"]].startswith("**") and rows["ecl"][col["SD"]].startswith("**")  # tie
    assert rows["bcl"][col["few"]] == "—"
    assert rows["bcl"][col["macro_f1"]].startswith("**")
    paired = table.split("## Paired")[1]
    # constant difference over 2 seeds: a zero-width interval, never starred, and the table says why
    assert "| bcl | +10.00 [+10.00, +10.00] (n < 3; identical differences) |" in paired
    png = plot_shot_groups(summary, tmp_path / "p.png")
    assert png.read_bytes()[:4] == b"\x89PNG"
    fig = shot_group_figure(summary, title="t")
    ax = fig.axes[0]
    assert ax.get_ylabel() == "accuracy (%)" and ax.get_title() == "t"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["many-shot", "medium-shot"]  # no few-shot value
    bars = list(ax.patches)
    assert len(bars) == 2 * 2  # methods × shot groups with a value
    heights = sorted(round(bar.get_height(), 6) for bar in bars)
    assert heights == [60.0, 70.0, 80.0, 90.0]  # the means, in %
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["bcl", "ecl"]
    assert not math.isnan(summary["bcl"]["top1"]["mean"])


def test_sigterm_to_a_comparison_raises_so_its_workers_are_stopped() -> None:
    """The default SIGTERM action ends Python without cleanup (worker processes were left running);
    inside `_run_parallel` it raises SystemExit(143), so the cleanup terminates the workers."""
    import os
    import signal

    from ecl.engine.commands.compare import _sigterm_raises

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit) as info:
        with _sigterm_raises():
            os.kill(os.getpid(), signal.SIGTERM)
            import time
            time.sleep(5)  # the handler interrupts this sleep
    assert info.value.code == 143
    assert signal.getsignal(signal.SIGTERM) is before
