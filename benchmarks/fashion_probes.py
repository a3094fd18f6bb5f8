"""Probes on fashion-mnist-lt (issue 13, item 5): the tuned main row with one setting changed, per suspect.

    python benchmarks/fashion_probes.py --dry-run        # the commands
    python benchmarks/fashion_probes.py --jobs 2         # train what is missing (resumable), then the docs
    python benchmarks/fashion_probes.py --docs-only      # rewrite the section from probes.json as recorded

Every probe is the tuned main row of one method (its lr / τ / weight decay as chosen on validation by
`benchmarks/fashion_study.py`, read from that study's summary.json) with ONE setting changed, trained on the same
report seeds 0-4 as the main table, so that probe − main and probe − baseline are paired by seed (same
split, same initialisation seed). Each (probe, method) is one `ecl compare` into
runs/fashion-study/fashion-mnist-lt-<key>-probes/<probe>-<method>/ (outside git; finished runs are
skipped). Raw per-seed results, the calibrated α, β, γ of every ECL run and the commands go to
benchmarks/results/fashion-mnist-lt-<key>-probes/probes.json; the generated section to PROBES.md in the
same folder, which `fashion_study.py` places under its IF section of docs/RESULTS.md. One setting can
move several training factors (batch 256 at lr × 2 also halves the optimiser steps): each probe lists
in PROBES the factors it moves, and the page names them; its verdict sentences and the Holm marks over
the table's family come from benchmarks/calls.py. probes.json records every driver invocation and the
`ecl compare` command of every row; `--docs-only` reads it as recorded (no run folder needed).

The suspects (issue 13): the first-epoch calibration of α, β, γ (fixed weights; calibration one epoch
later), the batch size (contrastive losses want large batches), the temperature (beyond the tuned
grid; and the τ every rival chose where ECL's one-seed tuning chose another), and the training length
(4 epochs is short for contrastive learning: ECL against LA at 8).
None of them changes a default: each is its own row.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import calls
import fashion_study as study

from ecl.atomic import atomic_write_json, atomic_write_text
from ecl.engine.training.run_folder import RunFolder
from ecl.evaluation.comparison import paired_interval

METRICS = ("balanced_accuracy", "many", "medium", "few")
WEIGHTS = ("alpha", "beta", "gamma")
MAIN = ("ecl", "la", "procondual")  # the main rows the probes start from or are paired with


@dataclass(frozen=True)
class Probe:
    """One change to the tuned main row of `methods` (`lr_scale` multiplies the tuned lr).

    `factors`: every training factor that differs from the main row because of the change (what
    moved together); a probe with more than one cannot say which of them made a difference.
    """

    methods: tuple[str, ...]
    changes: tuple[str, ...]
    why: str
    factors: tuple[str, ...]
    lr_scale: float = 1.0


PROBES = {
    "fixed-weights": Probe(("ecl", "procondual"), ("loss.weighting=fixed",),
                           "α = β = γ = 1, no calibration (is the first-epoch calibration the problem?); "
                           "ProConDual calibrates the same way, so it gets the same change",
                           ("loss weights (calibrated α, β, γ → 1, 1, 1)",)),
    "calibrate-epoch2": Probe(("ecl", "procondual"), ("train.warmup_epochs=1",),
                              "one linear warm-up epoch, so α, β, γ are calibrated on epoch 2 on a trained network "
                              "(ProConDual calibrates the same way: same change)",
                              ("a linear learning-rate warm-up over epoch 1",
                               "the epoch the loss weights are calibrated on (1 → 2)")),
    "batch256": Probe(("ecl",), ("train.batch_size=256",),
                      "batch 256 instead of 128 (twice the positives and negatives per anchor), lr × 2 (linear scaling)",
                      ("batch size (128 → 256)", "learning rate (× 2)", "optimiser steps per epoch (÷ 2)",
                       "the batches the loss weights are calibrated on"),
                      lr_scale=2.0),
    "batch256-fixed": Probe(("ecl",), ("train.batch_size=256", "loss.weighting=fixed"),
                            "batch 256, lr × 2, α = β = γ = 1 (the batch-256 row without the calibration)",
                            ("batch size (128 → 256)", "learning rate (× 2)", "optimiser steps per epoch (÷ 2)",
                             "loss weights (calibrated α, β, γ → 1, 1, 1)"),
                            lr_scale=2.0),
    "tau0.2": Probe(("ecl",), ("loss.temperature=0.2",), "τ 0.2, beyond the tuned grid {0.07, 0.1}",
                    ("temperature τ",)),
    "tau0.1": Probe(("ecl",), ("loss.temperature=0.1",),
                    "τ 0.1, the value every contrastive rival chose at IF 10, where ECL's one-seed tuning chose 0.07 "
                    "(by 0.3 pp of validation accuracy); at IF 100 ECL's tuned row already has τ 0.1",
                    ("temperature τ",)),
    "epochs8": Probe(("ecl", "la"), ("train.epochs=8", "eval.every=8"),
                     "8 epochs instead of 4, for ECL and for LA (does the gap change with training length?)",
                     ("epochs (4 → 8: twice the optimiser steps)", "the cosine learning-rate schedule's length")),
}


def factors_text(factors: list[str] | tuple[str, ...]) -> str:
    """'one factor: τ' or 'N factors moved together, not separated by this probe: a; b'."""
    if len(factors) == 1:
        return f"one factor: {factors[0]}"
    return f"{len(factors)} factors moved together, not separated by this probe: {'; '.join(factors)}"


def tuned(key: str, args: argparse.Namespace) -> dict[str, dict[str, str]]:
    """{method: {key: value}} chosen on validation by the main study (its summary.json)."""
    summary = study.read_json(Path(args.results) / f"fashion-mnist-lt-{key}" / "summary.json") or {}
    chosen = {m: (summary.get(m, {}).get("tuning") or {}).get("chosen") for m in MAIN}
    missing = [m for m, c in chosen.items() if not c]
    if missing:
        raise SystemExit(f"[fashion-probes] {key}: the main study has no tuned {', '.join(missing)} yet "
                         f"(run benchmarks/fashion_study.py --datasets {key} first)")
    return chosen


def out_dir(key: str, args: argparse.Namespace, name: str, method: str) -> Path:
    return Path(args.runs) / f"fashion-mnist-lt-{key}-probes" / f"{name}-{method}"


def command(key: str, args: argparse.Namespace, name: str, method: str) -> list[str]:
    """The `ecl compare` argv of one (probe, method): the study's shared settings, the tuned values, the change."""
    probe = PROBES[name]
    settings = dict(tuned(key, args)[method])
    settings["train.lr"] = f"{float(settings['train.lr']) * probe.lr_scale:g}"
    shared = [o for o in study.overrides(key, args) if not o.startswith("out=")]
    changed = [c.split("=", 1)[0] for c in probe.changes]
    kept = [o for o in shared if o.split("=", 1)[0] not in changed and o.split("=", 1)[0] not in settings]
    settings_list = [f"{k}={v}" for k, v in settings.items() if k not in changed]
    return (["compare", "--methods", method, "--seeds", args.seeds, "--jobs", str(args.jobs)]
            + kept + settings_list + list(probe.changes) + [f"out={out_dir(key, args, name, method)}"])


