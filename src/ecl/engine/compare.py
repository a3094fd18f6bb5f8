"""`ecl compare`: train several methods over several seeds with one budget and compare them.

Every (method, seed) is an ordinary run folder ``OUT/<method>/seed<k>/`` trained with the same
data, backbone, epochs and augmentation; only ``loss.method`` and ``seed`` differ (the CE/LA
baselines draw only the classifier view: the engine does that from ``METHODS``). The comparison is
resumable: a finished run is skipped, a run with a checkpoint but no final results is continued,
a folder with neither is overwritten.

Outputs in OUT (statistics, table and plot: ``ecl.evaluation.comparison``): ``summary.json``
(mean, std and values per method and metric), ``table.md`` (mean ± std, best in bold, paired
differences to ecl with 95% t-intervals) and ``shot_groups.png``.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from ecl.atomic import atomic_write_json, atomic_write_text
from ecl.config import Config, ConfigError, config_from_dict, config_to_dict, load_config, validate
from ecl.engine.run_folder import RunFolder, RunFolderError
from ecl.evaluation.comparison import format_table, plot_shot_groups, summarize

__all__ = ["ComparisonError", "run_comparison"]

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
    from ecl.engine.protocol import resolve_config

    return resolve_config(config)


def _check_existing(run_dir: Path, config: Config) -> None:
    """A run folder found in OUT must hold the run asked for (same settings), else RunFolderError."""
    import yaml

    path = RunFolder(run_dir).config_file
    if not path.is_file():
        return
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        existing = config_to_dict(_resolved(config_from_dict(raw, source=str(path))))
    except (yaml.YAMLError, ConfigError, OSError) as exc:
        raise RunFolderError(f"{path}: cannot read the existing run's config: {exc}") from None
    # config.yaml holds the resolved config; a recipe/flip left to the dataset matches what it resolved to
    wanted, found = _flatten(config_to_dict(_resolved(config))), _flatten(existing)
    for key in sorted(set(wanted) | set(found)):
        if key in _NEUTRAL_KEYS or (key in (("data", "recipe"), ("data", "flip")) and wanted.get(key) is None):
            continue
        if wanted.get(key) != found.get(key):
            raise RunFolderError(
                f"{run_dir} holds a run with {'.'.join(key)}={found.get(key)!r}, but this comparison "
                f"asks for {wanted.get(key)!r}; choose another out=DIR or remove that folder"
            )


def _plan(methods: Sequence[str], seeds: Sequence[int], config_file: str | None,
          overrides: Sequence[str]) -> tuple[Config, Path, list[tuple[str, int, Config, Path]]]:
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
    base = load_config(config_file, list(overrides))
    if base.out is None:
        out = Path("runs") / f"compare-{base.data.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    else:
        out = Path(base.out).expanduser()
    if out.exists() and not out.is_dir():
        raise RunFolderError(f"out={out} exists and is not a folder")
    plan = []
    for method in methods:
        for seed in seeds:
            config = copy.deepcopy(base)
            config.loss.method = method
            config.seed = int(seed)
            run_dir = out / method / f"seed{seed}"
            config.out = str(run_dir)
            validate(config)
            _check_existing(run_dir, config)
            plan.append((method, int(seed), config, run_dir))
    return base, out, plan


def _state(run_dir: Path) -> str:
    run = RunFolder(run_dir)
    if run.is_finished():
        return "done"
    if run.has_checkpoint():
        return "resume"
    return "new"


def _run_inline(config: Config, run_dir: Path, state: str, log: Callable[[str], None]) -> None:
    from ecl.engine.train import train

    if state == "resume":
        train(resume=run_dir, log=log)
    else:
        train(config, overwrite=True, log=log)


def _run_parallel(todo: list[tuple[str, int, Config, Path, str]], out: Path, jobs: int,
                  log: Callable[[str], None]) -> list[str]:
    """Each run in its own `python -m ecl.engine.compare` process, `jobs` at a time; failures listed."""
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    pending = list(todo)
    running: list[tuple[subprocess.Popen, str, Any]] = []
    failures: list[str] = []
    env = dict(os.environ)
    try:
        while pending or running:
            while pending and len(running) < jobs:
                method, seed, config, run_dir, state = pending.pop(0)
                log_path = logs / f"{method}-seed{seed}.log"
                handle = open(log_path, "a", encoding="utf-8")
                command = [sys.executable, "-m", "ecl.engine.compare", "--worker", str(run_dir), state,
                           json.dumps(config_to_dict(config))]
                proc = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=env)
                name = f"{method}/seed{seed}"
                log(f"[compare] started {name} ({state}), log {log_path}")
                running.append((proc, name, handle))
            time.sleep(0.5)
            for item in list(running):
                proc, name, handle = item
                code = proc.poll()
                if code is None:
                    continue
                handle.close()
                running.remove(item)
                if code == 0:
                    log(f"[compare] finished {name}")
                else:
                    failures.append(f"{name} (exit {code}, see {logs / (name.replace('/', '-') + '.log')})")
                    log(f"[compare] FAILED {name} (exit {code})")
    except BaseException:
        for proc, _, handle in running:  # SIGTERM: each run stops after a complete checkpoint
            proc.terminate()
        for proc, _, handle in running:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
            handle.close()
        raise
    return failures


def run_comparison(
    methods: list[str],
    seeds: list[int],
    config_file: str | None = None,
    overrides: list[str] | None = None,
    log: Callable[[str], None] = lambda text: print(text, file=sys.stderr),
    *,
    jobs: int = 1,
) -> dict[str, Any]:
    """Train every (method, seed) into OUT/<method>/seed<k>/ and write summary.json, table.md and
    shot_groups.png in OUT (OUT: the `out=` override, else runs/compare-<dataset>-<time>).

    Every method name and the configuration are validated before anything trains (ConfigError).
    `jobs` > 1 trains that many runs at once, each in its own process (use with train.threads=1).
    Returns ``{"out", "summary", "table", "plot", "finals"}`` (finals: ``{method: [final per seed]}``).
    """
    if jobs < 1:
        raise ConfigError(f"jobs must be ≥ 1, got {jobs}")
    overrides = list(overrides or [])
    base, out, plan = _plan(methods, seeds, config_file, overrides)
    out.mkdir(parents=True, exist_ok=True)
    todo = []
    # seed-major order: an interrupted comparison leaves whole seeds (every method) finished
    order = sorted(range(len(plan)), key=lambda i: (list(seeds).index(plan[i][1]), i))
    for method, seed, config, run_dir in (plan[i] for i in order):
        state = _state(run_dir)
        if state == "done":
            log(f"[compare] {method}/seed{seed}: finished earlier, skipped ({RunFolder(run_dir).final_file})")
        else:
            todo.append((method, seed, config, run_dir, state))
    log(f"[compare] {len(plan)} runs ({len(methods)} methods × {len(seeds)} seeds) in {out}: "
        f"{len(plan) - len(todo)} finished, {len(todo)} to train")
    if jobs == 1 or len(todo) <= 1:
        for method, seed, config, run_dir, state in todo:
            log(f"[compare] {method}/seed{seed}: {'resuming' if state == 'resume' else 'training'}")
            _run_inline(config, run_dir, state, log)
    else:
        failures = _run_parallel(todo, out, jobs, log)
        if failures:
            raise ComparisonError(f"{len(failures)} run(s) failed: {'; '.join(failures)}; the others are "
                                  f"kept — rerun the same command to continue")

    finals = {method: [RunFolder(run_dir).read_final() for m, _, _, run_dir in plan if m == method]
              for method in methods}
    summary = summarize(finals)
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


def _worker(argv: Sequence[str]) -> int:
    """`python -m ecl.engine.compare --worker RUN_DIR new|resume CONFIG_JSON`: one run of a comparison."""
    if len(argv) != 4 or argv[0] != "--worker" or argv[2] not in ("new", "resume"):
        print("usage: python -m ecl.engine.compare --worker RUN_DIR new|resume CONFIG_JSON", file=sys.stderr)
        return 2
    run_dir = Path(argv[1])
    config = validate(config_from_dict(json.loads(argv[3]), source="worker config"))
    _run_inline(config, run_dir, argv[2], lambda text: print(text, file=sys.stderr, flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(_worker(sys.argv[1:]))
