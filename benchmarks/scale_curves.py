"""Scale of the training objective: forward+backward time and memory against classes C and batch B.

    python benchmarks/scale_curves.py [--device cpu|cuda] [--threads N] [--cell-seconds 10]
    python benchmarks/scale_curves.py --docs-only     # rewrite the docs section from the JSON
    python benchmarks/scale_curves.py --smoke --json OUT.json --plot OUT.png --doc OUT.md

For every C ∈ {10, 100, 1000, 8142 (iNaturalist 2018)} and global batch B ∈ {64, 256, 1024} at
d_z = d = 2048, the objective of each method (``ecl``: LC + BC-ECL + CC-GE; ``bcl`` and ``supcon`` for
reference) is built as the engine builds it (``ecl.engine.training.context.build_objective``) and called on
random inputs of the engine's shapes: logits (B, C), projections (B, 2, d_z), prototypes (C, d_z),
classifier weights (C, d). Each cell reports the median time of interleaved repeats (the methods
alternate) and the peak memory of one forward+backward (CPU: the bytes of tensor storage alive at
once beyond the inputs, tracked op by op with a dispatch mode, backward included; CUDA:
``torch.cuda.max_memory_allocated``), both divided by B·(B+C), the size of the contrastive logits.
The memory figures are exact and are the primary evidence; CPU timings on shared cores are noisy.

Claim checked: the objective grows no worse than O(B·(B+C)). Memory = a·B·(B+C) + b·(B+C)·d (the
logits, and the copies/gradients of projections, prototypes and classifier rows), so its bytes per
B·(B+C) unit (≈ a + b·d/B) must not grow when B or C grows; the script exits non-zero when a step
along either axis grows it by more than TOLERANCE, after writing its results.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from ecl.atomic import atomic_write_json, atomic_write_text  # noqa: E402
from ecl.config import load_config  # noqa: E402
from ecl.engine.training.context import build_objective  # noqa: E402
from ecl.losses import CCGELoss  # noqa: E402
from loss_speed import _peak_memory, _times_interleaved  # noqa: E402

CLASSES = (10, 100, 1000, 8142)
BATCHES = (64, 256, 1024)
DIM = 2048
METHODS = ("ecl", "bcl", "supcon")
#: the methods whose memory per B·(B+C) unit is checked (the claim is about the ecl objective; SupCon
#: has no C term, so its bytes per unit rise with B towards its B² cost: reported, not checked)
CHECKED = ("ecl",)
SMOKE = dict(classes=(3, 7), batches=(4, 8), dim=16)
#: a step along B or C may raise the memory per B·(B+C) unit by at most this fraction
TOLERANCE = 0.10
RESULTS = ROOT / "benchmarks" / "results"
JSON_OUT = RESULTS / "scale_curves.json"
PLOT_OUT = RESULTS / "scale_curves.png"
DOC = ROOT / "docs" / "RESULTS.md"
SPEED_DOC = RESULTS / "SPEED.md"  # the page's tail that benchmarks/methods.py --docs-only copies in
BEGIN, END = "<!-- scale-curves:begin -->", "<!-- scale-curves:end -->"


# ---------------------------------------------------------------- measurement


def _inputs(b: int, c: int, d: int, device: torch.device, seed: int = 0) -> dict[str, torch.Tensor]:
    """The objective's arguments at the engine's shapes (leaf tensors where the model gives grads)."""
    g = torch.Generator().manual_seed(seed)
    made = dict(
        logits=torch.randn(b, c, generator=g),
        labels=torch.randint(0, c, (b,), generator=g),
        projections=F.normalize(torch.randn(b, 2, d, generator=g), dim=-1),
        prototypes=F.normalize(torch.randn(c, d, generator=g), dim=-1),
        classifier_weight=torch.randn(c, d, generator=g) / math.sqrt(d),
    )
    return {k: v.to(device).requires_grad_(k != "labels") for k, v in made.items()}


def _objective_fn(method: str, c: int, inputs: dict[str, torch.Tensor], device: torch.device) -> Callable:
    """forward → scalar total loss of ``method`` on ``inputs``, with long-tailed class counts (IF 100)."""
    counts = [max(1, round(1000 * 0.01 ** (k / max(1, c - 1)))) for k in range(c)]
    objective = build_objective(load_config(None, [f"loss.method={method}"]), counts).to(device)
    return lambda: objective(**inputs).total


def _timed_rounds(fns: dict[str, Callable], inputs, device: torch.device, budget_s: float,
                  cap: int) -> dict[str, list[float]]:
    """Seconds per method over interleaved rounds: one round, then as many more as fit what is left
    of ``budget_s`` (counted from this call), at most ``cap`` rounds in all."""
    start = time.perf_counter()
    times = _times_interleaved(fns, inputs, device, repeats=1, warmup=0)
    round_s = time.perf_counter() - start
    more = min(cap - 1, int((budget_s - round_s) / max(round_s, 1e-9)))
    if more > 0:
        for k, v in _times_interleaved(fns, inputs, device, repeats=more, warmup=0).items():
            times[k] += v
    return times


def measure_cell(b: int, c: int, d: int, methods: Sequence[str], device: torch.device,
                 budget_s: float, cap: int) -> list[dict[str, Any]]:
    """One (B, C) cell: a row per method with median seconds and peak bytes of forward+backward;
    the memory pass and the timing rounds share ``budget_s`` (at least one timed round)."""
    inputs = _inputs(b, c, d, device)
    grads = [t for t in inputs.values() if t.requires_grad]
    fns = {m: _objective_fn(m, c, inputs, device) for m in methods}
    start = time.perf_counter()
    peak = {m: _peak_memory(fn, grads, device) for m, fn in fns.items()}  # also the warm-up
    times = _timed_rounds(fns, grads, device, budget_s - (time.perf_counter() - start), cap)
    units = b * (b + c)
    return [dict(method=m, B=b, C=c, d=d, units=units, repeats=len(times[m]), seconds=statistics.median(times[m]),
                 seconds_all=times[m], peak_bytes=peak[m], bytes_per_unit=peak[m] / units,
                 ns_per_unit=1e9 * statistics.median(times[m]) / units) for m in methods]


def measure_ccge(c: int, d: int, device: torch.device, rounds: int = 3) -> dict[str, Any]:
    """CC-GE alone (the only (C, d)-sized work of the ecl objective beyond BCL's): peak bytes, in
    float32 (C, d) buffers too, and median seconds of forward+backward."""
    inputs = _inputs(1, c, d, device)
    weight, prototypes = inputs["classifier_weight"], inputs["prototypes"]
    loss = CCGELoss()
    fn = lambda: loss(weight, prototypes)  # noqa: E731
    peak = _peak_memory(fn, (weight, prototypes), device)
    seconds = statistics.median(_times_interleaved({"ccge": fn}, (weight, prototypes), device, rounds, 0)["ccge"])
    return dict(C=c, d=d, peak_bytes=peak, buffers=peak / (4 * c * d), seconds=seconds)


def run_grid(classes: Sequence[int], batches: Sequence[int], d: int, methods: Sequence[str],
             device: torch.device, budget_s: float, cap: int) -> list[dict[str, Any]]:
    rows = []
    for c in classes:
        for b in batches:
            start = time.perf_counter()
            rows += measure_cell(b, c, d, methods, device, budget_s, cap)
            print(f"[scale] B={b} C={c}: {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return rows


# ---------------------------------------------------------------- analysis


def loglog_slope(x: Sequence[float], y: Sequence[float]) -> float:
    """Least-squares slope of log y against log x (both > 0, at least two distinct x)."""
    lx, ly = [math.log(v) for v in x], [math.log(v) for v in y]
    mx, my = statistics.fmean(lx), statistics.fmean(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly)) / sum((a - mx) ** 2 for a in lx)


def growth_violations(rows: Sequence[dict[str, Any]], tolerance: float, key: str = "bytes_per_unit",
                      methods: Sequence[str] | None = None, axes: Sequence[str] = ("B", "C")) -> list[str]:
    """Steps along B (C fixed) and/or along C (B fixed) (``axes``), per method, where ``key`` grew by
    more than ``tolerance`` (a fraction): one line each; empty when the per-unit cost never grows."""
    cell = {(r["method"], r["B"], r["C"]): r[key] for r in rows}
    methods = sorted({r["method"] for r in rows}) if methods is None else list(methods)
    bs, cs = sorted({r["B"] for r in rows}), sorted({r["C"] for r in rows})
    steps = [((b0, c), (b1, c)) for c in cs for b0, b1 in zip(bs, bs[1:])] if "B" in axes else []
    steps += [((b, c0), (b, c1)) for b in bs for c0, c1 in zip(cs, cs[1:])] if "C" in axes else []
    out = []
    for m in methods:
        for (b0, c0), (b1, c1) in steps:
            before, after = cell.get((m, b0, c0)), cell.get((m, b1, c1))
            if before is not None and after is not None and after > (1 + tolerance) * before:
                out.append(f"{m}: {key} {before:.4g} at B={b0}, C={c0} → {after:.4g} at B={b1}, C={c1} "
                           f"(+{100 * (after / before - 1):.0f} % > {100 * tolerance:.0f} %)")
    return out


def summarise(rows: Sequence[dict[str, Any]], tolerance: float) -> dict[str, Any]:
    """Per method: log-log slopes of seconds and peak bytes against B·(B+C). The check, for the
    :data:`CHECKED` methods: the memory slope is at most 1 + ``tolerance`` and no step along B raises
    the bytes per unit by more than ``tolerance``. Steps along C that raise it are listed apart
    (``rises_along_c``): there the (C, d) terms replace (B, d) terms of another coefficient."""
    slopes = {}
    for m in sorted({r["method"] for r in rows}, key=lambda k: METHODS.index(k) if k in METHODS else 99):
        mine = [r for r in rows if r["method"] == m]
        units = [r["units"] for r in mine]
        slopes[m] = dict(time=loglog_slope(units, [r["seconds"] for r in mine]),
                         memory=loglog_slope(units, [r["peak_bytes"] for r in mine]))
    checked = [m for m in CHECKED if m in slopes]
    violations = [f"{m}: memory slope {slopes[m]['memory']:.3f} > 1 + {tolerance:g}" for m in checked
                  if slopes[m]["memory"] > 1 + tolerance]
    violations += growth_violations(rows, tolerance, methods=checked, axes=("B",))
    return dict(slopes=slopes, tolerance=tolerance, checked=checked, memory_check_passed=not violations,
                violations=violations, rises_along_c=growth_violations(rows, 0.0, methods=checked, axes=("C",)))


# ---------------------------------------------------------------- outputs


def plot(report: dict[str, Any], out: Path) -> None:
    """Two log-log panels (seconds, peak MiB against B·(B+C)): one marker per C, one colour per method."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = report["rows"]
    markers = dict(zip(sorted({r["C"] for r in rows}), "osD^vP*X"))
    colours = dict(zip(report["methods"], ("tab:red", "tab:blue", "tab:green", "tab:purple")))
    fig = Figure(figsize=(10, 4.2))
    FigureCanvasAgg(fig)
    for ax, key, scale, label in zip(fig.subplots(1, 2), ("seconds", "peak_bytes"), (1.0, 2.0 ** -20),
                                     ("forward+backward seconds (median)", "peak memory (MiB)")):
        for m in report["methods"]:
            for c, marker in markers.items():
                mine = sorted((r for r in rows if r["method"] == m and r["C"] == c), key=lambda r: r["units"])
                ax.plot([r["units"] for r in mine], [scale * r[key] for r in mine], marker=marker,
                        color=colours[m], linestyle="-", linewidth=0.8, markersize=5,
                        label=f"{m}, C={c}" if key == "seconds" else None)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("B·(B+C)")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    fig.legend(loc="center right", fontsize=7, frameon=False)
    fig.suptitle(f"objective forward+backward, d = {report['d']}, {report['device_name']}, "
                 f"{report['threads']} thread(s), fp32", fontsize=9)
    fig.subplots_adjust(right=0.83, wspace=0.28)
    fig.savefig(out, dpi=110, metadata={"Software": None})


def _fmt_bytes(n: float) -> str:
    return f"{n / 2**20:.1f}"


def section(report: dict[str, Any], plot_rel: str, json_rel: str) -> str:
    """The generated page section (markdown between the markers) for ``report``."""
    s, methods = report["summary"], report["methods"]
    head = "| C | B | B·(B+C) | " + " | ".join(f"{m} ms | {m} MiB | {m} B/unit" for m in methods) + " |"
    lines = [BEGIN, "## Scale: the objective against classes and batch", "",
             f"_Generated by `python benchmarks/scale_curves.py` (`--docs-only` regenerates it from "
             f"`{json_rel}`)._ Command: `{report['command']}`; {report['device_name']}, torch "
             f"{report['torch']}, {report['threads']} thread(s), fp32, {report['date']}.", "",
             f"Forward+backward of the training objective as the engine builds it (`ecl`: LC + BC-ECL + CC-GE; "
             f"`bcl` and `supcon` for reference) on logits (B, C), projections (B, 2, d_z), prototypes (C, d_z) "
             f"and classifier rows (C, d), d_z = d = {report['d']}. ms: median of the interleaved rounds "
             f"(the methods alternate; timings on shared cores are noisy). MiB: {report['memory_kind']} "
             "(exact; the primary evidence). B/unit: peak bytes ÷ B·(B+C).", "",
             head, "| " + " | ".join(["---:"] * (3 + 3 * len(methods))) + " |"]
    cell = {(r["method"], r["B"], r["C"]): r for r in report["rows"]}
    for c in sorted({r["C"] for r in report["rows"]}):
        for b in sorted({r["B"] for r in report["rows"]}):
            parts = [f"{1e3 * cell[m, b, c]['seconds']:.1f} | {_fmt_bytes(cell[m, b, c]['peak_bytes'])} | "
                     f"{cell[m, b, c]['bytes_per_unit']:.1f}" for m in methods]
            lines.append(f"| {c} | {b} | {b * (b + c):,} | " + " | ".join(parts) + " |")
    rounds = sorted({r["repeats"] for r in report["rows"]})
    lines += ["", f"Timed rounds per cell: {rounds[0]} to {rounds[-1]} (as many as fit the cell's time budget; "
              "the cell's memory pass is its warm-up).", "",
              "Log-log slope against B·(B+C) (least squares over all cells; 1 = linear): "
              + "; ".join(f"{m} time {v['time']:.2f}, memory {v['memory']:.2f}" for m, v in s["slopes"].items())
              + ".", ""]
    verdict = ("**passed**" if s["memory_check_passed"] else "**failed**: " + "; ".join(s["violations"]))
    tol = f"{100 * s['tolerance']:.0f} %"
    rises = "; ".join(v.split(" (+")[0].replace("bytes_per_unit ", "") for v in s["rises_along_c"]) or "none"
    lines += [f"Check (asserted by the script, for {', '.join(s['checked'])}): the memory slope against "
              f"B·(B+C) is at most 1 + {s['tolerance']:g}, and no step along B raises the peak bytes per "
              f"B·(B+C) unit by more than {tol} — {verdict}.", "",
              "Reading it: peak memory is about a·B·(B+C) (the (2B)×(2B+C) logits and their gradient) plus "
              "(b·B + c·C)·d (copies and gradients of the projections, prototypes and classifier rows), so the "
              "bytes per unit, a + (b·B + c·C)·d / (B·(B+C)), fall as B grows (d/B shrinks) and a slope below 1 "
              "is expected on this grid. Along C at a fixed B they move from a + b·d/B towards a + c·d/B and then "
              "stay: a bounded change, not growth, so these steps are listed rather than checked. Steps along C "
              f"that raise them here: {rises}.", "",
              *_ccge_note(report),
              f"![objective time and memory against B·(B+C)]({plot_rel})", "",
              f"Raw results: `{json_rel}`.", END]
    return "\n".join(lines) + "\n"


def _ccge_note(report: dict[str, Any]) -> list[str]:
    """The line on what CC-GE adds to the ecl objective at the largest C (empty without it)."""
    alone = report.get("ccge_alone")
    if not alone:
        return []
    return [f"The (C, d) work ecl adds to bcl is CC-GE's: alone, at C = {alone['C']:,} and d = {alone['d']}, "
            f"its forward+backward peaks at {_fmt_bytes(alone['peak_bytes'])} MiB ({alone['buffers']:.1f} float32 "
            "(C, d) buffers: the two normalised matrices, their difference and the gradients) and takes "
            f"{1e3 * alone['seconds']:.0f} ms; it does not depend on B. A closed form "
            "(‖W/‖W‖ − P/‖P‖‖² = 2 − 2⟨W, P⟩/(‖W‖·‖P‖)) would need no (C, d) temporaries beyond the two "
            "gradients (it cancels when W ∝ P, so it needs care there; not changed here).", ""]


def write_section(path: Path, text: str) -> None:
    """Replace the marked section of ``path`` with ``text`` (append it when the markers are absent)."""
    page = path.read_text(encoding="utf-8") if path.is_file() else ""
    if BEGIN in page and END in page:
        head, rest = page.split(BEGIN, 1)
        page = head + text.rstrip("\n") + rest.split(END, 1)[1]
    else:
        page = page.rstrip("\n") + ("\n\n" if page else "") + text
    atomic_write_text(path, page)


def write_docs(report: dict[str, Any], doc: Path, speed_doc: Path | None, plot_path: Path, json_path: Path) -> None:
    """The section into ``doc`` (and into ``speed_doc``, the page tail methods.py copies in)."""
    def in_repo(p: Path) -> Path | None:
        return p.resolve().relative_to(ROOT) if p.resolve().is_relative_to(ROOT) else None

    page_dir = in_repo(doc.parent)  # the plot link is relative to the page (a file outside: its name)
    plot = in_repo(plot_path)
    plot_rel = (Path(*[".."] * len(page_dir.parts), plot).as_posix() if page_dir is not None and plot is not None
                else plot_path.name)
    json_rel = in_repo(json_path).as_posix() if in_repo(json_path) is not None else json_path.name
    text = section(report, plot_rel, json_rel)
    for path in (doc, speed_doc):
        if path is not None:
            write_section(path, text)


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.processor() or platform.machine()})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch.set_num_threads on the CPU (default 1: a 2-thread team on shared cores waits "
                             "for a busy core and the timings become noise)")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--cell-seconds", type=float, default=8.0,
                        help="time budget of a cell (memory pass + timing rounds; one timed round at least)")
    parser.add_argument("--max-rounds", type=int, default=7)
    parser.add_argument("--tolerance", type=float, default=TOLERANCE)
    parser.add_argument("--smoke", action="store_true", help=f"a tiny grid {SMOKE} (tests)")
    parser.add_argument("--docs-only", action="store_true", help="only rewrite the plot and the docs from --json")
    parser.add_argument("--json", default=str(JSON_OUT), help="raw results (written, or read with --docs-only)")
    parser.add_argument("--plot", default=str(PLOT_OUT))
    parser.add_argument("--doc", default=str(DOC))
    parser.add_argument("--speed-doc", default=str(SPEED_DOC), help="'' to skip")
    args = parser.parse_args(argv)
    json_path, plot_path = Path(args.json), Path(args.plot)
    if args.docs_only:
        report = json.loads(json_path.read_text(encoding="utf-8"))
    else:
        report = _measure(args, argv)
        atomic_write_json(json_path, report)
    plot(report, plot_path)
    write_docs(report, Path(args.doc), Path(args.speed_doc) if args.speed_doc else None, plot_path, json_path)
    s = report["summary"]
    print(json.dumps(s["slopes"]), file=sys.stderr)
    if not s["memory_check_passed"] and not report["smoke"]:  # tiny shapes: fixed overheads dominate
        print("[scale] memory per B·(B+C) unit grew:\n  " + "\n  ".join(s["violations"]), file=sys.stderr)
        return 1
    return 0