def same_as_main(key: str, args: argparse.Namespace, name: str, method: str) -> bool:
    """True when the probe changes nothing of the tuned main row (e.g. τ 0.1 where tuning chose 0.1)."""
    probe = PROBES[name]
    chosen = tuned(key, args)[method]
    return probe.lr_scale == 1 and all(chosen.get(k) == v for k, v in (c.split("=", 1) for c in probe.changes))


def planned(key: str, args: argparse.Namespace, names: list[str]) -> list[tuple[str, str]]:
    """The (probe, method) rows of `names` to train: those that change the tuned main row."""
    return [(name, method) for name in names for method in PROBES[name].methods
            if not same_as_main(key, args, name, method)]


def _per_seed(folder: Path, seeds: list[int]) -> dict[str, Any]:
    """Per-seed test metrics and calibrated weights of one method's finished runs (None where missing)."""
    row: dict[str, Any] = {m: [] for m in (*METRICS, *WEIGHTS)}
    for seed in seeds:
        run = RunFolder(folder / f"seed{seed}")
        final = run.read_final() if run.is_finished() else {}
        last = (run.read_metrics() or [{}])[-1] if final else {}
        for m in METRICS:
            row[m].append(final.get(m))
        for w in WEIGHTS:
            row[w].append(last.get(f"weights/{w}"))
    row["finished"] = sum(v is not None for v in row["balanced_accuracy"])
    return row


