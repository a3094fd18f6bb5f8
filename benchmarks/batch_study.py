"""The batch-size study of issue 22 (run by hand, not in CI; resumable across sessions).

    python benchmarks/batch_study.py --dry-run          # the runs still to make, with their learning rates
    python benchmarks/batch_study.py --jobs 2           # train what is missing, then the docs
    python benchmarks/batch_study.py --lambdas 0.25,0.75 --jobs 2   # plus the λ rows at the extreme batches
    python benchmarks/batch_study.py --lambdas 0.25,0.75 --close-seeds 3,4 --jobs 2  # 5 seeds at B = 256, 16, 32
    python benchmarks/batch_study.py --docs-only        # rewrite the section of docs/RESULTS.md

The paper's claim tested: BC-ECL is batch-invariant (its prototypes enter through class averages, not
as one extra sample per class as in BCL), so ECL should need smaller batches than the contrastive
baselines. Setting: the fashion-mnist-lt IF 100 study of `fashion_study.py` (its backbone, image size,
epochs, validation split, shot groups: imported from there), methods la (the control: no contrastive
loss), supcon, bcl, procondual, ecl at global batch B ∈ {16, 32, 64, 128, 256}, the same number of
epochs at every B, report seeds 0, 1, 2.

Learning rate: lr_B = lr_ref × B / B_ref (linear scaling), lr_ref the method's tuned learning rate at
the batch its tuning ran at (B_ref: the `batch_size` of the study.json beside the tuning record, 128 for
fashion_study's), every other tuned value (τ, weight decay) kept. The tuning record defaults to
fashion_study's IF 100 tuning.json (each row's tuning date from the per-row records of the study.json
beside it, once fashion_study has re-run some rows); `--tuning FILE --tuning-date YYYY-MM-DD` takes the methods a newer
record holds (e.g. la re-tuned after the baseline-weighting fix) from it. The page names the record of
every method and flags rows whose tuning predates the weighting fix (WEIGHTING_FIX: ce/la then trained
at the calibrated auto weight, now at fixed weight 1). The λ rows (`--lambdas`) are ECL's tuned row with
only the prototype share λ changed (methods ecl-lambda<λ>), at the smallest and the largest batch.

Each (method, B) cell is one `ecl compare` (run in-process through `ecl.cli.main`) into
runs/batch-study/fashion-mnist-lt-if100-batch/<method>-B<B>-lr<lr>/ (outside git); a cell whose runs
have all finished is skipped, and `ecl compare` continues an interrupted one. Raw per-seed results, the
tuning records used, every driver invocation and the `ecl compare` command of every cell go to
benchmarks/results/fashion-mnist-lt-if100-batch/batch.json; the plots beside it; the generated section
to BATCH.md there and between its markers in docs/RESULTS.md (only when --results is the default).

Cost (measured 2026-12-02, one thread, 2 shared cores under load ~5): one ECL epoch at B = 16 (924
steps) took 57 s, the smoke run `--methods ecl --batches 16 --seeds 0 --epochs 1` about 1.5 min in all.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import re
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
from ecl.evaluation.comparison import GEOMETRY_METRICS, HEADERS, metric_value, paired_interval

KEY = "if100"
METHODS = ("la", "supcon", "bcl", "procondual", "ecl")
RIVALS = ("bcl", "procondual", "supcon")  # the contrastive baselines of the verdict
CONTROL = "la"  # no contrastive loss: what the batch does to the classifier alone
NAMES = {"la": "LA", "supcon": "SupCon", "bcl": "BCL", "procondual": "ProConDual", "ecl": "ECL"}
BATCHES = "16,32,64,128,256"
SEEDS = "0,1,2"
DROP_FROM, DROP_TO = 256, (16, 32)
METRICS = ("balanced_accuracy", "many", "medium", "few", "FC", "MS", "SD")
FOLDER = "fashion-mnist-lt-if100-batch"
TUNING = study.RESULTS / f"fashion-mnist-lt-{KEY}" / "tuning.json"
# sha256 of a tuning record → the date its tuning runs were made (fashion_study's IF 100 tuning ran on
# 2026-11-29 at batch 128; its tuning.json carries no date). Another record needs --tuning-date.
KNOWN_TUNINGS = {"05ba938b6f1f11b2b8fd43eb159608580ca487129a6a6d157b608231a9ce5a6f": "2026-11-29"}
# The baseline-weighting fix (merged 2026-12-02): ce and la train at fixed weight 1 instead of the
# calibrated auto weight; BCL's published weights are unchanged on this dataset's (CIFAR) protocol family.
WEIGHTING_FIX = "2026-12-02"
WEIGHTING_CHANGED = ("ce", "la")
RAW, PAGE = "batch.json", "BATCH.md"
FIGURES = {"accuracy_vs_batch.png": ("balanced_accuracy", "many", "medium", "few"),
           "geometry_vs_batch.png": ("FC", "MS", "SD")}
BEGIN, END = "<!-- fashion-mnist-lt-batch:begin -->", "<!-- fashion-mnist-lt-batch:end -->"
HYPOTHESIS = (
    "**Hypothesis (the paper's claim).** BC-ECL is *batch-invariant*: BCL-style prototypes count as one extra "
    "sample per class, so their influence depends on how many images of that class a batch holds, while BC-ECL "
    "balances class-average features and prototypes whatever the batch; the authors conclude that this "
    "\"offers … reduced batch-size requirements\". Contrastive losses are known to degrade at small batches. "
    "If the claim holds here, ECL's balanced accuracy drops less from B = 256 to B = 16 (and to 32) than "
    "BCL's, ProConDual's and SupCon's. LA (no contrastive loss) is the control: its drop is what the smaller "
    "batch does without any contrastive term.")
LR_RULE = ("lr_B = lr_ref × B / B_ref (linear scaling): lr_ref is the method's tuned learning rate, B_ref the "
           "batch its tuning ran at; every other tuned value (τ, weight decay) is kept")
FACTORS = ("the batch (positives and negatives per anchor, images of a class per batch, BatchNorm statistics)",
           "the learning rate (linear rule above)", "optimiser steps per epoch (∝ 1/B; epochs fixed)",
           "the batches ECL's / ProConDual's / SupCon's auto loss weights are calibrated on")


@dataclass(frozen=True)
class Tuning:
    """One method's tuned values (`chosen`) from the record `source`, tuned on `date` at batch `batch`."""

    method: str
    source: str
    date: str
    batch: int
    chosen: dict

    @property
    def predates_fix(self) -> bool:
        return self.method in WEIGHTING_CHANGED and self.date < WEIGHTING_FIX


