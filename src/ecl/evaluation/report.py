"""A single self-contained HTML report of a run folder.

``write_report(out, final=, metrics=, config=, plots=, data=)`` reads the files it is given (the
run folder names them: ``ecl.engine.training.run_folder``); all are optional: a missing or unreadable file
gives a note in the page, never an exception:

* ``config``   the resolved configuration, shown verbatim (its data section also feeds the run table);
* ``data``     the run's data record (JSON): its data plan (`preprocess`: image size, view recipe,
  erasing, data path actually used);
* ``final``    the final evaluation (JSON): metrics table, shot groups, geometry, per-class accuracy;
* ``metrics``  one JSON object per line (training records), summarised under human names;
* ``plots``    a folder whose ``*.png`` pictures are embedded as base64 data URIs, with titles.

The page is written for a reader who has not read the paper: every metric has one plain sentence
(:mod:`ecl.evaluation.glossary`), shot groups are always "many / medium / few-shot" with their
thresholds, and a balanced accuracy at or below chance (1/C) gives a warning at the top.

The page has inline CSS only: no script, no external style sheet, image or font, so it can
be mailed or archived as one file. All text taken from the files is HTML-escaped.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import json
import math
from pathlib import Path
from typing import Any

from ecl.atomic import atomic_write_text

from .glossary import (METRIC_MEANING, METRIC_NAME, PLOT_TITLES, chance_level, record_label, shot_group_meaning,
                       shot_group_name, shot_group_range)
from .metrics import shot_groups

__all__ = ["write_report"]

_DASH = "\u2014"

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem auto;
       max-width: 1100px; padding: 0 1rem; color: #222; line-height: 1.4; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { font-size: 1.2rem; margin-top: 2rem;
     border-bottom: 1px solid #ddd; padding-bottom: .2rem; }
table { border-collapse: collapse; margin: .5rem 0; } th, td { border: 1px solid #ccc;
        padding: .25rem .6rem; text-align: left; } th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f7f7f7; border: 1px solid #e2e2e2; padding: .7rem; overflow-x: auto;
      font-size: .85rem; }
.note { color: #8a5a00; background: #fff6e0; border-left: 3px solid #e0a000; padding: .3rem .6rem; }
.warn { color: #8b0000; background: #fde8e8; border-left: 4px solid #c00000; padding: .5rem .7rem;
        font-weight: 600; }
td.meaning { color: #444; font-size: .9rem; max-width: 40rem; }
.muted { color: #666; font-size: .9rem; }
figure { margin: 1rem 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: .9rem; }
"""


