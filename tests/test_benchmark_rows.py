"""benchmarks/rows.py and its use by methods.py / fashion_study.py: re-running some rows of a recorded
comparison replaces only those rows, keeps the others byte for byte, and records per row when and under
which weighting it was trained (faked results, no training)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))

rows = pytest.importorskip("rows")
methods_py = pytest.importorskip("methods")
study = pytest.importorskip("fashion_study")

METRICS = ("top1", "balanced_accuracy", "macro_f1", "many", "medium", "few", "FC", "MS", "SD")


def _row(values: list[float], setting: dict | None = None, tuning: dict | None = None) -> dict:
    mean = sum(values) / len(values)
    row = {m: {"mean": mean, "std": 0.0, "values": list(values)} for m in METRICS}
    if setting:
        row["setting"] = setting
    if tuning:
        row["tuning"] = tuning
    return row


FIXED = {"tuned": False, "note": None, "lr": 0.05, "weighting": "fixed", "calibration_epoch": None,
         "weights": [{"alpha": 1.0}] * 3, "lr_classifier": [0.05] * 3}


def _tuning(lrs: list[str]) -> dict:
    scores = [{"values": {"train.lr": lr}, "label": f"train.lr={lr}", "per_seed": [0.5], "mean": 0.5} for lr in lrs]
    return {"grid": {"train.lr": lrs}, "scores": scores, "chosen": {"train.lr": lrs[0]}, "chosen_index": 0,
            "criterion": "final-epoch validation balanced accuracy", "tune_seeds": [100]}


def test_merge_replaces_only_the_named_rows_in_place():
    old = {"ce": _row([0.1, 0.2, 0.3]), "bcl": _row([0.7, 0.8, 0.9]), "ecl": _row([0.5, 0.5, 0.6])}
    new = {"ce": _row([0.4, 0.4, 0.4], FIXED), "la": _row([0.6, 0.6, 0.6], FIXED)}
    merged = rows.merge_rows(old, new, ["ce", "la"])
    assert list(merged) == ["ce", "bcl", "ecl", "la"]  # replaced in place, new appended
    assert merged["ce"]["balanced_accuracy"]["values"] == [0.4, 0.4, 0.4]
    assert merged["bcl"] == old["bcl"] and merged["ecl"] == old["ecl"]
    assert old["ce"]["balanced_accuracy"]["values"] == [0.1, 0.2, 0.3]  # the input is not modified


def test_merge_refuses_other_seed_counts_and_missing_rows():
    old = {"ce": _row([0.1, 0.2, 0.3]), "ecl": _row([0.5, 0.5, 0.6])}
    with pytest.raises(rows.RowMergeError, match="row ce has 5 seeds"):
        rows.merge_rows(old, {"ce": _row([0.1] * 5)}, ["ce"])
    with pytest.raises(rows.RowMergeError, match="no row la"):
        rows.merge_rows(old, {"ce": _row([0.1] * 3)}, ["ce", "la"])


def test_provenance_keeps_recorded_rows_and_labels_legacy_ones():
    merged = {"ce": _row([0.4] * 3, FIXED), "ecl": _row([0.5] * 3), "bcl": _row([0.5] * 3)}
    recorded = {"bcl": {"date": "d0", "commit": "abc", "command": "c0", "weighting": "fixed α=2"}}
    got = rows.provenance(recorded, merged, ["ce"], date="d1", command="c1", legacy_date="d-old",
                          legacy_command="c-old", revision="def")
    assert got["ce"] == {"date": "d1", "commit": "def", "command": "c1",
                         "weighting": "fixed α=1 (mean of 3 seeds); lr 0.05 → classifier loss rate lr×α 0.05"}
    assert got["bcl"] == recorded["bcl"]
    assert got["ecl"]["date"] == "d-old" and got["ecl"]["commit"] is None
    assert got["ecl"]["weighting"] == rows.LEGACY_OTHER
    legacy_ce = rows.provenance(None, {"ce": _row([0.1] * 3)}, [], date="x", command="x", legacy_date="d",
                                legacy_command="c")
    assert legacy_ce["ce"]["weighting"].startswith("auto")  # ce before issue 21: the authors' auto weighting
    got["supcon"] = {**got["ecl"]}  # one legacy group of two rows with one weighting, named once
    lines = rows.provenance_lines(got)
    assert len(lines) == 4 and "`ce`: trained d1 at commit def" in lines[1]
    assert lines[2].endswith(f"weighting: `ecl`, `supcon` {rows.LEGACY_OTHER}")


def _meta(methods: list[str], seeds: list[int], command: str, date: str) -> dict:
    return {"dataset": "digits-lt", "preset": "p", "imbalance_factor": 10, "methods": methods, "seeds": seeds,
            "epochs": 30, "backbone": "small_cnn", "command": command, "overrides": [], "jobs": 1, "threads": 1,
            "date": date, "machine": {}, "wall_seconds_this_invocation": 10.0, "train_seconds_sum": 8.0,
            "train_seconds_per_run_mean": 2.0}


def test_methods_record_merges_a_rerun_of_some_rows(tmp_path):
    dest = tmp_path / "digits-lt"
    first = {m: _row([0.5, 0.6, 0.7]) for m in ("ce", "la", "ecl")}
    methods_py.record(dest, first, _meta(["ce", "la", "ecl"], [0, 1, 2], "first", "2026-01-01"))
    assert json.loads((dest / "meta.json").read_text())["rows"]["ecl"]["command"] == "first"
    ecl_before = json.loads((dest / "summary.json").read_text())["ecl"]
    rerun = {m: _row([0.9, 0.9, 0.8], FIXED) for m in ("ce", "la")}
    methods_py.record(dest, rerun, _meta(["ce", "la"], [0, 1, 2], "again --methods ce,la", "2026-02-02"))
    summary = json.loads((dest / "summary.json").read_text())
    meta = json.loads((dest / "meta.json").read_text())
    assert list(summary) == ["ce", "la", "ecl"] and summary["ecl"] == ecl_before
    assert summary["la"]["balanced_accuracy"]["values"] == [0.9, 0.9, 0.8]
    assert meta["command"] == "first" and [r["command"] for r in meta["reruns"]] == ["again --methods ce,la"]
    assert meta["rows"]["la"]["date"] == "2026-02-02" and meta["rows"]["ecl"]["date"] == "2026-01-01"
    table = (dest / "table.md").read_text().splitlines()  # the table is redrawn from the merge
    assert any(line.startswith("| la |") and "86.67" in line for line in table)
    assert table[0] == "# digits-lt: ce, la, ecl — 30 epochs, small_cnn"
    with pytest.raises(rows.RowMergeError, match="recorded seeds"):
        methods_py.record(dest, {"ce": _row([0.1] * 5)}, _meta(["ce"], [0, 1, 2, 3, 4], "x", "d"))


def test_fashion_collect_replaces_rows_and_counts_the_kept_ones(tmp_path, monkeypatch):
    results, runs = tmp_path / "results", tmp_path / "runs"
    dest, out = results / "fashion-mnist-lt-if100", runs / "fashion-mnist-lt-if100"
    dest.mkdir(parents=True)
    out.mkdir(parents=True)
    old_tuning = _tuning(["0.03", "0.1"])
    recorded = {m: _row([0.5] * 5, tuning=old_tuning) for m in ("ce", "la", "ecl")}
    (dest / "summary.json").write_text(json.dumps(recorded))
    (dest / "tuning.json").write_text(json.dumps({m: old_tuning for m in recorded}))
    (dest / "study.json").write_text(json.dumps({"methods": ["ce", "la", "ecl"], "key": "if100", "date": "old",
                                                 "driver": "python benchmarks/fashion_study.py --datasets if100"}))
    new_tuning = _tuning(["0.01", "0.03", "0.1"])
    (out / "tuning.json").write_text(json.dumps({"ce": new_tuning, "la": new_tuning}))
    (out / "summary.json").write_text(json.dumps({m: _row([0.7] * 5, FIXED, new_tuning) for m in ("ce", "la")}))
    own = {"finished": {"tune": 12, "report": 10}, "planned": {"tune": 12, "report": 10},
           "estimated_seconds_total": 0, "estimated_seconds_left": 0}
    monkeypatch.setattr(study, "status", lambda key, args: own)
    args = argparse.Namespace(methods="ce,la", seeds="0,1,2,3,4", tune_seeds="100", lrs="0.01,0.03,0.1",
                              runs=str(runs), results=str(results), backbone=study.BACKBONE,
                              image_size=study.IMAGE_SIZE, epochs=study.EPOCHS, jobs=1, threads=1)
    study.collect("if100", args, study.command("if100", args, "tune"), 1.0, 0)  # as run(): tune, then report
    study.collect("if100", args, study.command("if100", args, "report"), 1.0, 0)
    summary = json.loads((dest / "summary.json").read_text())
    record = json.loads((dest / "study.json").read_text())
    assert summary["ecl"] == recorded["ecl"] and summary["ce"]["balanced_accuracy"]["values"] == [0.7] * 5
    assert json.loads((dest / "tuning.json").read_text())["ecl"] == old_tuning
    # 12 + 10 runs of ce/la, plus ecl's recorded 2 tuning and 5 report runs
    assert record["status"]["finished"] == {"tune": 14, "report": 15} == record["status"]["planned"]
    assert set(record["commands"]) == {"tune, ce, la", "report, ce, la"}
    assert record["rows"]["ecl"]["date"] == "old"  # the recorded row's date, not the tune stage's record
    assert record["rows"]["ecl"]["command"] == "python benchmarks/fashion_study.py --datasets if100"
    lines = study.grid_lines(json.loads((dest / "tuning.json").read_text()), record)
    assert "  - `train.lr` {0.01, 0.03, 0.1}: ce, la" in lines
    assert any(line.startswith("  - **pending:**") and "--methods ecl " in line for line in lines)
