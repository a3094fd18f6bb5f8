"""fashion_study.py --extend (benchmarks/grid_extend.py): extending a recorded tuning grid trains only the
combinations without a recorded score, chooses the argmax over the merged grid, and trains report seeds
only for the methods whose choice moved (faked records and a faked `ecl compare`, no training)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))

grid_extend = pytest.importorskip("grid_extend")
study = pytest.importorskip("fashion_study")

from ecl.engine.commands.tuning import method_grids  # noqa: E402
from ecl.engine.training.run_folder import RunFolder  # noqa: E402

METRICS = ("top1", "balanced_accuracy", "macro_f1", "many", "medium", "few", "FC", "MS", "SD")
TAUS = ("0.07", "0.1")
# validation scores of every (method, lr, τ): the recorded grid {0.03, 0.1}, and lr 0.01 trained now.
# ecl's best moves to lr 0.01 (τ 0.1); bcl's stays at lr 0.03, τ 0.07.
SCORES = {
    ("ecl", "0.03", "0.07"): 0.762, ("ecl", "0.03", "0.1"): 0.769, ("ecl", "0.1", "0.07"): 0.74,
    ("ecl", "0.1", "0.1"): 0.721, ("ecl", "0.01", "0.07"): 0.765, ("ecl", "0.01", "0.1"): 0.780,
    ("bcl", "0.03", "0.07"): 0.773, ("bcl", "0.03", "0.1"): 0.764, ("bcl", "0.1", "0.07"): 0.701,
    ("bcl", "0.1", "0.1"): 0.724, ("bcl", "0.01", "0.07"): 0.70, ("bcl", "0.01", "0.1"): 0.71,
}


def _label(lr: str, tau: str) -> str:
    return f"train.lr={lr}+loss.temperature={tau}"


def _record(method: str, lrs: tuple[str, ...]) -> dict:
    """A tuning record as `ecl compare --tune` writes it, over lrs × TAUS (grid order), with SCORES."""
    scores = [{"values": {"train.lr": lr, "loss.temperature": t}, "label": _label(lr, t),
               "per_seed": [SCORES[(method, lr, t)]], "mean": SCORES[(method, lr, t)]} for lr in lrs for t in TAUS]
    best = max(range(len(scores)), key=lambda i: (scores[i]["mean"], -i))
    return {"grid": {"train.lr": list(lrs), "loss.temperature": list(TAUS)}, "scores": scores,
            "chosen": dict(scores[best]["values"]), "chosen_index": best, "criterion": "c", "tune_seeds": [100]}


def _row(value: float, tuning: dict) -> dict:
    row = {m: {"mean": value, "std": 0.0, "values": [value] * 5} for m in METRICS}
    setting = {"tuned": False, "note": "not tuned", "lr": 0.03, "weighting": "auto", "calibration_epoch": 1,
               "weights": [{"alpha": 0.5, "beta": 0.2}] * 5, "lr_classifier": [0.015] * 5}
    return {**row, "tuning": tuning, "setting": setting}


def _args(tmp_path: Path, methods: str) -> argparse.Namespace:
    return argparse.Namespace(methods=methods, seeds="0,1,2,3,4", tune_seeds="100", lrs="0.01,0.03,0.1",
                              datasets="if100", runs=str(tmp_path / "runs"), results=str(tmp_path / "results"),
                              backbone=study.BACKBONE, image_size=study.IMAGE_SIZE, epochs=study.EPOCHS,
                              jobs=2, threads=1, stage="all")


def _recorded(tmp_path: Path) -> Path:
    dest = tmp_path / "results" / "fashion-mnist-lt-if100"
    dest.mkdir(parents=True)
    old = {m: _record(m, ("0.03", "0.1")) for m in ("ecl", "bcl")}
    (dest / "tuning.json").write_text(json.dumps(old))
    (dest / "summary.json").write_text(json.dumps({"ecl": _row(0.7, old["ecl"]), "bcl": _row(0.6, old["bcl"])}))
    rows = {m: {"date": "2026-11-29", "commit": None, "command": "first", "weighting": "auto"} for m in old}
    (dest / "study.json").write_text(json.dumps({"key": "if100", "methods": ["ecl", "bcl"], "rows": rows,
                                                 "commands": {"tune": "ecl compare first"}}))
    return dest


class FakeCompare:
    """`ecl compare` that records each argv and writes what the real one would for it: the final-epoch
    validation score (SCORES) of every tuning combination of its grid, or a report summary.json."""

    def __init__(self, out: Path):
        self.out, self.calls = out, []

    def __call__(self, argv: list[str]) -> int:
        self.calls.append(list(argv))
        methods = argv[argv.index("--methods") + 1].split(",")
        if "--tune" in argv:
            axes = [argv[i + 1] for i, a in enumerate(argv) if a == "--tune"]
            for method, combinations in method_grids(axes, methods).items():
                for combination in combinations:
                    lr, tau = dict(combination)["train.lr"], dict(combination)["loss.temperature"]
                    run = RunFolder(self.out / "tune" / method / _label(lr, tau) / "seed100")
                    run.path.mkdir(parents=True)
                    run.metrics_file.write_text(json.dumps({"epoch": 4, "val/balanced_accuracy": SCORES[(method, lr, tau)]}) + "\n")
            return 0
        summary = {m: _row(0.9, {}) for m in methods}
        (self.out / "summary.json").write_text(json.dumps(summary))
        return 0


def test_extend_trains_only_the_missing_points_and_chooses_the_argmax_of_the_merged_grid(tmp_path, monkeypatch):
    dest = _recorded(tmp_path)
    fake = FakeCompare(tmp_path / "runs" / "fashion-mnist-lt-if100")
    monkeypatch.setattr("ecl.cli.main", fake)
    monkeypatch.setattr(study, "write_docs", lambda results: None)
    monkeypatch.setattr(sys, "argv", ["fashion_study.py", "--extend"])
    study.extend(_args(tmp_path, "ecl,bcl"))

    trained = {}  # one tuning step per method: exactly lr 0.01 × each τ, nothing recorded retrained
    for call in [c for c in fake.calls if "--tune" in c]:
        methods = call[call.index("--methods") + 1].split(",")
        axes = [call[i + 1] for i, a in enumerate(call) if a == "--tune"]
        for method, combinations in method_grids(axes, methods).items():
            trained.setdefault(method, []).extend(f"{dict(c)['train.lr']}/{dict(c)['loss.temperature']}" for c in combinations)
    assert {m: sorted(v) for m, v in trained.items()} == {m: ["0.01/0.07", "0.01/0.1"] for m in ("ecl", "bcl")}

    tuning = json.loads((dest / "tuning.json").read_text())
    for method in ("ecl", "bcl"):
        merged = {(k[1], k[2]): v for k, v in SCORES.items() if k[0] == method}
        best = max(merged.values())
        assert tuning[method]["chosen"] == {"train.lr": next(k for k, v in merged.items() if v == best)[0],
                                            "loss.temperature": next(k for k, v in merged.items() if v == best)[1]}
        assert len(tuning[method]["scores"]) == 6 and tuning[method]["grid"]["train.lr"] == ["0.01", "0.03", "0.1"]
        origins = {r["values"]["train.lr"]: r["provenance"]["command"] for r in tuning[method]["scores"]}
        assert origins["0.03"] == "first" and origins["0.01"].startswith("ecl compare")  # each keeps its own

    report_calls = [c for c in fake.calls if "--tune" not in c]  # only ecl's choice moved
    assert len(report_calls) == 1 and report_calls[0][report_calls[0].index("--methods") + 1] == "ecl"
    assert "train.lr=0.01" in report_calls[0] and "loss.temperature=0.1" in report_calls[0]
    summary = json.loads((dest / "summary.json").read_text())
    assert summary["ecl"]["balanced_accuracy"]["mean"] == 0.9 and summary["ecl"]["setting"]["tuned"]
    assert summary["bcl"]["balanced_accuracy"]["mean"] == 0.6  # kept: its choice stayed
    assert summary["bcl"]["tuning"] == tuning["bcl"] and summary["ecl"]["tuning"] == tuning["ecl"]
    record = json.loads((dest / "study.json").read_text())
    assert record["rows"]["bcl"]["command"] == "first" and record["rows"]["ecl"]["command"].endswith("--extend")
    assert record["status"]["finished"] == {"tune": 12, "report": 10}

    fake.calls.clear()  # rerun: everything recorded, nothing trains
    study.extend(_args(tmp_path, "ecl,bcl"))
    assert fake.calls == []


def test_a_tie_goes_to_the_first_combination_in_grid_order():
    combos = [(("train.lr", lr),) for lr in ("0.01", "0.03", "0.1")]
    record = {"scores": [{"label": "train.lr=0.03", "per_seed": [0.8]}, {"label": "train.lr=0.1", "per_seed": [0.7]}],
              "tune_seeds": [100]}
    merged = grid_extend.merge(record, combos, {"train.lr=0.01": [0.8]}, {"command": "new"}, {"command": "old"}, [100])
    assert merged["chosen"] == {"train.lr": "0.01"} and merged["chosen_index"] == 0
    with pytest.raises(grid_extend.GridExtendError, match="tuning seeds"):
        grid_extend.merge(record, combos, {"train.lr=0.01": [0.8]}, {}, {}, [7])


def test_pending_report_rows_are_named_with_their_command(tmp_path):
    tuning = {"ecl": _record("ecl", ("0.01", "0.03", "0.1")), "bcl": _record("bcl", ("0.01", "0.03", "0.1"))}
    summary = {"ecl": _row(0.7, _record("ecl", ("0.03", "0.1"))), "bcl": _row(0.6, tuning["bcl"])}
    lines = study.grid_lines(tuning, {"key": "if100"}, summary)
    pending = [line for line in lines if "pending" in line]
    assert len(pending) == 1 and "report rows of ecl" in pending[0]
    assert "--datasets if100 --methods ecl --extend --jobs 2" in pending[0]


def test_edge_note_reads_the_extended_grid_not_the_report_rows_record():
    """bcl's report row was trained on {0.03, 0.1} where it chose the low edge 0.03; extended to 0.01 its
    choice stays 0.03, now inside the grid: no edge note. Without the extended record the note stands."""
    old = _record("bcl", ("0.03", "0.1"))
    summary = {"bcl": _row(0.6, old)}
    assert old["chosen"]["train.lr"] == "0.03"
    assert any("0.03, the lowest value of its grid {0.03, 0.1}" in n for n in study.grid_edges(summary))
    extended = {"bcl": _record("bcl", ("0.01", "0.03", "0.1"))}
    assert extended["bcl"]["chosen"]["train.lr"] == "0.03"
    assert not any("train.lr" in n for n in study.grid_edges(summary, extended))
    # ecl's extended choice sits on the new low edge (0.01): named from the extended grid
    notes = study.grid_edges({"ecl": _row(0.7, _record("ecl", ("0.03", "0.1")))},
                             {"ecl": _record("ecl", ("0.01", "0.03", "0.1"))})
    assert any("chose 0.01, the lowest value of its grid {0.01, 0.03, 0.1}" in n for n in notes)


def test_a_single_row_at_the_edge_of_a_shared_lr_grid_is_named():
    """On a grid whose rows chose different lrs, the one row at the grid's end is still named (lr only)."""
    lrs = ("0.01", "0.03", "0.1")
    tuning = {"ecl": _record("ecl", lrs), "bcl": _record("bcl", lrs)}
    assert tuning["ecl"]["chosen"]["train.lr"] == "0.01" and tuning["bcl"]["chosen"]["train.lr"] == "0.03"
    summary = {m: _row(0.7, tuning[m]) for m in tuning}
    notes = study.grid_edges(summary, tuning)
    assert notes == ["- ecl tuning `train.lr` chose 0.01, the lowest value of its grid {0.01, 0.03, 0.1}: its "
                     "optimum may lie below the grid"]
