"""`ecl compare`: train several methods over several seeds with one budget and compare them.

Every (method, seed) is an ordinary run folder ``OUT/<method>/seed<k>/`` trained with the same
data, backbone, epochs and augmentation; only ``loss.method`` and ``seed`` differ (the CE/LA
baselines draw only the classifier view: the engine does that from ``METHODS``). The comparison is
resumable: a finished run is skipped, a run with a checkpoint but no final results is continued,
a folder with neither is overwritten.

Outputs in OUT (statistics, table and plot: ``ecl.evaluation.comparison``): ``summary.json``
(mean, std and values per method and metric), ``table.md`` (mean ± std, best in bold, paired
differences to ecl with 95% t-intervals) and ``shot_groups.png``.

Tuning (``--tune [METHOD:]KEY=V1,V2``, grids and selection in ``ecl.engine.commands.tuning``): every
combination of a method's grid is trained on the tuning seeds into
``OUT/tune/<method>/<KEY=V+KEY=V>/seed<k>/`` and scored on the final-epoch validation balanced
accuracy (a validation split is required: `ecl.data.validation_source`); the best per
method (ties: the first in grid order) is trained on the report seeds in ``OUT/<method>/seed<k>/``.
The choice is recomputed from the finished tuning runs at every invocation (resumable) and written to
``OUT/tuning.json`` and, per method under ``"tuning"``, to ``summary.json``; table.md gains a
"tuned" column and the per-combination validation scores. Test metrics are never read for selection.
``--tune auto`` is the learning-rate axis ``train.lr=lr/3,lr,3·lr`` (``ecl.engine.commands.tuning.expand_auto``).

Fairness record: per method, ``summary.json`` holds under ``"setting"`` whether it was tuned, its
learning rate, its loss weighting (auto/fixed, α β γ per seed from the runs' last metrics line) and
the classifier loss's effective rate lr × α; table.md lists them. Without ``--tune`` the start-up,
table.md and summary.json say that the methods were not tuned (``NOT_TUNED``).
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator, NamedTuple, Sequence

from ecl.atomic import atomic_write_json, atomic_write_text
from ecl.config import Config, ConfigError, config_from_dict, config_to_dict, load_config, validate
from ecl.engine.training.protocol import resolve_protocol
from ecl.engine.training.run_folder import RunFolder, RunFolderError
from ecl.engine.commands.tuning import (AUTO, AUTO_RULE, Combination, TuningError, choose, combination_label, expand_auto,
                               method_grids, validation_score)
from ecl.evaluation.comparison import NOT_TUNED, format_table, plot_shot_groups, setting_text, summarize

__all__ = ["ComparisonError", "run_comparison", "STAGES", "DEFAULT_TUNE_SEEDS"]

STAGES = ("tune", "report", "all")
DEFAULT_TUNE_SEEDS = (100,)  # distinct from the usual report seeds 0, 1, 2, ...

# Settings that do not change what a run computes: they may differ between a finished run and the
# comparison that finds it (e.g. the benchmark runs with train.threads=1).
_NEUTRAL_KEYS = {("out",), ("train", "progress"), ("train", "threads"), ("train", "num_workers"),
                 ("eval", "plots"), ("eval", "report")}


class ComparisonError(RunFolderError):
    """Runs of a comparison failed (the others are kept; rerun the same command to continue)."""


def _flatten(tree: dict[str, Any], prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    flat: dict[tuple[str, ...], Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, prefix + (key,)))
        else:
            flat[prefix + (key,)] = value
    return flat


def _resolved(config: Config) -> Config:
    from ecl.engine.training.protocol import resolve_config

    return resolve_config(config)


def _check_existing(run_dir: Path, config: Config) -> None:
    """A run folder found in OUT must hold the run asked for (same settings), else RunFolderError."""
    run = RunFolder(run_dir)
    path = run.config_file
    if not path.is_file():
        return
    try:  # what that run was asked for (config.yaml's values with its `requested:` put back)
        existing = config_to_dict(_resolved(run.read_config(as_requested=True)))
    except (ConfigError, RunFolderError, OSError) as exc:
        raise RunFolderError(f"{path}: cannot read the existing run's config: {exc}") from None
    # a config.yaml of an older ecl holds resolved values: a recipe/flip/erasing left to the dataset
    # matches what it resolved to
    wanted, found = _flatten(config_to_dict(_resolved(config))), _flatten(existing)
    for key in sorted(set(wanted) | set(found)):
        if key in _NEUTRAL_KEYS or (key in (("data", "recipe"), ("data", "flip"), ("data", "erasing"))
                                    and wanted.get(key) is None):
            continue
        if wanted.get(key) != found.get(key):
            raise RunFolderError(
                f"{run_dir} holds a run with {'.'.join(key)}={found.get(key)!r}, but this comparison "
                f"asks for {wanted.get(key)!r}; choose another out=DIR or remove that folder"
            )


class _Job(NamedTuple):
    """One run of a comparison: its display name (also its log name), method, seed, config, folder."""

    name: str
    method: str
    seed: int
    config: Config
    run_dir: Path


def _check_lists(methods: Sequence[str], seeds: Sequence[int], overrides: Sequence[str]) -> None:
    from ecl.losses import METHODS

    if not methods:
        raise ConfigError("--methods: give at least one method")
    if not seeds:
        raise ConfigError("--seeds: give at least one seed")
    for method in methods:
        if method not in METHODS:
            raise ConfigError(f"--methods: unknown method {method!r} (known: {', '.join(METHODS)})")
    for name, items in (("--methods", methods), ("--seeds", seeds)):
        duplicates = sorted({str(x) for x in items if list(items).count(x) > 1})
        if duplicates:
            raise ConfigError(f"{name}: repeated {', '.join(duplicates)}")
    for text in overrides:
        key = text.split("=", 1)[0].strip()
        if key in ("loss.method", "seed"):
            raise ConfigError(f"override {key}: ecl compare sets it from --methods/--seeds; remove it")


def _base(config_file: str | None, overrides: Sequence[str]) -> tuple[Config, Path]:
    """The shared configuration and OUT (the `out=` override, else runs/compare-<dataset>-<time>)."""
    base = load_config(config_file, list(overrides))
    if base.out is None:
        out = Path("runs") / f"compare-{base.data.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    else:
        out = Path(base.out).expanduser()
    if out.exists() and not out.is_dir():
        raise RunFolderError(f"out={out} exists and is not a folder")
    return base, out


def _jobs(method: str, seeds: Sequence[int], config: Config, folder: Path, name: str) -> list[_Job]:
    """One validated job per seed of `method` with `config`, in folder/seed<k>/ (checked if present)."""
    jobs = []
    for seed in seeds:
        run_config = copy.deepcopy(config)
        run_config.loss.method = method
        run_config.seed = int(seed)
        run_dir = folder / f"seed{seed}"
        run_config.out = str(run_dir)
        validate(run_config)
        _check_existing(run_dir, run_config)
        jobs.append(_Job(f"{name}/seed{seed}", method, int(seed), run_config, run_dir))
    return jobs


def _plan(methods: Sequence[str], seeds: Sequence[int], config_file: str | None, overrides: Sequence[str],
          chosen: dict[str, Combination] | None = None) -> tuple[Config, Path, list[_Job]]:
    """Every (method, seed) of the report in OUT/<method>/seed<k>/, with the method's chosen values."""
    _check_lists(methods, seeds, overrides)
    base, out = _base(config_file, overrides)
    plan: list[_Job] = []
    for method in methods:
        extra = [f"{key}={value}" for key, value in (chosen or {}).get(method, ())]
        config = load_config(config_file, [*overrides, *extra]) if extra else base
        plan += _jobs(method, seeds, config, out / method, method)
    return base, out, plan


