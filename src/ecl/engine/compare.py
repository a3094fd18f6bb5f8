"""`ecl compare`: train several methods over several seeds with one budget and compare them.

Every (method, seed) is an ordinary run folder ``OUT/<method>/seed<k>/`` trained with the same
data, backbone, epochs and augmentation; only ``loss.method`` and ``seed`` differ (the CE/LA
baselines draw only the classifier view: the engine does that from ``METHODS``). The comparison is
resumable: a finished run (``final.json``) is skipped, a run with ``checkpoints/last.pt`` but no
``final.json`` is continued, a folder with neither is overwritten.

Outputs in OUT:
- ``summary.json``: ``{method: {metric: {"mean", "std", "values"}}}`` for :data:`METRICS`;
  ``values`` follow the seed order (``None`` kept, e.g. an empty shot group); mean and std skip
  ``None``; ``std`` is the sample standard deviation (``ddof=1``), 0 for one value, ``None`` when
  every value is ``None``.
- ``table.md``: mean ± std (accuracies in %, geometry to 3 decimals), the best per column in bold,
  and the paired difference ``method − ecl`` with a 95% t-interval over seeds.
- ``shot_groups.png``: many / medium / few-shot accuracy per method, grouped bars with std bars.
"""

from __future__ import annotations

import copy
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from ecl.config import Config, ConfigError, config_from_dict, config_to_dict, load_config, validate
from ecl.engine.run_folder import RunFolderError, atomic_write_text, write_json

__all__ = [
    "METRICS",
    "ACCURACY_METRICS",
    "GEOMETRY_METRICS",
    "ComparisonError",
    "run_comparison",
    "metric_value",
    "summary_stats",
    "summarize",
    "t_quantile",
    "paired_interval",
    "format_table",
    "plot_shot_groups",
]

ACCURACY_METRICS = ("top1", "balanced_accuracy", "macro_f1", "many", "medium", "few")
GEOMETRY_METRICS = ("FC", "MS", "SD")
METRICS = ACCURACY_METRICS + GEOMETRY_METRICS
HEADERS = {"top1": "top-1", "balanced_accuracy": "bal. acc", "macro_f1": "macro-F1", "many": "many",
           "medium": "medium", "few": "few", "FC": "FC ↓", "MS": "MS ↓", "SD": "SD ↓"}
REFERENCE = "ecl"

# Settings that do not change what a run computes: they may differ between a finished run and the
# comparison that finds it (e.g. the benchmark runs with train.threads=1).
_NEUTRAL_KEYS = {("out",), ("train", "progress"), ("train", "threads"), ("train", "num_workers"),
                 ("eval", "plots"), ("eval", "report")}

# Two-sided 95% quantiles t_{0.975, df} (used when scipy is not importable); for a df between the
# listed ones the next smaller df is used (a slightly wider, conservative interval).
_T975 = {1: 12.7062, 2: 4.3027, 3: 3.1824, 4: 2.7764, 5: 2.5706, 6: 2.4469, 7: 2.3646, 8: 2.3060,
         9: 2.2622, 10: 2.2281, 11: 2.2010, 12: 2.1788, 13: 2.1604, 14: 2.1448, 15: 2.1314,
         16: 2.1199, 17: 2.1098, 18: 2.1009, 19: 2.0930, 20: 2.0860, 25: 2.0595, 30: 2.0423,
         40: 2.0211, 60: 2.0003, 120: 1.9799}


class ComparisonError(RunFolderError):
    """Runs of a comparison failed (the others are kept; rerun the same command to continue)."""


# --------------------------------------------------------------------------------------------
# statistics


def metric_value(final: dict[str, Any], metric: str) -> float | None:
    """One metric of a final.json dict (geometry metrics live under ``final["geometry"]``)."""
    if metric in GEOMETRY_METRICS:
        value = (final.get("geometry") or {}).get(metric)
    else:
        value = final.get(metric)
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def summary_stats(values: Sequence[float | None]) -> dict[str, Any]:
    """``{"mean", "std", "values"}`` of values over seeds; ``None`` entries are skipped.

    std is the sample standard deviation (ddof=1), 0.0 for a single value; mean and std are
    ``None`` when no value is present.
    """
    present = [float(v) for v in values if v is not None]
    n = len(present)
    if n == 0:
        mean = std = None
    else:
        mean = math.fsum(present) / n
        std = math.sqrt(math.fsum((v - mean) ** 2 for v in present) / (n - 1)) if n > 1 else 0.0
    return {"mean": mean, "std": std, "values": [None if v is None else float(v) for v in values]}