@dataclass(frozen=True)
class Cell:
    """One (method, B) row: `method` trains with the tuned values of `tuned_from`, lr scaled to `batch`."""

    method: str
    tuned_from: str
    batch: int
    lr: float
    settings: tuple[tuple[str, str], ...]
    lam: float | None = None
    seeds: tuple[int, ...] = ()  # report seeds of this cell (--seeds, plus --close-seeds at the drop's batches)

    @property
    def label(self) -> str:
        return f"{self.method}-B{self.batch}-lr{self.lr:g}"


def scaled_lr(lr_ref: float, batch: int, ref_batch: int) -> float:
    """The linear rule: lr_B = lr_ref × B / B_ref."""
    return lr_ref * batch / ref_batch


def _link(folder: Path) -> str:
    """The figures' folder as docs/RESULTS.md links it (relative inside the checkout)."""
    return f"../{_shown(folder)}" if folder.is_relative_to(study.ROOT) else str(folder)


def _shown(path: Path) -> str:
    return str(path.relative_to(study.ROOT)) if path.is_relative_to(study.ROOT) else str(path)


def row_dates(path: Path) -> dict[str, str]:
    """{method: YYYY-MM-DD} from the per-row records ("rows", benchmarks/rows.py) of the study.json beside
    a tuning record: fashion_study re-runs some rows, so one record can hold tunings of several days."""
    recorded = (study.read_json(path.parent / "study.json") or {}).get("rows") or {}
    return {m: str(r["date"])[:10] for m, r in recorded.items() if isinstance(r, dict) and r.get("date")}


def read_tuning(path: Path, date: str | None) -> dict[str, Tuning]:
    """{method: Tuning} of a tuning.json (`ecl compare --tune`); the date given, else a known record's, else
    each row's date from the study.json beside it (every tuned row must have one)."""
    record = study.read_json(path)
    if not isinstance(record, dict):
        raise SystemExit(f"[batch-study] {path}: missing or not a tuning record (tuning.json of ecl compare --tune)")
    methods = [m for m, entry in record.items() if isinstance(entry, dict) and entry.get("chosen")]
    dates = {}
    if date is None:
        date = KNOWN_TUNINGS.get(hashlib.sha256(path.read_bytes()).hexdigest())
        dates = {} if date is not None else row_dates(path)
        if date is None and not (methods and all(m in dates for m in methods)):
            raise SystemExit(f"[batch-study] {path}: unknown tuning record; give --tuning-date YYYY-MM-DD "
                             "(the day its tuning runs were made)")
    for day in [date] if date is not None else dates.values():
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", day):
            raise SystemExit(f"[batch-study] --tuning-date: {day!r} is not YYYY-MM-DD")
    batch = int((study.read_json(path.parent / "study.json") or {}).get("batch_size") or study.BATCH)
    return {m: Tuning(m, _shown(path), dates.get(m, date), batch, dict(record[m]["chosen"])) for m in methods}


def tunings(args: argparse.Namespace, methods: list[str]) -> dict[str, Tuning]:
    """Every method's tuning: the base record, overridden by the newer --tuning record's methods."""
    tuned = read_tuning(Path(args.base_tuning), None if args.base_tuning_date is None else args.base_tuning_date)
    if args.tuning:
        tuned.update(read_tuning(Path(args.tuning), args.tuning_date))
    missing = [m for m in methods if m not in tuned or "train.lr" not in tuned[m].chosen]
    if missing:
        raise SystemExit(f"[batch-study] no tuned learning rate for {', '.join(missing)} in the tuning record(s)")
    return tuned


def _cell(method: str, tuning: Tuning, batch: int, seeds: tuple[int, ...], lam: float | None = None) -> Cell:
    lr = scaled_lr(float(tuning.chosen["train.lr"]), batch, tuning.batch)
    settings = tuple((k, f"{lr:g}" if k == "train.lr" else v) for k, v in tuning.chosen.items())
    return Cell(method, tuning.method, batch, lr, settings, lam, seeds)