def _state(run_dir: Path) -> str:
    run = RunFolder(run_dir)
    if run.is_finished():
        return "done"
    if run.has_checkpoint():
        return "resume"
    return "new"


def _run_inline(config: Config, run_dir: Path, state: str, log: Callable[[str], None]) -> None:
    from ecl.engine.commands.train import train

    if state == "resume":
        train(resume=run_dir, log=log)
    else:
        train(config, overwrite=True, log=log)


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """SIGTERM raises SystemExit(143) inside the block (main thread only), so that the cleanup of
    `_run_parallel` stops the worker processes instead of leaving them running as orphans."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run_parallel(todo: list[tuple[_Job, str]], out: Path, jobs: int, log: Callable[[str], None]) -> list[str]:
    """Each run in its own `python -m ecl.engine.commands.compare` process, `jobs` at a time; failures listed.

    Stopping the comparison (Ctrl-C, SIGTERM) stops its workers too, each after a complete checkpoint."""
    with _sigterm_raises():
        return _run_workers(todo, out, jobs, log)


def _run_workers(todo: list[tuple[_Job, str]], out: Path, jobs: int, log: Callable[[str], None]) -> list[str]:
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    pending = list(todo)
    running: list[tuple[subprocess.Popen, str, Any, Path]] = []
    failures: list[str] = []
    env = dict(os.environ)
    try:
        while pending or running:
            while pending and len(running) < jobs:
                job, state = pending.pop(0)
                log_path = logs / f"{job.name.replace('/', '-')}.log"
                handle = open(log_path, "a", encoding="utf-8")
                command = [sys.executable, "-m", "ecl.engine.commands.compare", "--worker", str(job.run_dir), state,
                           json.dumps(config_to_dict(job.config))]
                proc = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=env)
                log(f"[compare] started {job.name} ({state}), log {log_path}")
                running.append((proc, job.name, handle, log_path))
            time.sleep(0.5)
            for item in list(running):
                proc, name, handle, log_path = item
                code = proc.poll()
                if code is None:
                    continue
                handle.close()
                running.remove(item)
                if code == 0:
                    log(f"[compare] finished {name}")
                else:
                    failures.append(f"{name} (exit {code}, see {log_path})")
                    log(f"[compare] FAILED {name} (exit {code})")
    except BaseException:
        for proc, _, handle, _ in running:  # SIGTERM: each run stops after a complete checkpoint
            proc.terminate()
        for proc, _, handle, _ in running:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
            handle.close()
        raise
    return failures


def _train_all(plan: list[_Job], seeds: Sequence[int], out: Path, jobs: int, log: Callable[[str], None],
               what: str) -> None:
    """Train every unfinished job of `plan` (finished ones skipped, interrupted ones resumed)."""
    todo = []
    # seed-major order: an interrupted comparison leaves whole seeds (every method) finished
    order = sorted(range(len(plan)), key=lambda i: (list(seeds).index(plan[i].seed), i))
    for job in (plan[i] for i in order):
        state = _state(job.run_dir)
        if state == "done":
            log(f"[compare] {job.name}: finished earlier, skipped ({RunFolder(job.run_dir).final_file})")
        else:
            todo.append((job, state))
    log(f"[compare] {len(plan)} {what} runs in {out}: {len(plan) - len(todo)} finished, {len(todo)} to train")
    if jobs == 1 or len(todo) <= 1:
        for job, state in todo:
            log(f"[compare] {job.name}: {'resuming' if state == 'resume' else 'training'}")
            _run_inline(job.config, job.run_dir, state, log)
        return
    failures = _run_parallel(todo, out, jobs, log)
    if failures:
        raise ComparisonError(f"{len(failures)} run(s) failed: {'; '.join(failures)}; the others are "
                              f"kept — rerun the same command to continue")


def _require_validation(base: Config) -> None:
    """--tune chooses on a validation split: the data layer's answer (from the config; reads no images)."""
    from ecl.data.validation import validation_choices, validation_source

    if validation_source(base.data) is None:
        raise TuningError(f"--tune needs a validation split to choose on (never the test set): dataset "
                          f"{base.data.name} has none; {validation_choices(base.data)}")