def summarize(finals: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, dict[str, Any]]]:
    """``{method: [final per seed]}`` → ``{method: {metric: summary_stats}}``."""
    return {method: {metric: summary_stats([metric_value(f, metric) for f in runs]) for metric in METRICS}
            for method, runs in finals.items()}


def t_quantile(df: int, confidence: float = 0.95) -> float:
    """The two-sided Student-t quantile t_{(1+confidence)/2, df} (scipy when importable)."""
    if df < 1:
        raise ValueError(f"df must be ≥ 1, got {df}")
    try:
        from scipy import stats
    except ImportError:
        if abs(confidence - 0.95) > 1e-12:
            raise ValueError(f"without scipy only confidence=0.95 is available, got {confidence}") from None
        if df in _T975:
            return _T975[df]
        if df > max(_T975):
            return 1.9600
        return _T975[max(k for k in _T975 if k < df)]
    return float(stats.t.ppf((1.0 + confidence) / 2.0, df))


def paired_interval(a: Sequence[float | None], b: Sequence[float | None],
                    confidence: float = 0.95) -> dict[str, Any] | None:
    """Paired difference a − b over seeds (pairs with a ``None`` are dropped).

    Returns ``{"mean", "low", "high", "n"}``: mean ± t_{(1+c)/2, n−1} · sd(d)/√n with sd of ddof=1;
    ``low``/``high`` are ``None`` when fewer than two pairs exist; ``None`` when there is no pair.
    """
    if len(a) != len(b):
        raise ValueError(f"paired values must have equal lengths, got {len(a)} and {len(b)}")
    diffs = [float(x) - float(y) for x, y in zip(a, b) if x is not None and y is not None]
    n = len(diffs)
    if n == 0:
        return None
    mean = math.fsum(diffs) / n
    if n < 2:
        return {"mean": mean, "low": None, "high": None, "n": n}
    sd = math.sqrt(math.fsum((d - mean) ** 2 for d in diffs) / (n - 1))
    half = t_quantile(n - 1, confidence) * sd / math.sqrt(n)
    return {"mean": mean, "low": mean - half, "high": mean + half, "n": n}


# --------------------------------------------------------------------------------------------
# table and plot


def _fmt(metric: str, value: float | None, signed: bool = False) -> str:
    if value is None:
        return "—"
    sign = "+" if signed else ""
    if metric in GEOMETRY_METRICS:
        return f"{value:{sign}.3f}"
    return f"{100 * value:{sign}.2f}"


def format_table(summary: dict[str, dict[str, dict[str, Any]]], *, title: str | None = None,
                 seeds: Sequence[int] | None = None, reference: str = REFERENCE) -> str:
    """table.md: mean ± std per method and metric, best in bold, paired differences to `reference`."""
    methods = list(summary)
    lines: list[str] = []
    if title:
        lines += [f"# {title}", ""]
    n_seeds = len(seeds) if seeds is not None else max(
        (len(s["values"]) for m in summary.values() for s in m.values()), default=0)
    seed_text = f" (seeds {', '.join(map(str, seeds))})" if seeds is not None else ""
    lines += [
        f"Mean ± std over {n_seeds} seed(s){seed_text}; std is the sample standard deviation (ddof=1), "
        "0 for one seed. Accuracies in %, geometry (FC, MS, SD; lower is better) to 3 decimals. "
        "Bold: best per column (highest accuracy, lowest FC/MS/SD). — : no value (e.g. no class in "
        "that shot group).",
        "",
        "| method | " + " | ".join(HEADERS[m] for m in METRICS) + " |",
        "| --- | " + " | ".join("---:" for _ in METRICS) + " |",
    ]
    best: dict[str, str | None] = {}
    for metric in METRICS:
        shown = {m: _fmt(metric, summary[m][metric]["mean"]) for m in methods
                 if summary[m][metric]["mean"] is not None}
        if not shown:
            best[metric] = None
            continue
        key = (lambda m: float(shown[m]))
        target = (min if metric in GEOMETRY_METRICS else max)(shown, key=key)
        best[metric] = shown[target]  # every method whose rounded mean equals it is bold
    for method in methods:
        cells = []
        for metric in METRICS:
            stats = summary[method][metric]
            if stats["mean"] is None:
                cells.append("—")
                continue
            mean_text = _fmt(metric, stats["mean"])
            text = f"{mean_text} ± {_fmt(metric, stats['std'])}"
            cells.append(f"**{text}**" if mean_text == best[metric] else text)
        lines.append(f"| {method} | " + " | ".join(cells) + " |")

    if reference in summary and len(methods) > 1:
        lines += [
            "",
            f"## Paired difference to {reference}",
            "",
            f"method − {reference}, paired by seed: mean [95% t-interval over seeds, n−1 degrees of "
            "freedom] (accuracies in percentage points, geometry in its units). An interval that "
            "contains 0 means the difference is inside the seed noise; * marks intervals that "
            "exclude 0. n/a: one seed, no interval.",
            "",
            "| method | " + " | ".join(HEADERS[m] for m in METRICS) + " |",
            "| --- | " + " | ".join("---:" for _ in METRICS) + " |",
        ]
        ref = summary[reference]
        for method in methods:
            if method == reference:
                continue
            cells = []
            for metric in METRICS:
                interval = paired_interval(summary[method][metric]["values"], ref[metric]["values"])
                cells.append(_format_interval(metric, interval))
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _format_interval(metric: str, interval: dict[str, Any] | None) -> str:
    if interval is None:
        return "—"
    mean = _fmt(metric, interval["mean"], signed=True)
    if interval["low"] is None:
        return f"{mean} (n/a)"
    low, high = _fmt(metric, interval["low"], signed=True), _fmt(metric, interval["high"], signed=True)
    star = "*" if interval["low"] > 0 or interval["high"] < 0 else ""
    return f"{mean} [{low}, {high}]{star}"