def _esc(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _pct(v: Any) -> str:
    """Fraction → percentage text; None / NaN / non-numbers → '—' (or the escaped value)."""
    if v is None:
        return _DASH
    if not _is_number(v):
        return _esc(v)
    if not math.isfinite(v):
        return _DASH
    return f"{100.0 * float(v):.2f}%"


def _num(v: Any, digits: int = 4) -> str:
    if v is None:
        return _DASH
    if not _is_number(v):
        return _esc(v)
    if isinstance(v, int):
        return str(v)
    if not math.isfinite(v):
        return _DASH
    return f"{float(v):.{digits}f}"


def _note(text: str) -> str:
    return f'<p class="note">{_esc(text)}</p>'


def _read_json(path: Path, notes: list[str]) -> dict[str, Any] | None:
    if not path.is_file():
        notes.append(f"{path.name} not found: skipped.")
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        notes.append(f"{path.name} could not be read ({exc}): skipped.")
        return None
    if not isinstance(data, dict):
        notes.append(f"{path.name} does not hold a JSON object: skipped.")
        return None
    return data


def _read_jsonl(path: Path, notes: list[str]) -> list[dict[str, Any]] | None:
    if not path.is_file():
        notes.append(f"{path.name} not found: skipped.")
        return None
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        notes.append(f"{path.name} could not be read ({exc}): skipped.")
        return None
    records: list[dict[str, Any]] = []
    bad: list[int] = []
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            bad.append(i)
            continue
        if isinstance(rec, dict):
            records.append(rec)
        else:
            bad.append(i)
    if bad:
        shown = ", ".join(str(b) for b in bad[:10]) + (" …" if len(bad) > 10 else "")
        notes.append(f"{path.name}: {len(bad)} line(s) are not JSON objects and were skipped (line {shown}).")
    return records


_RECIPE_WORDS = {
    "authors": "the authors' recipe: random resized crop, flip, colour jitter, RandAugment, random erasing",
    "bcl": "BCL's CIFAR recipe: padded random crop, flip, colour jitter, RandAugment (erasing on the "
           "classifier view only)",
    "small": "the small-image recipe: mild rotation / shift / scale, colour jitter, light RandAugment, "
             "no erasing",
}
_PIPELINE_WORDS = {
    "tensor": "tensor: the images held as one uint8 tensor, views made in batches on the training device",
    "pil": "pil: per-image transforms in data-loader workers",
}


def _read_yaml(path: Path | None) -> dict[str, Any] | None:
    """config.yaml as a dict (PyYAML safe_load), or None when absent or unreadable (the page then
    shows what it has; the verbatim section notes the problem)."""
    if path is None or not path.is_file():
        return None
    import yaml

    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    return raw if isinstance(raw, dict) else None


def _data_rows(data: dict[str, Any] | None, config: dict[str, Any] | None) -> list[tuple[str, str]]:
    """(label, text) rows for the image size, view recipe, data path and data source the run used:
    the data plan in the data record (`preprocess`: what the run resolved) first, then the
    configuration's; rows without a value are left out."""
    data = data or {}
    pre = data.get("preprocess") if isinstance(data.get("preprocess"), dict) else {}
    cfg = config.get("data") if isinstance(config, dict) and isinstance(config.get("data"), dict) else {}
    rows: list[tuple[str, str]] = []
    size = pre.get("image_size", data.get("image_size", cfg.get("image_size")))
    if _is_number(size):
        rows.append(("image size", f"{size}×{size} pixels"))
    recipe = pre.get("recipe") or cfg.get("recipe")
    if isinstance(recipe, str) and recipe:
        text = f"{recipe} ({_RECIPE_WORDS[recipe]})" if recipe in _RECIPE_WORDS else recipe
        if pre.get("erasing") is False and recipe != "small":
            text += "; random erasing off for this run"
        rows.append(("view recipe", text))
    pipeline = pre.get("pipeline") or data.get("pipeline") or cfg.get("pipeline")
    if isinstance(pipeline, str) and pipeline:
        rows.append(("data path", _PIPELINE_WORDS.get(pipeline, f"{pipeline} (the concrete choice is not recorded)")))
    source = [f"{k} {cfg[k]}" for k in ("root", "train_csv", "train_list") if cfg.get(k)]
    if source:
        rows.append(("data source", ", ".join(source)))
    return rows


def _run_section(final: dict[str, Any] | None, data: dict[str, Any] | None, config: dict[str, Any] | None) -> str:
    keys = [("method", "method"), ("dataset", "dataset"), ("epochs", "epochs"), ("seed", "seed")]
    rows = [(label, str(final[k])) for k, label in keys if final is not None and k in final]
    rows += _data_rows(data, config)
    cells = "".join(f"<tr><th>{_esc(label)}</th><td>{_esc(text)}</td></tr>" for label, text in rows)
    return "<h2>Run</h2><table>" + cells + "</table>" if rows else ""


def _num_classes(final: dict[str, Any]) -> int | None:
    """C: the length of the class list, the training counts or the per-class accuracies."""
    for key in ("classes", "train_counts", "per_class_accuracy"):
        value = final.get(key)
        if isinstance(value, list) and value:
            return len(value)
    return None


def _chance_warning(final: dict[str, Any]) -> str:
    """A warning paragraph when balanced accuracy is at or below chance (1/C); else ''."""
    bal, num = final.get("balanced_accuracy"), _num_classes(final)
    if not _is_number(bal) or not math.isfinite(bal) or num is None or num < 2:
        return ""
    chance = chance_level(num)
    if bal > chance + 1e-12:
        return ""
    return (f'<p class="warn">Warning: balanced accuracy {_pct(bal)} is at or below chance ({_pct(chance)} = 1/'
            f"{num} for {num} classes): this model does no better than guessing. Common causes: too few "
            "epochs, a learning rate far too high or too low, or labels that do not match the images.</p>")


def _metric_row(key: str, value: str) -> str:
    return (f'<tr><th>{_esc(METRIC_NAME[key])}</th><td class="num">{value}</td>'
            f'<td class="meaning">{_esc(METRIC_MEANING[key])}</td></tr>')


def _metrics_section(final: dict[str, Any], source: str) -> str:
    rows = [_metric_row(k, _pct(final[k])) for k in ("top1", "balanced_accuracy", "macro_f1") if k in final]
    if "ece" in final:
        rows.append(_metric_row("ece", _num(final["ece"])))
    if not rows:
        return _note(f"{source} holds no top-1 / balanced accuracy / macro-F1.")
    num = _num_classes(final)
    chance = f" Chance level here: {_pct(chance_level(num))} (1/{num})." if num and num > 1 else ""
    return ("<table><tr><th>metric</th><th>value</th><th>what it means</th></tr>" + "".join(rows) + "</table>"
            f'<p class="muted">All on the test set.{chance}</p>')


def _shots_section(final: dict[str, Any]) -> str:
    many_t = final.get("many_threshold", 100)
    few_t = final.get("few_threshold", 20)
    if not (_is_number(many_t) and _is_number(few_t)):
        many_t, few_t = 100, 20
    counts = final.get("train_counts")
    groups = None
    if isinstance(counts, list) and all(_is_number(c) for c in counts):
        try:
            groups = shot_groups(counts, many_t, few_t)
        except ValueError:
            groups = None
    head = "<tr><th>shot group</th><th>training images per class</th><th>classes</th><th>accuracy</th></tr>"
    rows = []
    for g in ("many", "medium", "few"):
        n = _DASH if groups is None else str(len(groups[g]))
        rows.append(f"<tr><th>{_esc(shot_group_name(g))}</th><td>{_esc(shot_group_range(g, many_t, few_t))}</td>"
                    f'<td class="num">{n}</td><td class="num">{_pct(final.get(g))}</td></tr>')
    return (f"<p>{_esc(shot_group_meaning(many_t, few_t))}</p><table>" + head + "".join(rows) + "</table>"
            f'<p class="muted">{_DASH} = no class (or no evaluated sample) in the group.</p>')


def _geometry_section(final: dict[str, Any], source: str) -> str:
    geo = final.get("geometry")
    if not isinstance(geo, dict):
        return _note(f"{source} has no geometry numbers.")
    rows = [_metric_row(k, _num(geo.get(k))) for k in ("FC", "MS", "SD")]
    rows += [f'<tr><th>{_esc(k)}</th><td class="num">{_num(v)}</td><td></td></tr>'
             for k, v in geo.items() if k not in METRIC_MEANING]
    return ("<p>How the backbone's features of the test images are arranged. The method aims at an "
            "equilibrium: each class's features collapse to their mean (FC), the class means are evenly "
            "spread (MS), and the classifier points at them (SD).</p>"
            "<table><tr><th>measure</th><th>value</th><th>what it means</th></tr>" + "".join(rows) + "</table>"
            '<p class="muted">Lower is better for all three; 0 is the ideal arrangement.</p>')


def _per_class_section(final: dict[str, Any]) -> str:
    acc = final.get("per_class_accuracy")
    if not isinstance(acc, list) or not acc:
        return ""
    names = final.get("classes")
    counts = final.get("train_counts")
    rows = []
    for c, a in enumerate(acc):
        name = names[c] if isinstance(names, list) and c < len(names) else c
        n = counts[c] if isinstance(counts, list) and c < len(counts) else _DASH
        rows.append(f'<tr><td class="num">{c}</td><td>{_esc(name)}</td><td class="num">{_esc(n)}</td>'
                    f'<td class="num">{_pct(a)}</td></tr>')
    return ("<details><summary>per-class accuracy "
            f"({len(acc)} classes)</summary><table><tr><th>#</th><th>class</th><th>training images</th>"
            "<th>accuracy</th></tr>" + "".join(rows) + "</table></details>")


def _record_value(key: str, value: Any) -> str:
    """A metrics.jsonl value as text: accuracies (``eval/…``, ``val/…`` except geometry) in %, others as numbers."""
    if not _is_number(value):
        return _esc(value)
    if key.split("/", 1)[0] in ("eval", "val") and key.rsplit("/", 1)[-1] in ("top1", "balanced_accuracy", "macro_f1"):
        return _pct(value)
    return _num(value)


def _records_section(records: list[dict[str, Any]], source: str) -> str:
    if not records:
        return _note(f"{source} holds no records.")
    last = records[-1]
    parts = [f"<p>{len(records)} epoch record(s); the training curves are plotted below.</p>"]
    keys = [k for k in last if k != "epoch" and (_is_number(last[k]) or isinstance(last[k], str))]
    rows = "".join(f'<tr><th>{_esc(record_label(k))}</th><td class="num">{_record_value(k, last[k])}</td></tr>'
                   for k in keys)
    parts.append(f"<p>Last epoch ({_esc(last.get('epoch', len(records)))}):</p><table>" + rows + "</table>")
    # No "best epoch" on the test metrics: that would read as model selection on the test set.
    # The validation split (when a dataset has one) is where a best epoch may be picked.
    vals = [r for r in records if _is_number(r.get("val/balanced_accuracy"))]
    if vals:
        best = max(vals, key=lambda r: r["val/balanced_accuracy"])
        parts.append(f'<p>Best validation balanced accuracy {_pct(best["val/balanced_accuracy"])} at epoch '
                     f'{_esc(best.get("epoch", "?"))} (kept as the best-validation checkpoint).</p>')
    return "".join(parts)


_PREFERRED = list(PLOT_TITLES)


def _plot_order(path: Path) -> tuple[int, str]:
    """make_plots' figures first, in a fixed order, then any other PNG by name."""
    name = path.name
    return (_PREFERRED.index(name) if name in _PREFERRED else len(_PREFERRED), name)


def _image(path: Path, notes: list[str]) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        notes.append(f"{path.parent.name}/{path.name} could not be read ({exc}): skipped.")
        return ""
    b64 = base64.b64encode(data).decode("ascii")
    title = PLOT_TITLES.get(path.name, path.stem.replace("_", " "))
    return (f'<figure><img src="data:image/png;base64,{b64}" alt="{_esc(title)}">'
            f'<figcaption>{_esc(title)} <span class="muted">({_esc(path.name)})</span></figcaption></figure>')


def _pictures(plots_dir: Path, notes: list[str]) -> str:
    pngs = sorted(plots_dir.glob("*.png"), key=_plot_order) if plots_dir.is_dir() else []
    if not plots_dir.is_dir():
        notes.append(f"{plots_dir.name}/ not found: no pictures.")
    elif not pngs:
        notes.append(f"{plots_dir.name}/ holds no PNG file.")
    return "<h2>Plots</h2>" + "".join(_image(p, notes) for p in pngs) if pngs else ""


def _config_text(config: Path, notes: list[str]) -> str:
    if not config.is_file():
        notes.append(f"{config.name} not found: skipped.")
        return ""
    try:
        return f"<h2>Configuration ({_esc(config.name)})</h2><pre>" + _esc(config.read_text(encoding="utf-8")) + "</pre>"
    except (OSError, UnicodeDecodeError) as exc:
        notes.append(f"{config.name} could not be read ({exc}): skipped.")
        return ""


def write_report(out: str | Path, *, final: Path, metrics: Path, config: Path, plots: Path,
                 final_data: dict[str, Any] | None = None, data: Path | None = None) -> Path:
    """Write the page to `out` (atomically) from the given files and return its path.

    `final_data`: final.json's content when the file is not written yet (a run writes it last).
    `data`: the run's data record (image size, recipe); None or missing: those rows come from the
    configuration, or are left out.
    """
    out = Path(out)
    if not out.parent.is_dir():
        raise ValueError(f"the report's folder {str(out.parent)!r} is not a directory")
    notes: list[str] = []
    body: list[str] = []

    results = dict(final_data) if final_data is not None else _read_json(final, notes)
    title = "ecl run report"
    if results is not None:
        bits = [str(results[k]) for k in ("method", "dataset") if k in results]
        if bits:
            title += ": " + " on ".join(bits)
    body.append(f"<h1>{_esc(title)}</h1>")
    body.append(f'<p class="muted">{_esc(out.parent.resolve())} · generated '
                f'{_esc(_dt.datetime.now().strftime("%Y-%m-%d %H:%M"))}</p>')
    notes_at = len(body)

    data_record = _read_json(data, []) if data is not None else None
    body.append(_run_section(results, data_record, _read_yaml(config)))
    if results is not None:
        body.insert(notes_at, _chance_warning(results))
        notes_at += 1
        body.append("<h2>Metrics</h2>" + _metrics_section(results, final.name))
        body.append("<h2>Shot groups</h2>" + _shots_section(results))
        body.append("<h2>Representation geometry</h2>" + _geometry_section(results, final.name))
        body.append(_per_class_section(results))
    records = _read_jsonl(metrics, notes)
    if records is not None:
        body.append("<h2>Training records</h2>" + _records_section(records, metrics.name))
    body.append(_pictures(plots, notes))
    body.append(_config_text(config, notes))

    if notes:
        body.insert(notes_at, "".join(_note(n) for n in notes))
    page = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{_esc(title)}</title><style>{_CSS}</style></head><body>\n"
            + "\n".join(b for b in body if b) + "\n</body></html>\n")
    return atomic_write_text(out, page)