def _tune_plan(methods: Sequence[str], tune_seeds: Sequence[int], config_file: str | None,
               overrides: Sequence[str], grids: dict[str, list[Combination]]) -> list[_Job]:
    """Every (method, combination, tuning seed) in OUT/tune/<method>/<combination>/seed<k>/."""
    base, out = _base(config_file, overrides)
    _require_validation(base)
    plan: list[_Job] = []
    for method in methods:
        for combination in grids[method]:
            label = combination_label(combination)
            extra = [f"{key}={value}" for key, value in combination]
            try:
                config = load_config(config_file, [*overrides, *extra])
            except ConfigError as exc:
                raise TuningError(f"--tune {label}: {exc}") from None
            plan += _jobs(method, tune_seeds, config, out / "tune" / method / label, f"tune/{method}/{label}")
    return plan


def _choices(methods: Sequence[str], grids: dict[str, list[Combination]], plan: list[_Job],
             tune_seeds: Sequence[int]) -> dict[str, dict[str, Any]]:
    """Per method, the tuning record (`tuning.choose`) read back from the finished tuning runs."""
    unfinished = [job.name for job in plan if not RunFolder(job.run_dir).is_finished()]
    if unfinished:
        raise ComparisonError(f"{len(unfinished)} tuning run(s) not finished ({', '.join(unfinished[:3])}"
                              f"{', …' if len(unfinished) > 3 else ''}); run the tuning stage first")
    records = {}
    for method in methods:
        scores = []
        for combination in grids[method]:
            label = f"tune/{method}/{combination_label(combination)}/"
            runs = [job.run_dir for job in plan if job.name.startswith(label)]
            scores.append([validation_score(RunFolder(run_dir)) for run_dir in runs])
        records[method] = {**choose(grids[method], scores), "tune_seeds": [int(s) for s in tune_seeds]}
    return records