def collect(key: str, args: argparse.Namespace, names: list[str]) -> dict[str, Any]:
    """probes.json: every probe row and the main rows it is paired with (per seed, raw)."""
    seeds = [int(s) for s in study.split_list(args.seeds)]
    main_out = Path(args.runs) / f"fashion-mnist-lt-{key}"
    dest = Path(args.results) / f"fashion-mnist-lt-{key}-probes"
    previous = study.read_json(dest / "probes.json") or {}
    rows = dict(previous.get("rows", {}))
    for method in MAIN:
        if (main_out / method).is_dir():
            rows[f"main-{method}"] = _per_seed(main_out / method, seeds)
    requested = {f"{name}-{method}" for name in names for method in PROBES[name].methods}
    commands = {label: c for label, c in previous.get("commands", {}).items() if label not in requested}
    for name, method in planned(key, args, names):
        folder = out_dir(key, args, name, method)
        if folder.is_dir():
            rows[f"{name}-{method}"] = _per_seed(folder / method, seeds)
        commands[f"{name}-{method}"] = "ecl " + " ".join(map(shlex.quote, command(key, args, name, method)))
    driver = "python benchmarks/fashion_probes.py " + " ".join(map(shlex.quote, sys.argv[1:]))  # every invocation
    data = {"key": key, "seeds": seeds, "tuned": tuned(key, args), "rows": rows, "commands": commands,
            "drivers": list(dict.fromkeys([*previous.get("drivers", []), driver])),
            "probes": {n: {"methods": list(p.methods), "changes": list(p.changes), "why": p.why,
                           "factors": list(p.factors), "lr_scale": p.lr_scale} for n, p in PROBES.items()},
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "machine": study.machine()}
    dest.mkdir(parents=True, exist_ok=True)
    atomic_write_json(dest / "probes.json", data)
    return data


def _mean(values: list[float | None], scale: float = 100.0, spread: bool = True) -> str:
    """'mean ± sd' (ddof=1) of the present values, scaled; only the mean when `spread` is off or n = 1."""
    present = [v for v in values if v is not None]
    if not present:
        return "—"
    mean = sum(present) / len(present)
    if len(present) < 2 or not spread:
        return f"{scale * mean:.2f}"
    sd = (sum((v - mean) ** 2 for v in present) / (len(present) - 1)) ** 0.5
    return f"{scale * mean:.2f} ± {scale * sd:.2f}"


def _delta(a: list, b: list, holm: bool = False) -> str:
    interval = paired_interval(a, b)
    if interval is None:
        return "—"
    if interval["low"] is None:
        return f"{100 * interval['mean']:+.2f} (n=1)"
    star = "*" if interval["excludes_zero"] else ""
    return (f"{100 * interval['mean']:+.2f} [{100 * interval['low']:+.2f}, {100 * interval['high']:+.2f}]{star}"
            + (calls.HOLM_MARK if holm else ""))


def _rival(name: str, method: str, methods: list[str]) -> str:
    """The row a probe row is paired against: ECL ↔ the other method of the same probe."""
    if method != "ecl":
        return f"{name}-ecl"
    others = [m for m in methods if m != "ecl"]
    return f"{name}-{others[0]}" if others else "main-procondual"


