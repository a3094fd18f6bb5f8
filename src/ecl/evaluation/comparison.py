"""Comparison of methods over seeds: statistics, the Markdown table and the shot-group plot.

Pure functions of final.json dicts (the orchestration of runs is `ecl.engine.commands.compare`):
- ``summarize``: ``{method: {metric: {"mean", "std", "values"}}}`` for :data:`METRICS`; ``values``
  follow the seed order (``None`` kept, e.g. an empty shot group); mean and std skip ``None``;
  ``std`` is the sample standard deviation (``ddof=1``), 0 for one value, ``None`` when every value
  is ``None``.
- ``format_table``: mean ± std (accuracies in %, geometry to 3 decimals), the best per column in
  bold, and the paired difference ``method − reference`` with a 95% t-interval over seeds, starred
  when it excludes 0 on ≥ 3 seeds whose differences vary (else it says why not); when a
  method's entry has a ``"tuning"`` record (``ecl compare --tune``), a "tuned" column with its chosen
  values and a section with every combination's validation score; with each method's ``"setting"``
  (``ecl.engine.commands.compare``), whether it was tuned (:data:`NOT_TUNED` when not) and its loss weighting.
- ``plot_shot_groups``: many / medium / few-shot accuracy per method, grouped bars with std bars.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

__all__ = [
    "METRICS",
    "ACCURACY_METRICS",
    "GEOMETRY_METRICS",
    "REFERENCE",
    "metric_value",
    "summary_stats",
    "summarize",
    "t_quantile",
    "paired_interval",
    "MIN_STAR_PAIRS",
    "format_table",
    "tuned_text",
    "setting_text",
    "NOT_TUNED",
    "plot_shot_groups",
    "shot_group_figure",
]

ACCURACY_METRICS = ("top1", "balanced_accuracy", "macro_f1", "many", "medium", "few")
GEOMETRY_METRICS = ("FC", "MS", "SD")
METRICS = ACCURACY_METRICS + GEOMETRY_METRICS
HEADERS = {"top1": "top-1", "balanced_accuracy": "bal. acc", "macro_f1": "macro-F1", "many": "many",
           "medium": "medium", "few": "few", "FC": "FC ↓", "MS": "MS ↓", "SD": "SD ↓"}
REFERENCE = "ecl"
_GREEK = {"alpha": "α", "beta": "β", "gamma": "γ"}
NOT_TUNED = ("not tuned: one learning rate for every method; the differences compare settings as much as "
             "methods")

# Two-sided 95% quantiles t_{0.975, df} (used when scipy is not importable); for a df between the
# listed ones the next smaller df is used (a slightly wider, conservative interval).
_T975 = {1: 12.7062, 2: 4.3027, 3: 3.1824, 4: 2.7764, 5: 2.5706, 6: 2.4469, 7: 2.3646, 8: 2.3060,
         9: 2.2622, 10: 2.2281, 11: 2.2010, 12: 2.1788, 13: 2.1604, 14: 2.1448, 15: 2.1314,
         16: 2.1199, 17: 2.1098, 18: 2.1009, 19: 2.0930, 20: 2.0860, 25: 2.0595, 30: 2.0423,
         40: 2.0211, 60: 2.0003, 120: 1.9799}


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


MIN_STAR_PAIRS = 3  # fewer paired seeds: an interval is shown but never starred
_ZERO_SPREAD = 1e-12  # differences closer than this are identical (float noise of equal values)


def paired_interval(a: Sequence[float | None], b: Sequence[float | None],
                    confidence: float = 0.95) -> dict[str, Any] | None:
    """Paired difference a − b over seeds (pairs with a ``None`` are dropped).

    Returns ``{"mean", "low", "high", "n", "excludes_zero", "why_not"}``: mean ± t_{(1+c)/2, n−1} ·
    sd(d)/√n with sd of ddof=1; ``low``/``high`` are ``None`` when fewer than two pairs exist;
    ``None`` when there is no pair. ``excludes_zero`` (the star of table.md) is True only when the
    interval excludes 0 *and* it rests on at least :data:`MIN_STAR_PAIRS` pairs with a nonzero
    spread; ``why_not`` says why an interval is not judged: ``"n < 3"``, ``"identical differences"``
    (every difference equal: a zero-width interval says nothing about the noise), both joined by
    "; ", or ``None``.
    """
    if len(a) != len(b):
        raise ValueError(f"paired values must have equal lengths, got {len(a)} and {len(b)}")
    diffs = [float(x) - float(y) for x, y in zip(a, b) if x is not None and y is not None]
    n = len(diffs)
    if n == 0:
        return None
    mean = math.fsum(diffs) / n
    reasons = [f"n < {MIN_STAR_PAIRS}"] if n < MIN_STAR_PAIRS else []
    if n < 2:
        return {"mean": mean, "low": None, "high": None, "n": n, "excludes_zero": False, "why_not": reasons[0]}
    if max(diffs) - min(diffs) <= _ZERO_SPREAD:
        reasons.append("identical differences")
        sd = 0.0
    else:
        sd = math.sqrt(math.fsum((d - mean) ** 2 for d in diffs) / (n - 1))
    half = t_quantile(n - 1, confidence) * sd / math.sqrt(n)
    low, high = mean - half, mean + half
    return {"mean": mean, "low": low, "high": high, "n": n,
            "excludes_zero": not reasons and (low > 0 or high < 0), "why_not": "; ".join(reasons) or None}


# --------------------------------------------------------------------------------------------
# table and plot


def _fmt(metric: str, value: float | None, signed: bool = False) -> str:
    if value is None:
        return "—"
    sign = "+" if signed else ""
    if metric in GEOMETRY_METRICS:
        return f"{value:{sign}.3f}"
    return f"{100 * value:{sign}.2f}"


def _header(tuned: bool = False) -> list[str]:
    """The two header rows of a Markdown table with one column per metric (and a "tuned" column)."""
    extra = ("tuned | ", "--- | ") if tuned else ("", "")
    return ["| method | " + extra[0] + " | ".join(HEADERS[m] for m in METRICS) + " |",
            "| --- | " + extra[1] + " | ".join("---:" for _ in METRICS) + " |"]


def tuned_text(entry: dict[str, Any]) -> str:
    """The chosen values of a method's ``"tuning"`` record as ``lr=0.05, temperature=0.1`` (last key
    part), or "" for a method without one."""
    record = entry.get("tuning")
    if not record:
        return ""
    return ", ".join(f"{key.rsplit('.', 1)[-1]}={value}" for key, value in record["chosen"].items()) or "default"


def setting_text(method: str, setting: dict[str, Any]) -> str:
    """A method's loss weighting and classifier rate in words, e.g. ``ecl: auto, calibrated α=0.2
    β=0.11 γ=0.38; lr 0.05 → classifier loss rate lr×α 0.01`` (weights: mean over the seeds)."""
    weights = [w for w in setting["weights"] if w]
    lr = setting["lr"]
    if not weights:
        return f"{method}: auto (α, β, γ calibrated at the end of epoch {setting['calibration_epoch']}); lr {lr:g}"
    mean = {k: math.fsum(w[k] for w in weights) / len(weights) for k in weights[0]}
    over = f" (mean of {len(weights)} seeds)" if len(weights) > 1 else ""
    how = "fixed" if setting["weighting"] == "fixed" else "auto, calibrated"
    named = " ".join(f"{_GREEK[k]}={v:.3g}" for k, v in mean.items())
    return f"{method}: {how} {named}{over}; lr {lr:g} → classifier loss rate lr×α {lr * mean['alpha']:.3g}"


def _setting_lines(summary: dict[str, dict[str, Any]]) -> list[str]:
    """Not tuned (when no method was) and each method's loss weighting, from the ``"setting"`` records."""
    settings = {method: entry["setting"] for method, entry in summary.items() if entry.get("setting")}
    if not settings:
        return []
    lines = []
    if not any(setting["tuned"] for setting in settings.values()):
        lines += [f"**{NOT_TUNED}.** `ecl compare --tune auto` chooses each method's learning rate on a "
                  "validation split.", ""]
    lines += ["Loss weighting and the classifier loss's effective rate (lr × α) per method:", "",
              *[f"- {setting_text(method, setting)}" for method, setting in settings.items()], ""]
    return lines