def plan(args: argparse.Namespace, tuned: dict[str, Tuning]) -> list[Cell]:
    """Every cell: methods × batches, then each λ row (ECL's tuning) at the smallest and largest batch.
    The main methods' cells at the drop's batches (DROP_FROM, DROP_TO) add --close-seeds to --seeds."""
    batches = [int(b) for b in study.split_list(args.batches)]
    base = tuple(seeds(args))
    close = base + tuple(s for s in close_seeds(args) if s not in base)
    cells = [_cell(m, tuned[m], b, close if b in (DROP_FROM, *DROP_TO) else base)
             for m in study.split_list(args.methods) for b in batches]
    for lam in study.split_list(args.lambdas):
        cells += [_cell(f"ecl-lambda{float(lam):g}", tuned["ecl"], b, base, float(lam))
                  for b in sorted({min(batches), max(batches)})]
    return cells


def seeds(args: argparse.Namespace) -> list[int]:
    return [int(s) for s in study.split_list(args.seeds)]


def close_seeds(args: argparse.Namespace) -> list[int]:
    return [int(s) for s in study.split_list(getattr(args, "close_seeds", "") or "")]


def cell_dir(args: argparse.Namespace, cell: Cell) -> Path:
    return Path(args.runs) / FOLDER / cell.label


def run_dir(args: argparse.Namespace, cell: Cell, seed: int) -> Path:
    return cell_dir(args, cell) / cell.method / f"seed{seed}"  # ecl compare's OUT/<method>/seed<k>


def finished(args: argparse.Namespace, cell: Cell, seed: int) -> bool:
    """A finished run of this cell's setting (study's epochs/backbone/size and this batch and lr)."""
    path = run_dir(args, cell, seed)
    if not study.finished(path, args):
        return False
    config = RunFolder(path).read_config()
    return config.train.batch_size == cell.batch and math.isclose(config.train.lr, cell.lr, rel_tol=1e-9)


def command(args: argparse.Namespace, cell: Cell) -> list[str]:
    """The `ecl compare` argv of one cell: the study's shared settings, this batch, the tuned values."""
    own = {"out", "train.batch_size", *(k for k, _ in cell.settings)}
    shared = [o for o in study.overrides(KEY, args) if o.split("=", 1)[0] not in own]
    return (["compare", "--methods", cell.method, "--seeds", ",".join(map(str, cell.seeds)), "--jobs", str(args.jobs)] + shared
            + [f"train.batch_size={cell.batch}"] + [f"{k}={v}" for k, v in cell.settings]
            + [f"out={cell_dir(args, cell)}"])


def describe(cell: Cell, tuning: Tuning) -> str:
    """'la B=16: lr 0.00375 = 0.03 × 16 / 128 (tuning of la, …json, 2026-11-29 †)'."""
    lr_ref = tuning.chosen["train.lr"]
    return (f"{cell.method} B={cell.batch}: lr {cell.lr:g} = {lr_ref} × {cell.batch} / {tuning.batch} (tuning of "
            f"{tuning.method}: {tuning.source}, {tuning.date}{' †' if tuning.predates_fix else ''})")


# --------------------------------------------------------------------------------------------
# running


def dry_run(args: argparse.Namespace, cells: list[Cell], tuned: dict[str, Tuning]) -> None:
    todo = [(c, s) for c in cells for s in c.seeds if not finished(args, c, s)]
    for cell, seed in todo:
        print(f"run {describe(cell, tuned[cell.tuned_from])} seed {seed} → {run_dir(args, cell, seed)}")
    for cell in dict.fromkeys(c for c, _ in todo):
        print("ecl " + " ".join(map(shlex.quote, command(args, cell))))
    total = sum(len(c.seeds) for c in cells)
    print(f"# {len(todo)} runs to make ({total - len(todo)} of {total} finished); † tuning predates the "
          f"baseline-weighting fix of {WEIGHTING_FIX}")


def run(args: argparse.Namespace, cells: list[Cell], tuned: dict[str, Tuning]) -> None:
    from ecl.cli import main as ecl_main

    ran: list[Cell] = []
    for cell in cells:
        if all(finished(args, cell, s) for s in cell.seeds):
            print(f"[batch-study] {cell.label}: every seed finished; skipped", file=sys.stderr, flush=True)
            continue
        argv = command(args, cell)
        print("[batch-study] ecl " + " ".join(map(shlex.quote, argv)), file=sys.stderr, flush=True)
        code = ecl_main(argv)
        ran.append(cell)
        write(args, collect(args, cells, tuned, ran))  # after every cell: an interrupted study keeps its docs
        if code != 0:
            raise SystemExit(f"[batch-study] {cell.label}: ecl compare exited {code}; rerun to continue")
    write(args, collect(args, cells, tuned, ran))


def _values(args: argparse.Namespace, cell: Cell) -> dict[str, list[float | None]]:
    """Per-seed test metrics of a cell's finished runs (None where a run is missing or unfinished)."""
    finals = [RunFolder(run_dir(args, cell, s)).read_final() if finished(args, cell, s) else None
              for s in cell.seeds]
    return {m: [None if f is None else metric_value(f, m) for f in finals] for m in METRICS}