def table_rows(data: dict) -> list[tuple[str, str, str]]:
    """(label, its main row, its rival) of every row the table shows, in table order."""
    rows = [(label, label, "main-procondual" if label == "main-ecl" else "main-ecl")
            for label in ("main-ecl", "main-procondual", "main-la") if label in data["rows"]]
    for name, probe in data["probes"].items():
        for method in probe["methods"]:
            if f"{name}-{method}" in data["rows"]:
                rows.append((f"{name}-{method}", f"main-{method}", _rival(name, method, probe["methods"])))
    return rows


def probe_family(data: dict) -> dict[tuple[str, str], calls.Call]:
    """The table's family: each distinct pair (row, main row or rival) once, balanced accuracy, Holm over all."""
    rows = data["rows"]
    pairs = {}
    for label, reference, rival in table_rows(data):
        for other in (reference, rival):
            if other != label and other in rows:
                a, b = sorted((label, other))
                pairs[(a, b)] = (rows[a]["balanced_accuracy"], rows[b]["balanced_accuracy"])
    return calls.family(pairs)


def _holm(family: dict, a: str, b: str) -> bool:
    call = family.get(tuple(sorted((a, b))))
    return bool(call and call.holm)


def _row(data: dict, label: str, reference: str, rival: str, family: dict) -> str:
    rows = data["rows"]
    row = rows[label]
    weights = "/".join(_mean(row[w], 1.0, spread=False) for w in WEIGHTS) if row["alpha"][0] is not None else "—"
    ref = rows.get(reference, {}).get("balanced_accuracy", [None] * len(row["balanced_accuracy"]))
    riv = rows.get(rival, {}).get("balanced_accuracy", [None] * len(row["balanced_accuracy"]))
    own = "(reference)" if label == reference else _delta(row["balanced_accuracy"], ref, _holm(family, label, reference))
    return (f"| {label} | {row['finished']} | " + " | ".join(_mean(row[m]) for m in METRICS)
            + f" | {weights} | {own} | {_delta(row['balanced_accuracy'], riv, _holm(family, label, rival))} |")


def _factors(name: str, probe: dict) -> list[str]:
    """The factors a probe moved: the script's PROBES table (probes.json of older runs lacks them)."""
    return list(PROBES[name].factors) if name in PROBES else list(probe.get("factors") or probe["changes"])


def verdicts(data: dict, family: dict) -> list[str]:
    """One generated sentence per probe row: against its main row and its rival, with what moved."""
    lines = []
    for label, reference, rival in table_rows(data):
        if label == reference:
            continue
        name = label[: label.rindex("-")]
        parts = []
        for other in (reference, rival):
            call = family.get(tuple(sorted((label, other))))
            if call is None:
                continue
            if call.p is None:
                parts.append(f"untestable against {other}")
            elif call.sign == 0:
                parts.append(f"inside the noise of {other}")
            else:  # the stored call is a − b of the sorted pair; turn it into label − other
                above = (call.sign > 0) == (label < other)
                parts.append(f"{'above' if above else 'below'} {other} beyond the noise"
                             + (calls.HOLM_MARK if call.holm else ""))
        lines.append(f"- `{label}` — {factors_text(_factors(name, data['probes'][name]))}. "
                     f"Balanced accuracy: {'; '.join(parts)}.")
    return lines


