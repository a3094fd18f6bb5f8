"""benchmarks/fashion_probes.py: one change per probe row, and the paired verdicts it prints."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))

probes = pytest.importorskip("fashion_probes")
study = pytest.importorskip("fashion_study")


def _args(tmp_path: Path) -> argparse.Namespace:
    results = tmp_path / "results"
    folder = results / "fashion-mnist-lt-if100"
    folder.mkdir(parents=True)
    chosen = {"ecl": {"train.lr": "0.03", "loss.temperature": "0.1"},
              "la": {"train.lr": "0.1", "train.weight_decay": "1e-4"},
              "procondual": {"train.lr": "0.03", "loss.temperature": "0.07"}}
    summary = {m: {"tuning": {"chosen": c}} for m, c in chosen.items()}
    (folder / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    return argparse.Namespace(seeds="0,1,2,3,4", jobs=2, threads=1, runs=str(tmp_path / "runs"),
                              results=str(results), backbone=study.BACKBONE, image_size=study.IMAGE_SIZE,
                              epochs=study.EPOCHS)


def _settings(argv: list[str]) -> dict[str, list[str]]:
    keys: dict[str, list[str]] = {}
    for item in argv:
        if "=" in item and not item.startswith("-"):
            key, value = item.split("=", 1)
            keys.setdefault(key, []).append(value)
    return keys


@pytest.mark.parametrize("name", list(probes.PROBES))
def test_each_probe_is_the_tuned_row_with_exactly_its_change(tmp_path, name):
    args = _args(tmp_path)
    probe = probes.PROBES[name]
    baseline = _settings(study.overrides("if100", args))
    for method in probe.methods:
        argv = probes.command("if100", args, name, method)
        settings = _settings(argv)
        assert all(len(v) == 1 for v in settings.values()), settings  # one value per key, no silent override
        assert argv[argv.index("--methods") + 1] == method
        changes = dict(c.split("=", 1) for c in probe.changes)
        tuned = {"ecl": {"train.lr": 0.03, "loss.temperature": "0.1"},
                 "la": {"train.lr": 0.1, "train.weight_decay": "1e-4"},
                 "procondual": {"train.lr": 0.03, "loss.temperature": "0.07"}}[method]
        assert math.isclose(float(settings["train.lr"][0]), tuned["train.lr"] * probe.lr_scale)
        for key, value in changes.items():
            assert settings[key] == [value]
        for key, value in tuned.items():
            if key != "train.lr" and key not in changes:
                assert settings[key] == [value]
        untouched = set(baseline) - set(changes) - set(tuned) - {"out"}
        assert {k: settings[k] for k in untouched} == {k: baseline[k] for k in untouched}
        assert settings["out"][0].endswith(f"fashion-mnist-lt-if100-probes/{name}-{method}")


def test_missing_tuning_is_a_clear_error(tmp_path):
    args = _args(tmp_path)
    (Path(args.results) / "fashion-mnist-lt-if100" / "summary.json").write_text("{}", encoding="utf-8")
    with pytest.raises(SystemExit, match="no tuned ecl, la, procondual"):
        probes.command("if100", args, "fixed-weights", "ecl")


def test_delta_is_the_paired_t_interval_and_stars_only_when_it_excludes_zero():
    a, b = [0.80, 0.82, 0.79, 0.81, 0.83], [0.78, 0.80, 0.78, 0.80, 0.80]
    diffs = [x - y for x, y in zip(a, b)]
    mean = sum(diffs) / 5
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / 4)
    half = 2.7764451051977987 * sd / math.sqrt(5)  # t_{0.975, 4}
    assert probes._delta(a, b) == f"{100 * mean:+.2f} [{100 * (mean - half):+.2f}, {100 * (mean + half):+.2f}]*"
    noisy = [0.80, 0.76, 0.83, 0.77, 0.82]
    assert not probes._delta(noisy, b).endswith("*")
    assert probes._delta([0.8], [0.7]) == "+10.00 (n=1)"


def test_rival_pairs_ecl_with_the_baseline_under_the_same_change():
    assert probes._rival("fixed-weights", "ecl", ["ecl", "procondual"]) == "fixed-weights-procondual"
    assert probes._rival("fixed-weights", "procondual", ["ecl", "procondual"]) == "fixed-weights-ecl"
    assert probes._rival("tau0.2", "ecl", ["ecl"]) == "main-procondual"


def test_a_probe_equal_to_the_tuned_row_is_recognised(tmp_path):
    args = _args(tmp_path)  # ecl tuned with τ 0.1, procondual with τ 0.07
    assert probes.same_as_main("if100", args, "tau0.1", "ecl")
    assert not probes.same_as_main("if100", args, "tau0.2", "ecl")
    assert not probes.same_as_main("if100", args, "fixed-weights", "ecl")
    data = probes.collect("if100", args, ["tau0.1", "tau0.2"])
    assert "tau0.2-ecl" in data["commands"] and "tau0.1-ecl" not in data["commands"]


def test_the_change_table_lists_only_probes_that_ran():
    row = {m: [0.8, 0.81] for m in (*probes.METRICS, *probes.WEIGHTS)} | {"finished": 2}
    data = {"key": "if10", "rows": {"main-ecl": row, "main-procondual": row, "tau0.1-ecl": row},
            "probes": {n: {"methods": list(p.methods), "changes": list(p.changes), "why": p.why,
                           "lr_scale": p.lr_scale} for n, p in probes.PROBES.items()},
            "commands": {}}
    text = probes.section(data)
    assert "| tau0.1 | `loss.temperature=0.1` |" in text
    assert "| fixed-weights |" not in text and "| tau0.2 |" not in text


# --------------------------------------------------------------------------------------------
# generated verdicts (docs/RESULTS.md says only what its intervals show)


def _summary(shifts: dict[str, list[float]]) -> dict:
    """A summary.json-like dict: ECL at 0.80 + noise per seed, every other row at ECL + its per-seed shift."""
    from ecl.evaluation.comparison import METRICS, summary_stats

    ecl = [0.80, 0.81, 0.79, 0.82, 0.80]
    rows = {"ecl": ecl, **{m: [e + s for e, s in zip(ecl, shift)] for m, shift in shifts.items()}}
    return {m: {metric: summary_stats(values if metric != "few" else [None] * 5) for metric in METRICS}
            for m, values in rows.items()}


def test_study_verdicts_are_generated_from_the_intervals_with_holm_marks():
    summary = _summary({"ce": [-0.10, -0.11, -0.10, -0.12, -0.10],       # far below ECL every seed
                        "la": [0.01, -0.02, 0.02, -0.01, 0.00],          # inside the noise
                        "supcon": [0.01, 0.02, 0.005, 0.015, 0.01],      # above ECL: p ≈ 0.009, not Holm
                        "ecl-no-ccge": [0.02, -0.01, 0.03, 0.00, 0.01]})
    rows = study._verdict_table(summary)
    lines = "\n".join(rows)
    assert "- bal. acc, baselines: ECL better than ce (Holm); inside the noise of la; worse than supcon" in rows
    assert "- bal. acc, ablations: ECL inside the noise of ecl-no-ccge" in rows
    # geometry columns follow "lower is better": the same shifts make ECL's FC *better* than supcon's
    assert "- FC ↓, baselines: ECL better than supcon; inside the noise of la; worse than ce (Holm)" in rows
    assert "| supcon | ECL worse: +1.20 [" in lines and "Calls that survive Holm: ce top-1, ce bal. acc" in lines
    assert "few" not in lines.split("| row |")[1].split("\n")[0]  # no few-shot class: no column
    tested = 4 * 8  # 4 rows × 8 metric columns with values (few has none)
    assert f"the {tested} paired comparisons" in lines and f"0.05 × {tested} = {0.05 * tested:.1f}" in lines


def test_shot_groups_name_their_classes_from_the_counts():
    counts = study.train_counts({"imbalance_factor": 10, "val_per_class": 100})
    by_hand = [int(6000 * 0.1 ** (c / 9)) for c in range(10)]  # LDAM-DRW exp profile, IF 10
    by_hand[0] -= 100  # the head class has no unused pool: it gives its 100 validation images
    assert counts == by_hand and sum(counts) == study.MEASURED["train_images"]["if10"]
    text = study.shot_group_text(counts)
    assert "medium (200–1000, 3 classes): Sneaker (1000), Bag (774), Ankle boot (600)" in text
    assert "few (< 200, 0 classes): none" in text
    if100 = study.shot_group_text(study.train_counts({"imbalance_factor": 100, "val_per_class": 100}))
    assert "few (< 200, 3 classes): Sneaker (166), Bag (100), Ankle boot (60)" in if100


@pytest.mark.parametrize("name", list(probes.PROBES))
def test_each_probe_names_every_factor_its_change_moves(name):
    probe = probes.PROBES[name]
    factors = " ".join(probe.factors)
    keys = {c.split("=", 1)[0] for c in probe.changes}
    assert probe.factors
    if probe.lr_scale != 1:
        assert "learning rate" in factors
    if "train.batch_size" in keys or "train.epochs" in keys:
        assert "optimiser steps" in factors  # a fixed number of epochs: steps move with the batch or length
    if "train.warmup_epochs" in keys:
        assert "warm-up" in factors and "calibrated" in factors


def test_probe_verdicts_say_which_factors_moved_together():
    good = [0.80, 0.81, 0.79, 0.82, 0.80]
    row = lambda shift: {m: [v + s for v, s in zip(good, shift)] for m in probes.METRICS} | {  # noqa: E731
        w: [1.0] * 5 for w in probes.WEIGHTS} | {"finished": 5}
    data = {"key": "if100", "commands": {}, "drivers": ["python benchmarks/fashion_probes.py --jobs 2"],
            "rows": {"main-ecl": row([0] * 5), "main-procondual": row([0.01, -0.01, 0.02, 0.0, -0.02]),
                     "batch256-ecl": row([-0.10, -0.11, -0.10, -0.12, -0.10]),
                     "tau0.2-ecl": row([0.01, -0.02, 0.02, -0.01, 0.00])},
            "probes": {n: {"methods": list(p.methods), "changes": list(p.changes), "why": p.why,
                           "lr_scale": p.lr_scale} for n, p in probes.PROBES.items()}}
    text = probes.section(data)
    assert ("- `batch256-ecl` — 4 factors moved together, not separated by this probe: batch size (128 → 256); "
            "learning rate (× 2)") in text
    assert "Balanced accuracy: below main-ecl beyond the noise (Holm); below main-procondual beyond the noise" in text
    assert ("- `tau0.2-ecl` — one factor: temperature τ. Balanced accuracy: inside the noise of main-ecl; "
            "inside the noise of main-procondual.") in text
    assert "- driver: `python benchmarks/fashion_probes.py --jobs 2`" in text
    # 5 distinct pairs: main-ecl/main-procondual, and each probe row against main-ecl and main-procondual
    assert "the 5 paired comparisons of this table" in text


def test_recorded_commands_lose_machine_paths():
    assert study.portable("ecl compare out=/some/where/runs/fashion-study/x") == "ecl compare out=runs/fashion-study/x"
    assert study.portable("out=runs/bench3/digits-lt a/b/runs/c") == "out=runs/bench3/digits-lt a/b/runs/c"