def _tune(methods: list[str], config_file: str | None, overrides: list[str], tune: Sequence[str],
          tune_seeds: Sequence[int], train_runs: bool, jobs: int,
          log: Callable[[str], None]) -> tuple[dict[str, dict[str, Any]], dict[str, Combination]]:
    """Train (when `train_runs`) and score the tuning grid; writes OUT/tuning.json; (records, chosen)."""
    if not tune_seeds:
        raise ConfigError("--tune-seeds: give at least one seed")
    base, out = _base(config_file, overrides)
    auto = any(text.strip() == AUTO for text in tune)
    tune = expand_auto(tune, base.train.lr)
    grids = method_grids(tune, methods)
    plan = _tune_plan(methods, tune_seeds, config_file, overrides, grids)
    if auto:
        log(f"[compare] {AUTO_RULE}: {next(t for t in tune if t.startswith('train.lr='))}")
    out.mkdir(parents=True, exist_ok=True)
    if train_runs:
        _train_all(plan, tune_seeds, out, jobs, log, "tuning")
    records = _choices(methods, grids, plan, tune_seeds)
    for record in records.values() if auto else ():
        record["rule"] = AUTO_RULE
    atomic_write_json(out / "tuning.json", records)
    for method, record in records.items():
        log(f"[compare] {method}: chose {combination_label(tuple(record['chosen'].items()))} "
            f"(validation bal. acc {record['scores'][record['chosen_index']]['mean']:.4f})")
    chosen = {m: grids[m][r["chosen_index"]] for m, r in records.items()}
    return records, chosen


def _run_weights(run_dir: Path, keys: Sequence[str]) -> dict[str, float] | None:
    """The weights `keys` of a run's last metrics line (those it ended with), None when not recorded."""
    records = RunFolder(run_dir).read_metrics()
    if not records or any(f"weights/{k}" not in records[-1] for k in keys):
        return None
    return {k: round(float(records[-1][f"weights/{k}"]), 6) for k in keys}


def _settings(methods: Sequence[str], plan: list[_Job], tuned: bool, trained: bool) -> dict[str, dict[str, Any]]:
    """Per method: ``{"tuned", "note", "lr", "weighting", "calibration_epoch", "weights", "lr_classifier"}``.

    ``weights``/``lr_classifier`` per seed: the fixed weights, or (auto, `trained`) those of the run's
    last metrics line; ``None`` for auto weights not calibrated yet. Weights of the method's active
    losses only (α; β with a contrastive loss; γ with CC-GE). ``note``: NOT_TUNED or None."""
    from ecl.losses import METHODS

    settings = {}
    for method in methods:
        jobs = [job for job in plan if job.method == method]
        protocol, lr = resolve_protocol(jobs[0].config), float(jobs[0].config.train.lr)
        spec = METHODS[method]
        keys = ["alpha"] + ["beta"] * bool(spec.contrastive) + ["gamma"] * bool(spec.ccge)
        fixed = {k: w for k, w in zip(("alpha", "beta", "gamma"), protocol.weights) if k in keys}
        weights = [_run_weights(job.run_dir, keys) if trained else
                   (fixed if protocol.weighting == "fixed" else None) for job in jobs]
        settings[method] = {
            "tuned": tuned, "note": None if tuned else NOT_TUNED, "lr": lr, "weighting": protocol.weighting,
            "calibration_epoch": protocol.warmup_epochs + 1 if protocol.weighting == "auto" else None,
            "weights": weights, "lr_classifier": [None if w is None else round(lr * w["alpha"], 8) for w in weights]}
    return settings


def _announce(settings: dict[str, dict[str, Any]], tuned: bool, log: Callable[[str], None]) -> None:
    """Once at the start of the report runs: untuned or not, and each method's loss weighting."""
    if not tuned:
        lrs = sorted({s["lr"] for s in settings.values()})
        log(f"[compare] {NOT_TUNED} (train.lr={', '.join(f'{lr:g}' for lr in lrs)}); "
            f"--tune auto chooses each method's learning rate on a validation split")
    log("[compare] loss weighting: " + "; ".join(setting_text(m, s) for m, s in settings.items()))