def _is_tuned(summary: dict[str, dict[str, Any]]) -> bool:
    return any(entry.get("tuning") for entry in summary.values())


def _tuning_section(summary: dict[str, dict[str, Any]]) -> list[str]:
    """The per-combination validation scores of every tuned method (chosen in bold)."""
    first = next(entry["tuning"] for entry in summary.values() if entry.get("tuning"))
    seeds = ", ".join(map(str, first.get("tune_seeds", [])))
    lines = ["", "## Tuning (validation, never test)", "",
             f"Each method's grid trained on tuning seed(s) {seeds}; score: {first['criterion']}. "
             "Validation balanced accuracy in %; bold: chosen.", "",
             *([first["rule"] + ".", ""] if first.get("rule") else []),
             "| method | combination | val. bal. acc |", "| --- | --- | ---: |"]
    for method, entry in summary.items():
        record = entry.get("tuning")
        for i, row in enumerate(record["scores"] if record else []):
            combo = ", ".join(f"{k}={v}" for k, v in row["values"].items()) or "default"
            text = f"{100 * row['mean']:.2f}"
            bold = i == record["chosen_index"]
            lines.append(f"| {method} | {combo} | {f'**{text}**' if bold else text} |")
    return lines


def _best_shown(summary: dict[str, dict[str, dict[str, Any]]]) -> dict[str, str | None]:
    """Per metric, the best rounded mean as shown (max accuracy, min geometry); every method whose
    rounded mean equals it is bold."""
    best: dict[str, str | None] = {}
    for metric in METRICS:
        shown = {m: _fmt(metric, summary[m][metric]["mean"]) for m in summary
                 if summary[m][metric]["mean"] is not None}
        if not shown:
            best[metric] = None
            continue
        target = (min if metric in GEOMETRY_METRICS else max)(shown, key=lambda m: float(shown[m]))
        best[metric] = shown[target]
    return best