def _measure(args: argparse.Namespace, argv: list[str] | None) -> dict[str, Any]:
    device = torch.device(args.device)
    if args.threads and device.type == "cpu":
        torch.set_num_threads(args.threads)
    grid = SMOKE if args.smoke else dict(classes=CLASSES, batches=BATCHES, dim=DIM)
    methods = [m for m in args.methods.split(",") if m]
    rows = run_grid(grid["classes"], grid["batches"], grid["dim"], methods, device, args.cell_seconds, args.max_rounds)
    shown = [a for a in (sys.argv[1:] if argv is None else argv)]
    return dict(
        command=shlex.join(["python", "benchmarks/scale_curves.py", *shown]), date=datetime.date.today().isoformat(),
        device=str(device), device_name=_device_name(device), torch=torch.__version__.split("+")[0],
        threads=torch.get_num_threads(), dtype="float32", d=grid["dim"], methods=methods, smoke=args.smoke,
        memory_kind=("peak allocated (torch.cuda.max_memory_allocated)" if device.type == "cuda" else
                     "peak bytes of tensor storage alive at once during forward+backward, beyond the inputs "
                     "(a dispatch mode tracks each storage from the op that made it until it is freed)"),
        rows=rows, summary=summarise(rows, args.tolerance),
        ccge_alone=measure_ccge(max(grid["classes"]), grid["dim"], device) if "ecl" in methods else None)


if __name__ == "__main__":
    sys.exit(main())