def _write_outputs(base: Config, out: Path, methods: list[str], seeds: list[int], plan: list[_Job],
                   tuning: dict[str, dict[str, Any]] | None, log: Callable[[str], None]) -> dict[str, Any]:
    finals = {method: [RunFolder(job.run_dir).read_final() for job in plan if job.method == method]
              for method in methods}
    summary: dict[str, Any] = summarize(finals)
    for method, record in (tuning or {}).items():
        summary[method]["tuning"] = record
    for method, setting in _settings(methods, plan, tuning is not None, trained=True).items():
        summary[method]["setting"] = setting
    atomic_write_json(out / "summary.json", summary)
    title = f"{base.data.name}: {', '.join(methods)} — {base.train.epochs} epochs, {base.model.backbone}"
    table = format_table(summary, title=title, seeds=seeds)
    atomic_write_text(out / "table.md", table)
    plot = None
    try:
        plot = plot_shot_groups(summary, out / "shot_groups.png", title=f"{base.data.name}: shot-group accuracy")
    except Exception as exc:  # a picture must never cost the user a finished comparison
        log(f"warning: shot_groups.png could not be drawn: {type(exc).__name__}: {exc}")
    log(table)
    log(f"[compare] wrote {out / 'summary.json'}, {out / 'table.md'}"
        + (f", {plot}" if plot is not None else ""))
    return {"out": str(out), "summary": summary, "table": str(out / "table.md"),
            "plot": None if plot is None else str(plot), "finals": finals}


def run_comparison(
    methods: list[str],
    seeds: list[int],
    config_file: str | None = None,
    overrides: list[str] | None = None,
    log: Callable[[str], None] = lambda text: print(text, file=sys.stderr),
    *,
    jobs: int = 1,
    tune: Sequence[str] | None = None,
    tune_seeds: Sequence[int] = DEFAULT_TUNE_SEEDS,
    stage: str = "all",
) -> dict[str, Any]:
    """Train every (method, seed) into OUT/<method>/seed<k>/ and write summary.json, table.md and
    shot_groups.png in OUT (OUT: the `out=` override, else runs/compare-<dataset>-<time>).

    With `tune` (``[METHOD:]KEY=V1,V2`` axes or ``auto``, `ecl.engine.commands.tuning`): first every grid combination of
    each method is trained on `tune_seeds` into OUT/tune/<method>/<combination>/seed<k>/ and scored
    on validation balanced accuracy (final epoch); the best per method is then trained on `seeds`.
    `stage`: ``"tune"`` (tuning runs and OUT/tuning.json only), ``"report"`` (needs finished tuning
    runs; trains the report runs) or ``"all"``. Every method name, grid and configuration is
    validated before anything trains (ConfigError). `jobs` > 1 trains that many runs at once, each
    in its own process (use with train.threads=1).
    Returns ``{"out", "summary", "table", "plot", "finals"}`` (finals: ``{method: [final per seed]}``;
    with stage "tune": ``{"out", "tuning"}``).
    """
    if jobs < 1:
        raise ConfigError(f"jobs must be ≥ 1, got {jobs}")
    if stage not in STAGES:
        raise ConfigError(f"--stage must be one of {', '.join(STAGES)}, got {stage!r}")
    if not tune and stage != "all":
        raise ConfigError(f"--stage {stage} needs --tune")
    overrides = list(overrides or [])
    _check_lists(methods, seeds, overrides)
    overrides.append(f"out={_base(config_file, overrides)[1]}")  # one OUT, even when it is a timestamped default
    tuning, chosen = None, None
    if tune:
        tuning, chosen = _tune(methods, config_file, overrides, tune, tune_seeds, stage != "report", jobs, log)
        if stage == "tune":
            return {"out": str(_base(config_file, overrides)[1]), "tuning": tuning}
    base, out, plan = _plan(methods, seeds, config_file, overrides, chosen)
    _announce(_settings(methods, plan, tuning is not None, trained=False), tuning is not None, log)
    out.mkdir(parents=True, exist_ok=True)
    _train_all(plan, seeds, out, jobs, log, f"report ({len(methods)} methods × {len(seeds)} seeds)")
    return _write_outputs(base, out, methods, seeds, plan, tuning, log)


def _worker(argv: Sequence[str]) -> int:
    """`python -m ecl.engine.commands.compare --worker RUN_DIR new|resume CONFIG_JSON`: one run of a comparison."""
    if len(argv) != 4 or argv[0] != "--worker" or argv[2] not in ("new", "resume"):
        print("usage: python -m ecl.engine.commands.compare --worker RUN_DIR new|resume CONFIG_JSON", file=sys.stderr)
        return 2
    run_dir = Path(argv[1])
    config = validate(config_from_dict(json.loads(argv[3]), source="worker config"))
    _run_inline(config, run_dir, argv[2], lambda text: print(text, file=sys.stderr, flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(_worker(sys.argv[1:]))
