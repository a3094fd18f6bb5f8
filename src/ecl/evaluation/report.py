"""A single self-contained HTML report of a run folder.

``write_report(out, final=, metrics=, config=, plots=)`` reads the files it is given (the run
folder names them: ``ecl.engine.run_folder``); all are optional: a missing or unreadable file gives
a note in the page, never an exception:

* ``config``   the resolved configuration, shown verbatim;
* ``final``    the final evaluation (JSON): metrics table, shot groups, geometry, per-class accuracy;
* ``metrics``  one JSON object per line (training records), summarised;
* ``plots``    a folder whose ``*.png`` pictures are embedded as base64 data URIs.

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


def _run_section(final: dict[str, Any]) -> str:
    keys = [("method", "method"), ("dataset", "dataset"), ("epochs", "epochs"), ("seed", "seed")]
    rows = [f"<tr><th>{_esc(label)}</th><td>{_esc(final[k])}</td></tr>" for k, label in keys if k in final]
    return "<table>" + "".join(rows) + "</table>" if rows else ""


def _metrics_section(final: dict[str, Any], source: str) -> str:
    rows = []
    for key, label in [("top1", "top-1 accuracy"), ("balanced_accuracy", "balanced accuracy (mean per-class recall)"),
                       ("macro_f1", "macro-F1")]:
        if key in final:
            rows.append(f'<tr><th>{_esc(label)}</th><td class="num">{_pct(final[key])}</td></tr>')
    if "ece" in final:
        rows.append(f'<tr><th>expected calibration error</th><td class="num">{_num(final["ece"])}</td></tr>')
    if not rows:
        return _note(f"{source} holds no top-1 / balanced accuracy / macro-F1.")
    return "<table>" + "".join(rows) + "</table>"


def _shots_section(final: dict[str, Any]) -> str:
    many_t = final.get("many_threshold", 100)
    few_t = final.get("few_threshold", 20)
    counts = final.get("train_counts")
    groups = None
    if isinstance(counts, list) and all(_is_number(c) for c in counts) and _is_number(many_t) and _is_number(few_t):
        try:
            groups = shot_groups(counts, many_t, few_t)
        except ValueError:
            groups = None
    head = "<tr><th>group</th><th>training images</th><th>classes</th><th>accuracy</th></tr>"
    ranges = {"many": f"&gt; {_esc(many_t)}", "medium": f"{_esc(few_t)}–{_esc(many_t)}", "few": f"&lt; {_esc(few_t)}"}
    rows = []
    for g in ("many", "medium", "few"):
        n = _DASH if groups is None else str(len(groups[g]))
        rows.append(f'<tr><th>{g}</th><td>{ranges[g]}</td><td class="num">{n}</td>'
                    f'<td class="num">{_pct(final.get(g))}</td></tr>')
    return ("<table>" + head + "".join(rows) + "</table>"
            '<p class="muted">Group accuracy = mean of the per-class accuracies of its classes; '
            f"{_DASH} = no class (or no evaluated sample) in the group.</p>")


def _geometry_section(final: dict[str, Any], source: str) -> str:
    geo = final.get("geometry")
    if not isinstance(geo, dict):
        return _note(f"{source} has no geometry numbers.")
    labels = {"FC": "feature collapse Tr(Σ_W Σ_B^†)/C", "MS": "mean spacing (0 = regular simplex)",
              "SD": "self-duality ‖W/‖W‖ − M/‖M‖‖"}
    rows = [f'<tr><th>{_esc(k)}</th><td>{_esc(labels.get(k, ""))}</td><td class="num">{_num(geo.get(k))}</td></tr>'
            for k in ("FC", "MS", "SD")]
    rows += [f'<tr><th>{_esc(k)}</th><td></td><td class="num">{_num(v)}</td></tr>'
             for k, v in geo.items() if k not in labels]
    return "<table>" + "".join(rows) + '</table><p class="muted">Lower is better for all three.</p>'


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


def _records_section(records: list[dict[str, Any]], source: str) -> str:
    if not records:
        return _note(f"{source} holds no records.")
    last = records[-1]
    parts = [f'<p>{len(records)} record(s).</p>']
    keys = [k for k in last if _is_number(last[k]) or isinstance(last[k], str)]
    rows = "".join(f'<tr><th>{_esc(k)}</th><td class="num">{_num(last[k]) if _is_number(last[k]) else _esc(last[k])}'
                   "</td></tr>" for k in keys)
    parts.append("<p>Last record:</p><table>" + rows + "</table>")
    # No "best epoch" on the test metrics: that would read as model selection on the test set.
    # The validation split (when a dataset has one) is where a best epoch may be picked.
    vals = [r for r in records if _is_number(r.get("val/balanced_accuracy"))]
    if vals:
        best = max(vals, key=lambda r: r["val/balanced_accuracy"])
        parts.append(f'<p>Best validation balanced accuracy {_pct(best["val/balanced_accuracy"])} at epoch '
                     f'{_esc(best.get("epoch", "?"))} (kept as the best-validation checkpoint).</p>')
    return "".join(parts)


_PREFERRED = ["per_class_accuracy.png", "confusion_matrix.png", "feature_geometry.png", "training_curves.png"]


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
    caption = path.stem.replace("_", " ")
    return (f'<figure><img src="data:image/png;base64,{b64}" alt="{_esc(caption)}">'
            f"<figcaption>{_esc(path.name)}</figcaption></figure>")


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
                 final_data: dict[str, Any] | None = None) -> Path:
    """Write the page to `out` (atomically) from the given files and return its path.

    `final_data`: final.json's content when the file is not written yet (a run writes it last).
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

    if results is not None:
        body.append("<h2>Run</h2>" + _run_section(results))
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
