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