def section(data: dict) -> str:
    """The generated markdown of the probes (placed by fashion_study.py under the IF section)."""
    family = probe_family(data)
    lines = [f"#### Probes: the tuned main row with one setting changed (IF {study.DATASETS[data['key']]})", "",
             "_Generated by `python benchmarks/fashion_probes.py`._ Each probe is the tuned main row "
             "(values chosen on validation above) with one setting changed, on the same report seeds, so the "
             "differences are paired by seed: mean [95% t-interval] in pp of balanced accuracy, * when the "
             "interval excludes 0. One setting can move several training factors at once; the change table "
             "says which. α/β/γ: the weights in force at the end (mean over seeds; calibrated "
             "once by `auto`, 1/1/1 when fixed). No default was changed. "
             + calls.family_note(family, "this table (each distinct pair of rows once)"), "",
             "| row | seeds | bal. acc | many | medium | few | α/β/γ | − same method, main row | − rival |",
             "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |"]
    lines += [_row(data, label, reference, rival, family) for label, reference, rival in table_rows(data)]
    lines += ["", "Rival column (row − rival, paired by seed): for an ECL row, the baseline under the same "
              "change when the probe trains one, else main-procondual; for a baseline row, ECL under the same "
              "change.", "",
              "| probe | change | factors that moved | why |", "| --- | --- | --- | --- |"]
    ran = {n: p for n, p in data["probes"].items() if any(f"{n}-{m}" in data["rows"] for m in p["methods"])}
    lines += [f"| {n} | {', '.join(f'`{c}`' for c in p['changes'])}" + (f", lr × {p['lr_scale']:g}" if p["lr_scale"] != 1 else "")
              + f" | {'; '.join(_factors(n, p))} | {PROBES[n].why if n in PROBES else p['why']} |" for n, p in ran.items()]
    lines += ["", "Generated verdicts (balanced accuracy, row against its main row and its rival; (Holm): "
              "survives the correction over this table's family):", "", *verdicts(data, family)]
    lines += ["", "Commands that trained these rows (as recorded in probes.json; each resumable):", ""]
    lines += [f"- driver: `{d}`" for d in data.get("drivers", [])]
    lines += [f"- `{study.portable(c)}`" for c in data["commands"].values()]
    return "\n".join(lines) + "\n"


def write(key: str, args: argparse.Namespace, names: list[str], refresh: bool = True) -> None:
    """PROBES.md (and the docs) from probes.json; `refresh` first collects the run folders into it."""
    dest = Path(args.results) / f"fashion-mnist-lt-{key}-probes"
    data = collect(key, args, names) if refresh else study.read_json(dest / "probes.json")
    if data is None:
        raise SystemExit(f"[fashion-probes] {dest / 'probes.json'}: missing or unreadable; nothing to write")
    atomic_write_text(dest / "PROBES.md", section(data))
    study.write_docs(Path(args.results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="if100", choices=tuple(study.DATASETS))
    parser.add_argument("--probes", default=",".join(PROBES), help=f"comma list of {', '.join(PROBES)}")
    parser.add_argument("--seeds", default=study.REPORT_SEEDS)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", default=str(study.ROOT / "runs" / "fashion-study"))
    parser.add_argument("--results", default=str(study.RESULTS))
    parser.add_argument("--dry-run", action="store_true")
    parser.add_argument("--docs-only", action="store_true")
    args = parser.parse_args()
    args.backbone, args.image_size, args.epochs = study.BACKBONE, study.IMAGE_SIZE, study.EPOCHS
    names = study.split_list(args.probes)
    unknown = [n for n in names if n not in PROBES]
    if unknown:
        raise SystemExit(f"--probes: unknown {', '.join(unknown)} (known: {', '.join(PROBES)})")
    rows = planned(args.dataset, args, names)
    for name in names:
        for method in PROBES[name].methods:
            if (name, method) not in rows:
                print(f"[fashion-probes] {name}-{method}: the tuned main row already has "
                      f"{', '.join(PROBES[name].changes)}; skipped", file=sys.stderr, flush=True)
    if args.dry_run:
        for name, method in rows:
            print("ecl " + " ".join(map(shlex.quote, command(args.dataset, args, name, method))))
        return
    if not args.docs_only:
        from ecl.cli import main as ecl_main

        for name, method in rows:
            argv = command(args.dataset, args, name, method)
            print("[fashion-probes] ecl " + " ".join(map(shlex.quote, argv)), file=sys.stderr, flush=True)
            code = ecl_main(argv)
            if code != 0:
                raise SystemExit(f"[fashion-probes] {name}-{method}: ecl compare exited {code}; rerun to continue")
            write(args.dataset, args, names)  # after every row, so an interrupted study keeps its docs
        return
    write(args.dataset, args, names, refresh=False)  # --docs-only: from probes.json as recorded, no run folders


if __name__ == "__main__":
    main()