def _mean_rows(summary: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    best = _best_shown(summary)
    rows = []
    for method, metrics in summary.items():
        cells = []
        for metric in METRICS:
            stats = metrics[metric]
            if stats["mean"] is None:
                cells.append("—")
                continue
            mean_text = _fmt(metric, stats["mean"])
            seeds = sum(v is not None for v in stats["values"])
            text = mean_text if seeds < 2 else f"{mean_text} ± {_fmt(metric, stats['std'])}"
            cells.append(f"**{text}**" if mean_text == best[metric] else text)
        tuned = f"{tuned_text(metrics)} | " if _is_tuned(summary) else ""
        rows.append(f"| {method} | {tuned}" + " | ".join(cells) + " |")
    return rows


def _paired_rows(summary: dict[str, dict[str, dict[str, Any]]], reference: str) -> list[str]:
    ref = summary[reference]
    rows = []
    for method, metrics in summary.items():
        if method == reference:
            continue
        cells = [_format_interval(metric, paired_interval(metrics[metric]["values"], ref[metric]["values"]))
                 for metric in METRICS]
        tuned = f"{tuned_text(metrics)} | " if _is_tuned(summary) else ""
        rows.append(f"| {method} | {tuned}" + " | ".join(cells) + " |")
    return rows


def format_table(summary: dict[str, dict[str, dict[str, Any]]], *, title: str | None = None,
                 seeds: Sequence[int] | None = None, reference: str = REFERENCE) -> str:
    """table.md: mean ± std per method and metric, best in bold, paired differences to `reference`."""
    lines: list[str] = [f"# {title}", ""] if title else []
    n_seeds = len(seeds) if seeds is not None else max(
        (len(m[k]["values"]) for m in summary.values() for k in METRICS if k in m), default=0)
    seed_text = f" (seeds {', '.join(map(str, seeds))})" if seeds is not None else ""
    lines += [
        (f"Mean ± std over {n_seeds} seeds{seed_text}; std is the sample standard deviation (ddof=1). "
         if n_seeds > 1 else f"1 seed{seed_text}: values of a single run (no spread). ") +
        "Accuracies in %, geometry (FC, MS, SD; lower is better) to 3 decimals. "
        "Bold: best per column (highest accuracy, lowest FC/MS/SD). — : no value (e.g. no class in "
        "that shot group).",
        "",
        *_setting_lines(summary),
        *_header(_is_tuned(summary)),
        *_mean_rows(summary),
    ]
    if reference in summary and len(summary) > 1:
        lines += [
            "",
            f"## Paired difference to {reference}",
            "",
            f"method − {reference}, paired by seed: mean [95% t-interval over seeds, n−1 degrees of "
            "freedom] (accuracies in percentage points, geometry in its units). An interval that "
            "contains 0 means the difference is inside the seed noise; * marks intervals that "
            f"exclude 0, judged only on ≥ {MIN_STAR_PAIRS} seeds with differences that vary: "
            f"(n < {MIN_STAR_PAIRS}) too few seeds to judge, (identical differences) every seed gave the "
            "same difference, so the interval has zero width and says nothing about the noise; never "
            "starred. n/a: one seed, no interval.",
            "",
            *_header(_is_tuned(summary)),
            *_paired_rows(summary, reference),
        ]
    if _is_tuned(summary):
        lines += _tuning_section(summary)
    return "\n".join(lines) + "\n"


def _format_interval(metric: str, interval: dict[str, Any] | None) -> str:
    if interval is None:
        return "—"
    mean = _fmt(metric, interval["mean"], signed=True)
    if interval["low"] is None:
        return f"{mean} (n/a)"
    low, high = _fmt(metric, interval["low"], signed=True), _fmt(metric, interval["high"], signed=True)
    why_not = f" ({interval['why_not']})" if interval["why_not"] else ""
    return f"{mean} [{low}, {high}]{'*' if interval['excludes_zero'] else ''}{why_not}"


def shot_group_figure(summary: dict[str, dict[str, dict[str, Any]]], title: str | None = None):
    """Grouped bars: many / medium / few-shot accuracy (%) per method, std error bars (a Figure)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    groups = [g for g in ("many", "medium", "few")
              if any(summary[m][g]["mean"] is not None for m in summary)]
    methods = list(summary)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 + 0.55 * len(methods) * max(1, len(groups))), 4.0))
    if not groups:
        ax.text(0.5, 0.5, "no shot-group accuracies", ha="center", va="center", transform=ax.transAxes)
    else:
        width = 0.8 / len(methods)
        x = np.arange(len(groups))
        cmap = plt.get_cmap("tab10" if len(methods) <= 10 else "tab20")
        seeds = max((sum(v is not None for v in summary[m][g]["values"]) for m in methods for g in groups),
                    default=0)
        for i, method in enumerate(methods):
            means = [summary[method][g]["mean"] for g in groups]
            stds = [summary[method][g]["std"] for g in groups]
            heights = [100 * v if v is not None else 0.0 for v in means]
            errs = [100 * s if s is not None else 0.0 for s in stds] if seeds > 1 else None
            ax.bar(x - 0.4 + width * (i + 0.5), heights, width, yerr=errs, capsize=2,
                   label=method, color=cmap(i % cmap.N))
        ax.set_xticks(x)
        ax.set_xticklabels([f"{g}-shot" for g in groups])
        ax.set_ylabel("accuracy (%)")
        ax.set_ylim(0, 105)
        ax.text(1.0, 1.01, f"mean ± std over {seeds} seeds" if seeds > 1 else "1 seed (no error bars)",
                transform=ax.transAxes, ha="right", va="bottom", fontsize=8)
        # outside the axes, right of the bars: the legend never covers a bar
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_shot_groups(summary: dict[str, dict[str, dict[str, Any]]], path: str | Path,
                     title: str | None = None) -> Path:
    """`shot_group_figure` saved as a PNG at `path` (written atomically)."""
    import matplotlib.pyplot as plt

    from ecl.atomic import atomic_write

    fig = shot_group_figure(summary, title)
    try:
        return atomic_write(Path(path), lambda handle: fig.savefig(handle, format="png", dpi=120))
    finally:
        plt.close(fig)