def record(args: argparse.Namespace, cells: list[Cell], tuned: dict[str, Tuning],
           previous: dict | None) -> dict[str, Any]:
    """The raw record: the plan, the tuning records used, per-seed values, commands and drivers."""
    rows = {}
    for cell in cells:
        values = _values(args, cell)
        rows[cell.label] = {"method": cell.method, "tuned_from": cell.tuned_from, "batch": cell.batch,
                            "seeds": list(cell.seeds),
                            "lr": cell.lr, "lambda": cell.lam, "settings": dict(cell.settings), "values": values,
                            "finished": sum(v is not None for v in values["balanced_accuracy"])}
    used = {c.tuned_from for c in cells}
    return {"dataset": "fashion-mnist-lt", "imbalance_factor": study.DATASETS[KEY], "backbone": args.backbone,
            "image_size": args.image_size, "epochs": args.epochs, "val_per_class": study.VAL_PER_CLASS,
            "shot_groups": {"many_above": study.MANY, "few_below": study.FEW}, "seeds": seeds(args),
            "close_seeds": [s for s in close_seeds(args) if s not in seeds(args)],
            "batches": [int(b) for b in study.split_list(args.batches)], "lr_rule": LR_RULE,
            "weighting_fix": {"date": WEIGHTING_FIX, "methods": list(WEIGHTING_CHANGED)},
            "tuning": {m: {"source": t.source, "date": t.date, "batch": t.batch, "chosen": t.chosen,
                           "predates_fix": t.predates_fix} for m, t in tuned.items() if m in used},
            "cells": rows, "commands": dict((previous or {}).get("commands", {})),
            "drivers": list((previous or {}).get("drivers", [])),
            "plan": plan_record(args),
            "status": {"finished": sum(r["finished"] for r in rows.values()), "planned": sum(len(c.seeds) for c in cells)}}


def collect(args: argparse.Namespace, cells: list[Cell], tuned: dict[str, Tuning], ran: list[Cell]) -> dict:
    """batch.json from the run folders; `ran`: the cells this invocation trained (their commands recorded)."""
    dest = Path(args.results) / FOLDER
    previous = study.read_json(dest / RAW)
    data = record(args, cells, tuned, previous)
    for cell in ran:
        data["commands"][cell.label] = study.portable("ecl " + " ".join(map(shlex.quote, command(args, cell))))
    if ran:
        driver = study.portable("python benchmarks/batch_study.py " + " ".join(map(shlex.quote, sys.argv[1:])))
        data["drivers"] = list(dict.fromkeys([*data["drivers"], driver.rstrip()]))
    if not ran and previous is not None and previous.get("cells") == data["cells"] and "date" in previous:
        data.update(date=previous["date"], machine=previous.get("machine"))  # a refresh that found nothing new
    else:
        data.update(date=time.strftime("%Y-%m-%d %H:%M:%S %Z"), machine=study.machine())
    dest.mkdir(parents=True, exist_ok=True)
    atomic_write_json(dest / RAW, data)
    return data


# --------------------------------------------------------------------------------------------
# statistics and verdicts


def drops(data: dict, method: str, to: int, start: int = DROP_FROM) -> list[float | None] | None:
    """Per seed: balanced accuracy at B = `start` minus at B = `to` (paired by seed); None without both rows."""
    rows = {(r["method"], r["batch"]): r for r in data["cells"].values()}
    if (method, start) not in rows or (method, to) not in rows:
        return None
    high, low = paired_by_seed(data, rows[(method, start)], rows[(method, to)])
    return [None if a is None or b is None else a - b for a, b in zip(high, low, strict=True)]


def drop_family(data: dict) -> dict[tuple[str, int], calls.Call]:
    """{(rival, B): rival's drop − ECL's drop}, paired by seed, Holm over every rival and target batch."""
    pairs = {}
    for to in DROP_TO:
        ecl = drops(data, "ecl", to)
        for method in (*RIVALS, CONTROL):
            theirs = drops(data, method, to)
            if ecl is not None and theirs is not None:
                pairs[(method, to)] = (theirs, ecl)
    return calls.family(pairs)


def own_changes(data: dict, to: int) -> dict[str, calls.Call]:
    """{method: its own change B = DROP_FROM → `to`} as the call of accuracy at DROP_FROM − at `to`, paired by
    seed (sign +1: it fell at the smaller batch, −1: it rose), Holm over the methods of this target batch."""
    rows = {(r["method"], r["batch"]): r for r in data["cells"].values()}
    pairs = {m: _pair(data, rows, m, to) for m in (*RIVALS, CONTROL, "ecl") if (m, DROP_FROM) in rows and (m, to) in rows}
    return calls.family(pairs)