def plot_shot_groups(summary: dict[str, dict[str, dict[str, Any]]], path: str | Path,
                     title: str | None = None) -> Path:
    """Grouped bars: many / medium / few-shot accuracy (%) per method, std error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    groups = [g for g in ("many", "medium", "few")
              if any(summary[m][g]["mean"] is not None for m in summary)]
    methods = list(summary)
    path = Path(path)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 + 0.55 * len(methods) * max(1, len(groups))), 4.0))
    if not groups:
        ax.text(0.5, 0.5, "no shot-group accuracies", ha="center", va="center", transform=ax.transAxes)
    else:
        width = 0.8 / len(methods)
        x = np.arange(len(groups))
        cmap = plt.get_cmap("tab10" if len(methods) <= 10 else "tab20")
        for i, method in enumerate(methods):
            means = [summary[method][g]["mean"] for g in groups]
            stds = [summary[method][g]["std"] for g in groups]
            heights = [100 * v if v is not None else 0.0 for v in means]
            errs = [100 * s if s is not None else 0.0 for s in stds]
            ax.bar(x - 0.4 + width * (i + 0.5), heights, width, yerr=errs, capsize=2,
                   label=method, color=cmap(i % cmap.N))
        ax.set_xticks(x)
        ax.set_xticklabels([f"{g}-shot" for g in groups])
        ax.set_ylabel("accuracy (%)")
        ax.set_ylim(0, 105)
        ax.legend(fontsize=8, ncol=min(len(methods), 4), loc="lower left")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


# --------------------------------------------------------------------------------------------
# the comparison


def _flatten(tree: dict[str, Any], prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    flat: dict[tuple[str, ...], Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, prefix + (key,)))
        else:
            flat[prefix + (key,)] = value
    return flat


def _check_existing(run_dir: Path, config: Config) -> None:
    """A run folder found in OUT must hold the run asked for (same settings), else RunFolderError."""
    import yaml

    path = run_dir / "config.yaml"
    if not path.is_file():
        return
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        existing = config_to_dict(config_from_dict(raw, source=str(path)))
    except (yaml.YAMLError, ConfigError, OSError) as exc:
        raise RunFolderError(f"{path}: cannot read the existing run's config: {exc}") from None
    wanted, found = _flatten(config_to_dict(config)), _flatten(existing)
    for key in sorted(set(wanted) | set(found)):
        if key in _NEUTRAL_KEYS:
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
    if (run_dir / "final.json").is_file():
        return "done"
    if (run_dir / "checkpoints" / "last.pt").is_file():
        return "resume"
    return "new"


def _read_final(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "final.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RunFolderError(f"{path}: cannot read the finished run's metrics: {exc}") from None


def _run_inline(config: Config, run_dir: Path, state: str, log: Callable[[str], None]) -> None:
    from ecl.engine.run import train

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
            log(f"[compare] {method}/seed{seed}: finished earlier, skipped ({run_dir / 'final.json'})")
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

    finals = {method: [_read_final(run_dir) for m, _, _, run_dir in plan if m == method] for method in methods}
    summary = summarize(finals)
    write_json(out / "summary.json", summary)
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
