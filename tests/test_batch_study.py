"""benchmarks/batch_study.py: the run plan, the lr rule, resumability, the drop intervals and the generated verdicts."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))

batch = pytest.importorskip("batch_study")

T975 = {2: 4.302652729911275, 4: 2.7764451051977987}  # t_{0.975, df}


def _tuning(tmp_path: Path, ref_batch: int = 128) -> Path:
    """A tuning.json (as ecl compare --tune writes) with a study.json beside it stating its batch."""
    folder = tmp_path / "tuned"
    folder.mkdir(parents=True, exist_ok=True)
    chosen = {"la": {"train.lr": "0.1", "train.weight_decay": "5e-4"},
              "supcon": {"train.lr": "0.03", "loss.temperature": "0.07"},
              "bcl": {"train.lr": "0.05", "loss.temperature": "0.1"},
              "procondual": {"train.lr": "0.03", "loss.temperature": "0.1"},
              "ecl": {"train.lr": "0.02", "loss.temperature": "0.1"}}
    (folder / "tuning.json").write_text(json.dumps({m: {"chosen": c} for m, c in chosen.items()}), encoding="utf-8")
    (folder / "study.json").write_text(json.dumps({"batch_size": ref_batch}), encoding="utf-8")
    return folder / "tuning.json"


def _args(tmp_path: Path, *extra: str, ref_batch: int = 128):
    tuning = _tuning(tmp_path, ref_batch)
    return batch.parse(["--base-tuning", str(tuning), "--base-tuning-date", "2026-11-29",
                        "--runs", str(tmp_path / "runs"), "--results", str(tmp_path / "results"), *extra])


def _plan(args):
    tuned = batch.tunings(args, batch.study.split_list(args.methods) + ["ecl"])
    return batch.plan(args, tuned), tuned


def test_plan_is_methods_by_batches_with_the_linear_lr_rule(tmp_path):
    args = _args(tmp_path, ref_batch=64)
    cells, _ = _plan(args)
    assert [(c.method, c.batch) for c in cells] == [(m, b) for m in ("la", "supcon", "bcl", "procondual", "ecl")
                                                   for b in (16, 32, 64, 128, 256)]
    assert len(cells) * len(batch.seeds(args)) == 75
    by_hand = {("bcl", 16): 0.05 / 4, ("bcl", 256): 0.2, ("la", 32): 0.05, ("ecl", 64): 0.02, ("ecl", 128): 0.04}
    for cell in cells:
        if (cell.method, cell.batch) in by_hand:
            assert math.isclose(cell.lr, by_hand[(cell.method, cell.batch)])
            assert dict(cell.settings)["train.lr"] == f"{by_hand[(cell.method, cell.batch)]:g}"
    bcl16 = next(c for c in cells if (c.method, c.batch) == ("bcl", 16))
    assert dict(bcl16.settings)["loss.temperature"] == "0.1"  # the other tuned values are kept


def test_lambda_rows_only_at_the_extreme_batches_with_ecls_tuning(tmp_path):
    args = _args(tmp_path, "--lambdas", "0.25,0.75", "--seeds", "0,1,2,3,4")
    cells, _ = _plan(args)
    rows = [(c.method, c.batch, c.lam) for c in cells if c.lam is not None]
    assert rows == [("ecl-lambda0.25", 16, 0.25), ("ecl-lambda0.25", 256, 0.25),
                    ("ecl-lambda0.75", 16, 0.75), ("ecl-lambda0.75", 256, 0.75)]
    assert all(c.tuned_from == "ecl" and math.isclose(c.lr, 0.02 * c.batch / 128) for c in cells if c.lam)
    assert len(cells) == 25 + 4


def test_command_carries_the_study_setting_this_batch_and_one_value_per_key(tmp_path):
    args = _args(tmp_path)
    cells, _ = _plan(args)
    cell = next(c for c in cells if (c.method, c.batch) == ("la", 32))
    argv = batch.command(args, cell)
    keys = [a.split("=", 1)[0] for a in argv if "=" in a and not a.startswith("-")]
    assert len(keys) == len(set(keys))
    assert {"train.batch_size=32", "train.lr=0.025", "train.weight_decay=5e-4", "train.epochs=4",
            "model.backbone=small_cnn_w16", "data.imbalance_factor=100"} <= set(argv)
    assert argv[:3] == ["compare", "--methods", "la"]


def test_a_finished_run_is_skipped_and_another_batch_does_not_count(tmp_path):
    from ecl.config import load_config
    from ecl.engine.training.run_folder import RunFolder

    args = _args(tmp_path, "--methods", "la", "--batches", "16,32", "--seeds", "0,1")
    cells, tuned = _plan(args)
    la16 = cells[0]
    for seed, size in ((0, 16), (1, 64)):  # seed 1 ran at another batch: not this cell's run
        run = RunFolder(batch.run_dir(args, la16, seed))
        run.path.mkdir(parents=True)
        run.write_config(load_config(None, [f"train.batch_size={size}", f"train.lr={la16.lr}", "train.epochs=4",
                                            "model.backbone=small_cnn_w16", "data.image_size=28"]))
        run.write_final({"balanced_accuracy": 0.7})
    assert batch.finished(args, la16, 0) and not batch.finished(args, la16, 1)
    todo = [(c.batch, s) for c in cells for s in batch.seeds(args) if not batch.finished(args, c, s)]
    assert todo == [(16, 1), (32, 0), (32, 1)]
    data = batch.record(args, cells, tuned, None)
    assert data["status"] == {"finished": 1, "planned": 4}
    assert data["cells"][la16.label]["values"]["balanced_accuracy"] == [0.7, None]


def _finish(args, cell, seed: int) -> None:
    """Fake a finished run of `cell` (config.yaml of its setting and a final.json), no training."""
    from ecl.config import load_config
    from ecl.engine.training.run_folder import RunFolder

    run = RunFolder(batch.run_dir(args, cell, seed))
    run.path.mkdir(parents=True)
    run.write_config(load_config(None, [f"train.batch_size={cell.batch}", f"train.lr={cell.lr}", "train.epochs=4",
                                        "model.backbone=small_cnn_w16", "data.image_size=28"]))
    run.write_final({"balanced_accuracy": 0.7})


def test_run_calls_ecl_compare_only_for_cells_with_unfinished_runs(tmp_path, monkeypatch):
    import ecl.cli

    args = _args(tmp_path, "--methods", "la", "--batches", "16,32", "--seeds", "0,1")
    cells, tuned = _plan(args)
    for seed in (0, 1):
        _finish(args, cells[0], seed)  # la at B = 16: every seed finished
    _finish(args, cells[1], 0)  # la at B = 32: seed 1 missing
    invoked = []
    monkeypatch.setattr(ecl.cli, "main", lambda argv: invoked.append(argv) or 0)
    batch.run(args, cells, tuned)
    assert len(invoked) == 1 and "train.batch_size=32" in invoked[0]
    raw = json.loads((tmp_path / "results" / batch.FOLDER / batch.RAW).read_text(encoding="utf-8"))
    assert list(raw["commands"]) == [cells[1].label]  # only the cell this invocation trained
    assert raw["status"] == {"finished": 3, "planned": 4}
    assert (tmp_path / "results" / batch.FOLDER / batch.PAGE).is_file()


def test_docs_only_refreshes_the_recorded_plan_not_the_default_one(tmp_path, monkeypatch):
    import ecl.cli

    args = _args(tmp_path, "--methods", "ecl", "--batches", "16,256", "--seeds", "0,1", "--lambdas", "0.25")
    cells, tuned = _plan(args)
    _finish(args, cells[0], 0)
    monkeypatch.setattr(ecl.cli, "main", lambda argv: 0)
    batch.run(args, cells, tuned)
    again = _args(tmp_path, "--docs-only")  # the default plan: five methods, five batches, seeds 0,1,2, no λ
    batch.docs_only(again)
    raw = json.loads((tmp_path / "results" / batch.FOLDER / batch.RAW).read_text(encoding="utf-8"))
    assert raw["seeds"] == [0, 1] and raw["status"] == {"finished": 1, "planned": 8}
    assert sorted(c["method"] for c in raw["cells"].values()) == ["ecl", "ecl", "ecl-lambda0.25", "ecl-lambda0.25"]


def test_dry_run_lists_only_the_runs_to_make(tmp_path, capsys):
    args = _args(tmp_path, "--methods", "ecl", "--batches", "16", "--seeds", "0,1")
    cells, tuned = _plan(args)
    _finish(args, cells[0], 0)
    batch.dry_run(args, cells, tuned)
    out = capsys.readouterr().out
    runs = [line for line in out.splitlines() if line.startswith("run ")]
    assert len(runs) == 1 and "seed 1" in runs[0] and "lr 0.0025 = 0.02 × 16 / 128" in runs[0]
    assert "# 1 runs to make (1 of 2 finished)" in out


def test_la_is_flagged_when_its_tuning_predates_the_weighting_fix(tmp_path):
    args = _args(tmp_path)
    _, tuned = _plan(args)
    assert tuned["la"].predates_fix and not tuned["ecl"].predates_fix and not tuned["bcl"].predates_fix
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps({"la": {"chosen": {"train.lr": "0.06", "train.weight_decay": "1e-4"}}}), "utf-8")
    args = _args(tmp_path, "--tuning", str(newer), "--tuning-date", "2026-12-03")
    cells, tuned = _plan(args)
    assert not tuned["la"].predates_fix and tuned["la"].source.endswith("newer.json")
    assert tuned["ecl"].source.endswith("tuned/tuning.json")  # methods the newer record lacks keep the base one
    assert math.isclose(next(c for c in cells if (c.method, c.batch) == ("la", 256)).lr, 0.12)


def test_an_unknown_tuning_record_needs_its_date(tmp_path):
    path = _tuning(tmp_path)
    with pytest.raises(SystemExit, match="--tuning-date"):
        batch.read_tuning(path, None)


def test_a_record_with_rows_re_run_takes_each_rows_date_from_study_json(tmp_path):
    path = _tuning(tmp_path)
    rows = {m: {"date": "2026-11-29 15:47:37 UTC"} for m in ("supcon", "bcl", "procondual", "ecl")}
    rows["la"] = {"date": "2026-12-02 01:45:57 UTC"}  # la re-tuned after the weighting fix (fashion_study --methods)
    (path.parent / "study.json").write_text(json.dumps({"batch_size": 128, "rows": rows}), encoding="utf-8")
    tuned = batch.read_tuning(path, None)
    assert tuned["la"].date == "2026-12-02" and not tuned["la"].predates_fix
    assert tuned["ecl"].date == "2026-11-29"
    del rows["bcl"]  # a tuned row without a date: the record's date is unknown again
    (path.parent / "study.json").write_text(json.dumps({"batch_size": 128, "rows": rows}), encoding="utf-8")
    with pytest.raises(SystemExit, match="--tuning-date"):
        batch.read_tuning(path, None)


# --------------------------------------------------------------------------------------------
# drops, intervals and verdicts


ECL_256 = [0.80, 0.82, 0.79]


def _data(drop16: dict[str, list[float]], seeds=(0, 1, 2)) -> dict:
    """A batch.json-like record: each method at B = 256 (ECL_256 + 0.01) and at 16 and 32 (its drops)."""
    cells = {}
    for method, drop in drop16.items():
        high = [v + 0.01 for v in ECL_256] if method != "ecl" else ECL_256
        for b, values in ((256, high), (16, [h - d for h, d in zip(high, drop)]),
                          (32, [h - d / 2 for h, d in zip(high, drop)])):
            cells[f"{method}-B{b}"] = {"method": method, "tuned_from": method, "batch": b, "lr": 0.03 * b / 128,
                                       "lambda": None, "finished": len(seeds),
                                       "values": {m: list(values) for m in batch.METRICS}}
    tuning = {m: {"source": "t.json", "date": "2026-11-29", "batch": 128, "chosen": {"train.lr": "0.03"},
                  "predates_fix": m == "la"} for m in drop16}
    planned = 5 * len(drop16) * len(seeds)
    return {"imbalance_factor": 100, "backbone": "small_cnn_w16", "image_size": 28, "epochs": 4, "val_per_class": 100,
            "shot_groups": {"many_above": 1000, "few_below": 200}, "seeds": list(seeds), "batches": [16, 32, 256],
            "lr_rule": batch.LR_RULE, "weighting_fix": {"date": "2026-12-02", "methods": ["ce", "la"]},
            "tuning": tuning, "cells": cells, "commands": {}, "drivers": [],
            "status": {"finished": sum(c["finished"] for c in cells.values()), "planned": planned}}


def test_drops_are_paired_by_seed_and_the_interval_matches_a_hand_computation():
    ecl, bcl = [0.02, 0.03, 0.01], [0.08, 0.12, 0.07]
    data = _data({"ecl": ecl, "bcl": bcl})
    assert all(math.isclose(a, b) for a, b in zip(batch.drops(data, "bcl", 16), bcl))
    call = batch.drop_family(data)[("bcl", 16)]
    diffs = [b - e for b, e in zip(bcl, ecl)]  # BCL's drop − ECL's drop, per seed
    mean = sum(diffs) / 3
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / 2)
    half = T975[2] * sd / math.sqrt(3)
    assert math.isclose(call.interval["mean"], mean) and math.isclose(call.interval["low"], mean - half, rel_tol=1e-4)
    assert math.isclose(call.interval["high"], mean + half, rel_tol=1e-4)
    # ECL drops less beyond the noise: the interval of the differences lies above 0
    assert call.sign == 1 and call.interval["low"] > 0


def test_holm_runs_over_every_rival_and_target_batch():
    data = _data({"ecl": [0.02, 0.03, 0.01], "bcl": [0.08, 0.12, 0.07], "supcon": [0.05, 0.06, 0.055],
                  "procondual": [0.02, 0.03, 0.01], "la": [0.03, 0.02, 0.02]})
    family = batch.drop_family(data)
    assert set(family) == {(m, b) for m in ("bcl", "supcon", "procondual", "la") for b in (16, 32)}
    pvalues = sorted(c.p for c in family.values() if c.p is not None)
    survivors = 0
    for k, p in enumerate(pvalues):  # Holm by hand: the k-th smallest against 0.05 / (m − k)
        if p > 0.05 / (len(pvalues) - k):
            break
        survivors += 1
    assert sum(c.holm for c in family.values()) == survivors


def test_verdict_wording_less_equal_and_more_sensitive():
    data = _data({"ecl": [0.05, 0.06, 0.04],
                  "bcl": [0.10, 0.13, 0.09],          # drops more than ECL every seed: ECL less sensitive
                  "procondual": [0.06, 0.04, 0.05],   # the same within the noise
                  "supcon": [0.01, 0.015, 0.0],       # drops less: ECL more sensitive
                  "la": [0.05, 0.07, 0.04]})
    lines = batch.verdicts(data, batch.drop_family(data))
    text = "\n".join(lines)
    line16 = next(line for line in lines if line.startswith("- B = 256 → 16, contrastive baselines"))
    assert "ECL loses less (or gains more) at the smaller batch than BCL" in line16
    assert "changes by an amount not shown to differ (inside the noise) from that of ProConDual" in line16
    assert "loses more (or gains less) at the smaller batch than SupCon" in line16
    assert "in sensitivity to the batch (the size of the change), ECL is less sensitive than BCL; not shown to " \
           "differ from ProConDual (inside the noise); more sensitive than SupCon" in line16
    assert "- B = 256 → 16, control: ECL changes by an amount not shown to differ" in text
    assert any(line.startswith("- B = 256 → 32, contrastive baselines") for line in lines)
    own = next(line for line in lines if line.startswith("- B = 256 → 16, each method's own change"))
    assert "fell at the smaller batch: BCL" in own and "SupCon" in own.split("changed inside the noise:")[1]


def test_when_every_method_gains_at_the_smaller_batch_gaining_more_is_more_sensitive():
    """Negative drops (the smaller batch scored higher): ECL gaining more than BCL beyond the noise is a
    larger change, so ECL is MORE sensitive, although its signed drop is smaller."""
    data = _data({"ecl": [-0.10, -0.13, -0.09], "bcl": [-0.05, -0.06, -0.04]})
    line = next(x for x in batch.verdicts(data, batch.drop_family(data)) if "16, contrastive" in x)
    assert "ECL loses less (or gains more) at the smaller batch than BCL" in line
    assert "ECL is more sensitive than BCL" in line
    own = batch.own_changes(data, 16)
    assert own["ecl"].sign == -1 and own["bcl"].sign == -1  # both rose at B = 16
    # opposite mean changes: the signed difference does not order the sizes of the changes
    mixed = _data({"ecl": [-0.02, -0.03, -0.01], "bcl": [0.03, 0.05, 0.04]})
    line = next(x for x in batch.verdicts(mixed, batch.drop_family(mixed)) if "16, contrastive" in x)
    assert "ECL is undetermined against BCL (the mean changes point in opposite directions)" in line
    assert batch.sensitivity(None, 0.1, 0.2) == "untestable"


def test_section_renders_tables_and_verdicts_when_complete(tmp_path):
    data = _data({"ecl": [0.05, 0.06, 0.04], "bcl": [0.10, 0.13, 0.09], "la": [0.05, 0.07, 0.04]})
    data["status"]["planned"] = data["status"]["finished"]
    text = batch.section(data, tmp_path)
    assert text.startswith(batch.BEGIN) and text.rstrip().endswith(batch.END)
    assert "**Runs finished: 27 of 27.**" in text and "Pending" not in text
    assert "| la | 16 | 0.00375 † |" in text and "| bcl | 16 | 0.00375 |" in text
    assert "batch-invariant" in text and "lr_B = lr_ref × B / B_ref" in text
    assert "ECL is less sensitive than BCL" in text


def test_pending_stub_counts_the_runs_still_to_make(tmp_path):
    args = _args(tmp_path)
    cells, tuned = _plan(args)
    text = batch.section(batch.record(args, cells, tuned, None), tmp_path)
    assert "**Pending: 75 of 75 runs** (0 finished) — nothing trained yet." in text
    assert "| method | B |" not in text and "sensitive" not in text  # no table, no verdict before any run
    assert "tuned before the baseline-weighting fix" in text and "--dry-run" in text
    partial = _data({"ecl": [0.02, 0.03, 0.01]})
    partial["status"]["planned"] = 75
    assert "**Pending: 66 of 75 runs** (9 finished) — the tables below cover finished runs only" in \
        batch.section(partial, tmp_path)


def test_premise_line_only_when_every_tested_method_rose():
    rose = _data({"ecl": [-0.10, -0.13, -0.09], "bcl": [-0.05, -0.06, -0.04]})
    text = "\n".join(batch.verdicts(rose, batch.drop_family(rose)))
    assert "- B = 256 → 16: every tested method scored higher at the smaller batch" in text
    assert "B = 16 also takes about 16× the optimiser steps of B = 256" in text
    mixed = _data({"ecl": [-0.10, -0.13, -0.09], "bcl": [0.05, 0.06, 0.04]})
    assert "every tested method scored higher" not in "\n".join(batch.verdicts(mixed, batch.drop_family(mixed)))


def test_close_seeds_add_seeds_only_at_the_drop_batches_and_pairs_follow_seeds(tmp_path):
    args = _args(tmp_path, "--close-seeds", "3,4", "--lambdas", "0.25")
    cells, tuned = _plan(args)
    for cell in cells:
        wanted = (0, 1, 2, 3, 4) if cell.lam is None and cell.batch in (16, 32, 256) else (0, 1, 2)
        assert cell.seeds == wanted, cell.label
        assert batch.command(args, cell)[4] == ",".join(map(str, wanted))  # --seeds of its ecl compare
    record = batch.record(args, cells, tuned, None)
    assert record["status"]["planned"] == 15 * 5 + 10 * 3 + 2 * 3 and record["close_seeds"] == [3, 4]
    # a λ row (seeds 0-2) against ECL (seeds 0-4) at B = 16 pairs on seeds 0, 1, 2 only
    lam = {"seeds": [0, 1, 2], "values": {"balanced_accuracy": [0.5, 0.6, 0.7]}}
    ecl = {"seeds": [0, 1, 2, 3, 4], "values": {"balanced_accuracy": [0.1, 0.2, 0.3, 0.4, 0.9]}}
    assert batch.paired_by_seed(record, lam, ecl) == ([0.5, 0.6, 0.7], [0.1, 0.2, 0.3])
    # a cell recorded before per-cell seeds falls back to the study's seed list
    old = {"values": {"balanced_accuracy": [0.5, 0.6, 0.7]}}
    assert batch.paired_by_seed(record, old, ecl) == ([0.5, 0.6, 0.7], [0.1, 0.2, 0.3])


def test_lambda_rows_get_a_generated_verdict(tmp_path):
    data = _data({"ecl": [0.02, 0.03, 0.01]})
    for seed_shift, lam in ((0.0, 0.25), (0.05, 0.75)):  # λ 0.75 lies 5 pp below ECL on every seed, with spread
        for b in (16, 256):
            ecl = data["cells"][f"ecl-B{b}"]["values"]["balanced_accuracy"]
            values = [v - seed_shift - 0.001 * k for k, v in enumerate(ecl)] if seed_shift else \
                [v + d for v, d in zip(ecl, (0.01, -0.012, 0.003))]
            data["cells"][f"ecl-lambda{lam}-B{b}"] = {
                "method": f"ecl-lambda{lam}", "tuned_from": "ecl", "batch": b, "lr": 0.03, "lambda": lam,
                "finished": 3, "values": {m: list(values) for m in batch.METRICS}}
    text = "\n".join(batch._lambda_lines(data))
    assert "Generated verdict (balanced accuracy): ECL (λ 0.5) is above ecl-lambda0.75 at B = 16" in text
    assert "inside the noise of ecl-lambda0.25 at B = 16, ecl-lambda0.25 at B = 256" in text


def test_a_refresh_that_finds_nothing_new_keeps_the_recorded_date(tmp_path):
    """--docs-only refreshes batch.json from the run folders; unchanged cells keep its date (byte-identical
    page), changed cells get a new one."""
    args = _args(tmp_path)
    cells, tuned = _plan(args)
    raw = tmp_path / "results" / batch.FOLDER / batch.RAW
    batch.collect(args, cells, tuned, [])
    recorded = json.loads(raw.read_text())
    recorded["date"] = "2026-01-01 00:00:00 UTC"
    raw.write_text(json.dumps(recorded))
    assert batch.collect(args, cells, tuned, [])["date"] == "2026-01-01 00:00:00 UTC"
    recorded["cells"]["la-B16-lr0.00625"] = {"stale": True}
    raw.write_text(json.dumps(recorded))
    assert batch.collect(args, cells, tuned, [])["date"] != "2026-01-01 00:00:00 UTC"