def change_line(own: dict[str, calls.Call], to: int) -> str | None:
    """'each method's own change: fell at the smaller batch: …; rose: …; inside the noise: …'."""
    groups = {1: [], -1: [], 0: []}
    for method, call in own.items():
        if call.p is not None:
            groups[call.sign].append(NAMES.get(method, method) + (calls.HOLM_MARK if call.holm else ""))
    untestable = [NAMES.get(m, m) for m, c in own.items() if c.p is None]
    parts = [f"{what}: {', '.join(names)}" for what, names in
             (("fell at the smaller batch", groups[1]), ("rose at the smaller batch", groups[-1]),
              ("changed inside the noise", groups[0]), ("untestable", untestable)) if names]
    return f"- B = {DROP_FROM} → {to}, each method's own change: " + "; ".join(parts) + "." if parts else None


def sensitivity(call: calls.Call | None, ecl_drop: float | None, rival_drop: float | None) -> str:
    """'less' / 'more' / 'equally' / 'undetermined' / 'untestable': ECL's sensitivity (size of its change)
    against a rival's, from the call of rival drop − ECL drop and the two mean drops. A difference beyond the
    noise orders the sizes of the changes only when both mean drops have the same sign (both fell or both
    rose); with opposite signs the sizes are left undetermined."""
    if call is None or call.p is None or ecl_drop is None or rival_drop is None:
        return "untestable"
    if call.sign == 0:
        return "equally"
    if (ecl_drop > 0) != (rival_drop > 0) or ecl_drop == 0 or rival_drop == 0:
        return "undetermined"
    return "less" if abs(ecl_drop) < abs(rival_drop) else "more"


def sensitivity_line(data: dict, family: dict, to: int, rivals: tuple[str, ...]) -> str | None:
    """The signed comparison ('ECL loses less (or gains more) at the smaller batch than BCL') and the
    sensitivity it implies ('ECL is less sensitive to the batch than BCL'), B = DROP_FROM → `to`."""
    outcomes = [(NAMES[m], family[(m, to)]) for m in rivals if (m, to) in family]
    if not outcomes:
        return None
    # calls of rival drop − ECL drop: a smaller drop is better, so ECL "better" = loses less / gains more
    signed = calls.verdict_line("ECL", outcomes, higher_is_better=False,
                                words=("loses less (or gains more) at the smaller batch than",
                                       "loses more (or gains less) at the smaller batch than"),
                                same="changes by an amount not shown to differ (inside the noise) from that of")
    mean = {m: _mean_drop(data, m, to) for m in ("ecl", *rivals)}
    groups: dict[str, list[str]] = {}
    for method in rivals:
        if (method, to) in family:
            word = sensitivity(family[(method, to)], mean["ecl"], mean[method])
            groups.setdefault(word, []).append(NAMES[method])
    phrases = {"less": "less sensitive than {}", "equally": "not shown to differ from {} (inside the noise)",
               "more": "more sensitive than {}",
               "undetermined": "undetermined against {} (the mean changes point in opposite directions)",
               "untestable": "untestable against {}"}
    implied = "; ".join(phrases[w].format(", ".join(groups[w])) for w in phrases if w in groups)
    return f"{signed}; in sensitivity to the batch (the size of the change), ECL is {implied}"


def _mean_drop(data: dict, method: str, to: int) -> float | None:
    values = [v for v in (drops(data, method, to) or []) if v is not None]
    return sum(values) / len(values) if values else None


def verdicts(data: dict, family: dict) -> list[str]:
    lines = []
    for to in DROP_TO:
        changes = own_changes(data, to)
        own = change_line(changes, to)
        lines += [own] if own else []
        tested = [c for c in changes.values() if c.p is not None]
        if len(tested) > 1 and all(c.sign == -1 for c in tested):
            lines.append(f"- B = {DROP_FROM} → {to}: every tested method scored higher at the smaller batch, so the "
                         "claim's premise — that small batches hurt contrastive learning — does not hold in this "
                         f"setting: with the epochs fixed, B = {to} also takes about {DROP_FROM // to}× the optimiser steps "
                         f"of B = {DROP_FROM}. The comparisons below measure which method gains more, not which "
                         "degrades less.")
        for rivals, what in ((RIVALS, "contrastive baselines"), ((CONTROL,), "control")):
            line = sensitivity_line(data, family, to, rivals)
            if line:
                lines.append(f"- B = {DROP_FROM} → {to}, {what}: {line}.")
    return lines


# --------------------------------------------------------------------------------------------
# the page


def _mean_sd(values: list[float | None], metric: str) -> str:
    present = [v for v in values if v is not None]
    scale, digits = (1.0, 3) if metric in GEOMETRY_METRICS else (100.0, 2)
    if not present:
        return "—"
    mean = sum(present) / len(present)
    if len(present) < 2:
        return f"{scale * mean:.{digits}f}"
    sd = math.sqrt(sum((v - mean) ** 2 for v in present) / (len(present) - 1))
    return f"{scale * mean:.{digits}f} ± {scale * sd:.{digits}f}"


def _setting_lines(data: dict) -> list[str]:
    batches = ", ".join(map(str, data["batches"]))
    lines = [f"- setting: fashion-mnist-lt IF {data['imbalance_factor']}, `{data['backbone']}`, {data['image_size']} "
             f"px, {data['epochs']} epochs at every batch, B ∈ {{{batches}}}, seeds "
             f"{', '.join(map(str, data['seeds']))}"
             + (f" (plus {', '.join(map(str, data['close_seeds']))} for the five methods at B = {DROP_FROM}, "
                f"{', '.join(map(str, DROP_TO))}: the drop comparison)" if data.get("close_seeds") else "") + "; "
             f"shot groups many > {data['shot_groups']['many_above']} / few < {data['shot_groups']['few_below']} "
             f"training images; validation {data['val_per_class']} images per class (unused for selection here)",
             f"- learning rate: {data['lr_rule']}; the λ rows are ECL's tuned row with only λ changed",
             f"- factors that move with B (together, not separated): {'; '.join(FACTORS)}",
             "- tuning records (where each lr_ref comes from):"]
    for method, t in data["tuning"].items():
        knobs = ", ".join(f"{k.split('.')[-1]} {v}" for k, v in t["chosen"].items())
        flag = (f" — **† tuned before the baseline-weighting fix of {data['weighting_fix']['date']}** ({method} "
                "then trained at the calibrated auto weight, now at fixed weight 1): re-tune it and rerun with "
                "`--tuning FILE --tuning-date DATE`") if t["predates_fix"] else ""
        lines.append(f"  - {method}: {knobs} from `{t['source']}`, tuned {t['date']} at batch {t['batch']}{flag}")
    return lines


def _table(data: dict) -> list[str]:
    lines = ["| method | B | lr | seeds | " + " | ".join(HEADERS[m] for m in METRICS) + " |",
             "| --- | ---: | ---: | ---: | " + " | ".join("---:" for _ in METRICS) + " |"]
    for row in data["cells"].values():
        own = row["method"] == row["tuned_from"]
        flag = " †" if own and data["tuning"][row["tuned_from"]]["predates_fix"] else ""
        lines.append(f"| {row['method']} | {row['batch']} | {row['lr']:g}{flag} | {row['finished']} | "
                     + " | ".join(_mean_sd(row["values"][m], m) for m in METRICS) + " |")
    return lines


def _drop_table(data: dict, family: dict) -> list[str]:
    rows = {(r["method"], r["batch"]): r for r in data["cells"].values()}
    heads = ([f"drop {DROP_FROM}→{to}" for to in DROP_TO]
             + [f"its drop − ECL's, {DROP_FROM}→{to}" for to in DROP_TO])
    lines = [f"| method | bal. acc at B = {DROP_FROM} | " + " | ".join(heads) + " |",
             "| --- | ---: | " + " | ".join("---:" for _ in heads) + " |"]
    for method in [m for m in (*RIVALS, CONTROL, "ecl") if (m, DROP_FROM) in rows]:
        own = [calls.interval_text(calls.Call(paired_interval(*_pair(data, rows, method, to)), None, 0, False))
               if (method, to) in rows else "n/a" for to in DROP_TO]
        rival = ["(reference)" if method == "ecl" else calls.interval_text(family.get((method, to)))
                 for to in DROP_TO]
        acc = _mean_sd(rows[(method, DROP_FROM)]["values"]["balanced_accuracy"], "balanced_accuracy")
        lines.append(f"| {NAMES.get(method, method)} | {acc} | " + " | ".join(own + rival) + " |")
    return lines


def _pair(data: dict, rows: dict, method: str, to: int) -> tuple[list, list]:
    return paired_by_seed(data, rows[(method, DROP_FROM)], rows[(method, to)])


def paired_by_seed(data: dict, a: dict, b: dict, metric: str = "balanced_accuracy") -> tuple[list, list]:
    """The values of two cells on the seeds both planned (cells may hold different seed lists)."""
    seeds_a, seeds_b = a.get("seeds", data["seeds"]), b.get("seeds", data["seeds"])
    va, vb = dict(zip(seeds_a, a["values"][metric])), dict(zip(seeds_b, b["values"][metric]))
    common = [s for s in seeds_a if s in vb]
    return [va[s] for s in common], [vb[s] for s in common]


def _lambda_lines(data: dict) -> list[str]:
    """The λ rows against ECL at the same batch (paired by seed), their own family."""
    rows = {(r["method"], r["batch"]): r for r in data["cells"].values()}
    lam = [r for r in data["cells"].values() if r["lambda"] is not None and r["finished"]]
    pairs = {(r["method"], r["batch"]): paired_by_seed(data, r, rows[("ecl", r["batch"])])
             for r in lam if ("ecl", r["batch"]) in rows}
    if not pairs:
        return []
    family = calls.family(pairs)
    lines = ["#### The prototype share λ at the extreme batches", "",
             "Each λ row is ECL's tuned row with only λ changed (ECL's default is 0.5); row − ECL at the same B, "
             "paired by seed, in pp of balanced accuracy. " + calls.family_note(family, "this table"), "",
             "| row | B | seeds | bal. acc | few | row − ECL |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for (method, batch), call in family.items():
        r = rows[(method, batch)]
        accuracy = _mean_sd(r["values"]["balanced_accuracy"], "balanced_accuracy")
        lines.append(f"| {method} | {batch} | {r['finished']} | {accuracy} | "
                     f"{_mean_sd(r['values']['few'], 'few')} | {calls.interval_text(call)} |")
    outcomes = [(f"{method} at B = {batch}", call) for (method, batch), call in family.items()]
    verdict = calls.verdict_line("ECL (λ 0.5) is", outcomes, words=("above", "below"))
    return lines + ["", f"Generated verdict (balanced accuracy): {verdict}.", ""]


def _command_lines(data: dict) -> list[str]:
    if not data["commands"]:
        return ["No command recorded yet. `python benchmarks/batch_study.py --dry-run` lists the runs and their "
                "learning rates; `python benchmarks/batch_study.py --jobs 2` trains them (resumable).", ""]
    lines = ["Commands that produced the raw files (as recorded in batch.json; each resumable):", ""]
    lines += [f"- driver: `{d}`" for d in data["drivers"]]
    return lines + [f"- `{study.portable(c)}`" for c in data["commands"].values()] + [""]


def section(data: dict, folder: Path) -> str:
    """The generated markdown of the study (`folder`: where its figures lie)."""
    done, planned = data["status"]["finished"], data["status"]["planned"]
    status = (f"**Runs finished: {done} of {planned}.**" if done == planned else
              f"**Pending: {planned - done} of {planned} runs** ({done} finished)" + (
                  " — nothing trained yet." if not done else " — the tables below cover finished runs only; the "
                  "drop table and verdicts need the rows at B = 256 and B = 16 / 32."))
    lines = [BEGIN, "## fashion-mnist-lt: batch size (issue 22)", "",
             "_Generated by `python benchmarks/batch_study.py` (`--docs-only` to regenerate)._", "", HYPOTHESIS, "",
             status, "", *_setting_lines(data), ""]
    if data.get("date"):
        lines += [f"- raw: `{_shown(folder)}/{RAW}`; updated {data['date']}", ""]
    if done:
        lines += ["#### Accuracy and geometry against the batch", "",
                  "Mean ± std over seeds (accuracies in %, FC/MS/SD lower is better); † the method's tuning "
                  "predates the baseline-weighting fix.", "", *_table(data), ""]
        figures = [f"![{name}]({_link(folder)}/{name})" for name in FIGURES if (folder / name).is_file()]
        lines += ["Figures: mean over seeds per method against B (log 2 axis); the band spans the seeds' "
                  "minimum to maximum.", "", *figures, ""] if figures else []
        lines += _drop_lines(data)
        lines += _lambda_lines(data)
    lines += _command_lines(data)
    return "\n".join(lines + [END]) + "\n"


def _drop_lines(data: dict) -> list[str]:
    family = drop_family(data)
    if not family:
        return []
    return ["#### How much each method loses at small batches", "",
            f"Drop = balanced accuracy at B = {DROP_FROM} minus at the smaller B, per seed (the same seed at both "
            "batches), mean [95% t-interval] in pp; a negative drop means the smaller batch scored higher "
            "(it also takes more optimiser steps in the same epochs). \"Its drop − ECL's\" pairs the drops by "
            "seed: above 0, ECL drops less. " + calls.family_note(family, "the last two columns (every rival and target batch)"), "",
            *_drop_table(data, family), "",
            "Generated verdicts. Each method's own change reads its drop column (Holm over the methods of that "
            "target batch); the comparisons read the last two columns ((Holm): survives the correction over "
            "their family). A comparison orders the sizes of the two changes (sensitivity) only when both mean "
            "drops have the same sign.", "",
            *verdicts(data, family), ""]


# --------------------------------------------------------------------------------------------
# figures and docs


def plot(data: dict, folder: Path) -> None:
    """One figure per metric group: mean per method against B (log 2), band = min–max over the seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for name, metrics in FIGURES.items():
        fig, axes = plt.subplots(1, len(metrics), figsize=(4 * len(metrics), 3.6), squeeze=False)
        for axis, metric in zip(axes[0], metrics):
            scale = 1.0 if metric in GEOMETRY_METRICS else 100.0
            for method in dict.fromkeys(r["method"] for r in data["cells"].values()):
                points = sorted((r["batch"], [scale * v for v in r["values"][metric] if v is not None])
                                for r in data["cells"].values() if r["method"] == method)
                points = [(b, v) for b, v in points if v]
                if not points:
                    continue
                xs = [b for b, _ in points]
                line, = axis.plot(xs, [sum(v) / len(v) for _, v in points], marker="o", label=method,
                                  linestyle="--" if method.startswith("ecl-") else "-")
                axis.fill_between(xs, [min(v) for _, v in points], [max(v) for _, v in points],
                                  color=line.get_color(), alpha=0.15)
            axis.set_xscale("log", base=2)
            axis.set_xticks(data["batches"], [str(b) for b in data["batches"]])
            axis.set(xlabel="global batch B", title=HEADERS[metric] + ("" if scale == 1.0 else " (%)"))
        if axes[0][0].get_legend_handles_labels()[0]:
            axes[0][0].legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(folder / name, dpi=110)
        plt.close(fig)


def write(args: argparse.Namespace, data: dict) -> None:
    """The figures and BATCH.md in the results folder; docs/RESULTS.md only for the default results folder."""
    folder = Path(args.results) / FOLDER
    if data["status"]["finished"]:
        try:
            plot(data, folder)
        except Exception as exc:  # a figure must never cost the study its numbers
            print(f"[batch-study] warning: figures not drawn: {type(exc).__name__}: {exc}", file=sys.stderr)
    text = section(data, folder)
    if Path(args.results).resolve() != study.RESULTS.resolve():
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(folder / PAGE, text)
        print(f"[batch-study] wrote {folder / PAGE} (docs/RESULTS.md untouched: not the default --results)",
              file=sys.stderr)
        return
    atomic_write_text(study.RESULTS / PAGE, text)
    page = study.DOC.read_text(encoding="utf-8") if study.DOC.is_file() else "# Results\n\n"
    atomic_write_text(study.DOC, study.place_section(page, BEGIN, END, text))
    print(f"[batch-study] wrote {study.DOC} (batch-size section)", file=sys.stderr)


PLAN_KEYS = ("methods", "batches", "seeds", "close_seeds", "lambdas", "epochs", "tuning", "tuning_date", "base_tuning",
             "base_tuning_date")


def plan_record(args: argparse.Namespace) -> dict[str, Any]:
    """The options that decide the plan and its learning rates (paths inside the checkout made relative)."""
    return {k: _shown(Path(getattr(args, k))) if k in ("tuning", "base_tuning") and getattr(args, k) else
            getattr(args, k) for k in PLAN_KEYS}


def adopt_plan(args: argparse.Namespace, recorded: dict[str, Any]) -> None:
    """Set the recorded plan's options on `args` (--docs-only refreshes the study as it was run)."""
    for key, value in recorded.items():
        if key in ("tuning", "base_tuning") and value:
            value = str(value if Path(value).is_absolute() else study.ROOT / value)
        setattr(args, key, value)


def docs_only(args: argparse.Namespace) -> None:
    """From batch.json as recorded (refreshed first, for its recorded plan, when the run folders are here);
    without batch.json, the pending stub of the plan the options describe."""
    previous = study.read_json(Path(args.results) / FOLDER / RAW)
    if previous is not None and (Path(args.runs) / FOLDER).is_dir():
        adopt_plan(args, previous.get("plan", {}))
        tuned = tunings(args, study.split_list(args.methods) + (["ecl"] if args.lambdas else []))
        previous = collect(args, plan(args, tuned), tuned, [])
    elif previous is None:
        tuned = tunings(args, study.split_list(args.methods) + (["ecl"] if args.lambdas else []))
        previous = record(args, plan(args, tuned), tuned, None)
    write(args, previous)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--batches", default=BATCHES, help="global batch sizes (comma list)")
    parser.add_argument("--seeds", default=SEEDS, help="report seeds (3; 0,1,2,3,4 where a difference is close)")
    parser.add_argument("--close-seeds", default="",
                        help="extra report seeds for the main methods at the drop's batches (256, 16, 32), "
                             "where a difference is close, e.g. 3,4")
    parser.add_argument("--lambdas", default="",
                        help="λ rows of ECL at the smallest and largest batch, e.g. 0.25,0.75")
    parser.add_argument("--tuning", default=None, help="a newer tuning.json whose methods override the base record")
    parser.add_argument("--tuning-date", default=None, help="YYYY-MM-DD: when --tuning's tuning runs were made")
    parser.add_argument("--base-tuning", default=str(TUNING), help=argparse.SUPPRESS)
    parser.add_argument("--base-tuning-date", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--jobs", type=int, default=2, help="runs trained at once by each ecl compare")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run")
    parser.add_argument("--epochs", type=int, default=study.EPOCHS, help="the same at every batch")
    parser.add_argument("--runs", default=str(study.ROOT / "runs" / "batch-study"), help="run folders (outside git)")
    parser.add_argument("--results", default=str(study.RESULTS))
    parser.add_argument("--dry-run", action="store_true", help="list the runs still to make, with their lrs")
    parser.add_argument("--docs-only", action="store_true",
                        help="only rewrite the section from batch.json (refreshed for its recorded plan)")
    args = parser.parse_args(argv)
    args.backbone, args.image_size = study.BACKBONE, study.IMAGE_SIZE
    if args.tuning and not args.tuning_date:
        parser.error("--tuning needs --tuning-date (the day its tuning runs were made)")
    return args


def check(args: argparse.Namespace) -> None:
    """One clear error for an unknown method, λ or batch, before anything is read or trained."""
    from ecl.losses import METHODS as KNOWN

    try:
        lambdas = [f"ecl-lambda{float(x):g}" for x in study.split_list(args.lambdas)]
    except ValueError:
        raise SystemExit(f"[batch-study] --lambdas: {args.lambdas!r} is not a list of numbers") from None
    unknown = [m for m in [*study.split_list(args.methods), *lambdas] if m not in KNOWN]
    if unknown:
        raise SystemExit(f"[batch-study] --methods/--lambdas: unknown {', '.join(unknown)} "
                         f"(known: {', '.join(KNOWN)})")
    if not all(b.isdigit() and int(b) > 0 for b in study.split_list(args.batches)):
        raise SystemExit(f"[batch-study] --batches: {args.batches!r} is not a list of positive integers")


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    check(args)
    if args.docs_only:
        docs_only(args)
        return
    tuned = tunings(args, study.split_list(args.methods) + (["ecl"] if args.lambdas else []))
    cells = plan(args, tuned)
    if args.dry_run:
        dry_run(args, cells, tuned)
    else:
        run(args, cells, tuned)


if __name__ == "__main__":
    main()
