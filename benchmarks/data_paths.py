"""The three data paths of image files, measured through the project's own loader: views/s per CPU core.

    python benchmarks/data_paths.py [--root runs/data-paths-jpegs] [--images 5000] [--batches 6]
    python benchmarks/data_paths.py --docs-only     # rewrite the docs section from the JSON
    python benchmarks/data_paths.py --smoke --json OUT.json --doc OUT.md   # tiny (tests)

A folder dataset of generated JPEGs (root/train/<class>/*.jpg, root/test/<class>/*.jpg) of mixed
sizes — shorter side 200–600 px, aspect (width:height) 3:4 to 16:9, smooth random content that
compresses like a photo — is written once under ``--root`` with a fixed seed (files already there
are kept: generation resumes; a finished folder of other parameters is refused). Each path is then
built as a run builds it — ``load_config`` → ``build_datasets`` → ``resolve_data_plan`` →
``ecl.data.loading.build_loader`` with the run's ``LoaderSettings`` — at 224 px on the CPU, one
torch thread:

* ``pixels``: ``data.pipeline=tensor data.storage=pixels`` (whole images decoded once, batched views);
* ``encoded``: ``data.pipeline=tensor data.storage=encoded`` (the files' bytes kept, decoded per batch),
  recorded as unavailable when this ecl has no ``data.storage`` key;
* ``pil-w0`` / ``pil-w1``: ``data.pipeline=pil`` with ``train.num_workers`` 0 and 1.

Reported per path: the build time (``build_loader``: for ``pixels`` the decode of every file),
separately from the view rate of a fixed number of training batches after a warm-up; the rate per
core is views per CPU-second of this process and its worker processes over the timed batches
(Linux /proc; elsewhere wall time × 1 core). Each image gives 1 + V views (3 for ECL: the classifier
view and two contrastive views); each view is one forward/backward of the network, so a GPU that
trains R images/s needs R views/s, and ``cores needed = R / (views/s per core)``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from ecl.atomic import atomic_write_json, atomic_write_text  # noqa: E402
from ecl.config import load_config  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
JSON_OUT = RESULTS / "data_paths.json"
DOC = ROOT / "docs" / "RESULTS.md"
SPEED_DOC = RESULTS / "SPEED.md"  # the page's tail that benchmarks/methods.py --docs-only copies in
BEGIN, END = "<!-- data-paths:begin -->", "<!-- data-paths:end -->"
DEFAULT_ROOT = ROOT / "runs" / "data-paths-jpegs"
CLASSES, TEST_PER_CLASS, SIZE, SEED = 10, 4, 224, 0
SHORT_SIDE, ASPECT = (200, 600), (3 / 4, 16 / 9)
#: the GPU rate the core counts are computed for (an assumption, see GPU_RATE_SOURCE)
GPU_RATE = 7_000
GPU_RATE_SOURCE = (
    "assumption derived from MLPerf Training v3.0 (closed division, NVIDIA's Deep Learning Performance "
    "training page): ResNet-50 v1.5 on 8× H100-SXM5-80GB (MXNet, mixed precision, MLPerf-ID 3.0-2053) "
    "trains to 75.9 % top-1 in 13.466 min; at about 35 epochs of ImageNet's 1,281,167 images that is "
    "≈ 6,900 images/s per GPU, rounded to 7,000 and taken for an H200 (same Hopper compute; more memory "
    "bandwidth). The epoch count is assumed, not read off the result; a PyTorch loop is slower.")
PATHS = {  # name → overrides on top of the folder dataset at 224 px, one thread
    "pixels": ["data.pipeline=tensor", "data.storage=pixels", "train.num_workers=0"],
    "encoded": ["data.pipeline=tensor", "data.storage=encoded", "train.num_workers=0"],
    "pil-w0": ["data.pipeline=pil", "train.num_workers=0"],
    "pil-w1": ["data.pipeline=pil", "train.num_workers=1"],
}
SMOKE = dict(images=24, batch_size=4, warmup=1, batches=2, size=32)


# ---------------------------------------------------------------- the JPEG folder


def image_shape(rng: np.random.Generator) -> tuple[int, int]:
    """(height, width): shorter side uniform in SHORT_SIDE, width:height log-uniform in ASPECT."""
    short = int(rng.integers(SHORT_SIDE[0], SHORT_SIDE[1] + 1))
    ratio = float(np.exp(rng.uniform(np.log(ASPECT[0]), np.log(ASPECT[1]))))
    return (short, round(short * ratio)) if ratio >= 1 else (round(short / ratio), short)


def smooth_image(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """(height, width, 3) uint8: two octaves of bicubically enlarged random grids plus faint grain —
    smooth regions and some detail, so JPEG sizes resemble photographs' (not white noise)."""
    from PIL import Image

    out = np.zeros((height, width, 3), np.float32)
    for cells, weight in ((6, 0.75), (40, 0.25)):
        grid = rng.integers(0, 256, (max(2, height * cells // max(height, width)), cells, 3), dtype=np.uint8)
        big = Image.fromarray(grid).resize((width, height), Image.BICUBIC)
        out += weight * np.asarray(big, np.float32)
    out += rng.normal(0.0, 3.0, out.shape).astype(np.float32)
    return np.clip(out, 0, 255).astype(np.uint8)


def generate_folder(root: Path, images: int, seed: int = SEED, classes: int = CLASSES,
                    test_per_class: int = TEST_PER_CLASS) -> dict[str, Any]:
    """Write the folder (resumable: files already there are kept; image i depends only on (seed, i)).
    A finished folder (its ``generated.json``) of the same parameters is returned as is; of other
    parameters: ValueError naming the file."""
    params = dict(images=images, seed=seed, classes=classes, test_per_class=test_per_class,
                  short_side=list(SHORT_SIDE), aspect=[round(a, 4) for a in ASPECT])
    marker = root / "generated.json"
    if marker.is_file():
        done = json.loads(marker.read_text(encoding="utf-8"))
        if done.get("params") != params:
            raise ValueError(f"{marker}: a folder generated with {done.get('params')}, not {params}; pass another --root")
        return done
    from PIL import Image

    start, bytes_total = time.perf_counter(), 0
    jobs = [("train", i) for i in range(images)] + [("test", i) for i in range(classes * test_per_class)]
    for split, i in jobs:
        path = root / split / f"class{i % classes:02d}" / f"{i:06d}.jpg"
        if not path.is_file():
            rng = np.random.default_rng([seed, 0 if split == "train" else 1, i])
            path.parent.mkdir(parents=True, exist_ok=True)
            part = path.with_suffix(".part")
            Image.fromarray(smooth_image(rng, *image_shape(rng))).save(part, format="JPEG", quality=90)
            part.replace(path)
        bytes_total += path.stat().st_size
    record = dict(params=params, train_images=images, test_images=classes * test_per_class,
                  mean_kib=round(bytes_total / len(jobs) / 1024, 1), seconds=round(time.perf_counter() - start, 1))
    atomic_write_json(marker, record)
    return record


# ---------------------------------------------------------------- measurement


def storage_key_exists() -> bool:
    """Whether this ecl knows ``data.storage`` (the encoded path): every key is in ``KEY_HELP``."""
    from ecl.config import KEY_HELP

    return "data.storage" in KEY_HELP


def _cpu_seconds() -> float | None:
    """CPU seconds (user + system) of this process and its live child processes (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    me, total = os.getpid(), 0.0
    try:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(entry.name) == me or int(fields[1]) == me:  # fields[1]: the parent pid
                total += (int(fields[11]) + int(fields[12])) / tick
    except OSError:
        return None
    return total


def _run_parts(root: Path, path: str, batch_size: int, size: int, cache: Path,
               storage_key: bool) -> tuple[Any, Any, Any]:
    """(config, bundle, plan) of ``path`` on the folder, as a run resolves them (without a
    ``data.storage`` key, ``pixels`` is the tensor path as this ecl stores files)."""
    from ecl.data import build_datasets
    from ecl.data.plan import resolve_data_plan

    config = load_config(None, ["data.name=folder", f"data.root={root}", f"data.image_size={size}",
                                f"data.cache_dir={cache}", "data.verify_images=false", "train.device=cpu",
                                "train.threads=1", f"train.batch_size={batch_size}", "train.progress=false",
                                *[o for o in PATHS[path] if storage_key or not o.startswith("data.storage=")]])
    bundle = build_datasets(config.data)
    return config, bundle, resolve_data_plan(config, bundle, torch.device("cpu"))


def _take(epoch: Any, batches: int) -> int:
    """Views in the first ``batches`` batches of an epoch's loader (the tensor path is told to make
    views for those steps only, so a timed epoch's view chunks are exactly its timed steps)."""
    if hasattr(epoch, "steps"):
        epoch.steps = min(epoch.steps, batches)
    views, it = 0, iter(epoch)
    for _ in range(batches):
        images, _labels = next(it)
        views += images.shape[0]
    return views


def measure_path(root: Path, path: str, batch_size: int, warmup: int, batches: int, size: int,
                 cache: Path, storage_key: bool = True) -> dict[str, Any]:
    """Build seconds, then views/s and views per CPU-second over ``batches`` batches after ``warmup``."""
    from ecl.data.loading import LoaderSettings, build_loader

    config, bundle, plan = _run_parts(root, path, batch_size, size, cache, storage_key)
    settings = LoaderSettings(seed=config.seed, batch_size=batch_size, eval_batch_size=config.eval.batch_size,
                              num_workers=config.train.num_workers,
                              num_contrastive_views=int(config.data.contrastive_views), cache_dir=str(cache))
    start = time.perf_counter()
    loader = build_loader(plan, bundle, settings, torch.device("cpu"))
    build_s = time.perf_counter() - start
    start = time.perf_counter()
    _take(loader.train_epoch(0), warmup)  # worker start-up, first chunk of views, caches
    warmup_s = time.perf_counter() - start
    cpu0, start = _cpu_seconds(), time.perf_counter()
    views = _take(loader.train_epoch(1), batches)  # timed from the epoch's start: its chunks are these steps
    wall, cpu1 = time.perf_counter() - start, _cpu_seconds()
    cpu = (cpu1 - cpu0) if cpu0 is not None and cpu1 is not None else None
    del loader
    return dict(pipeline=plan.pipeline, storage=getattr(plan, "storage", None), reason=plan.pipeline_reason,
                train_images=len(bundle.train), build_s=round(build_s, 2), warmup_batches=warmup,
                warmup_s=round(warmup_s, 2), batches=batches, batch_size=batch_size,
                views_per_image=1 + int(config.data.contrastive_views), views=views, seconds=round(wall, 3),
                cpu_seconds=None if cpu is None else round(cpu, 3), views_per_s=round(views / wall, 1),
                views_per_core_s=round(views / (cpu if cpu else wall), 1))


def run_all(root: Path, args: argparse.Namespace, size: int) -> dict[str, Any]:
    """{path: row, or {"unavailable": why}, or {"error": …}} for every path of PATHS."""
    known = storage_key_exists()
    rows: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="ecl-data-paths-") as tmp:
        for path in PATHS:
            if path == "encoded" and not known:
                rows[path] = {"unavailable": "data.storage unknown"}
                continue
            try:
                rows[path] = measure_path(root, path, args.batch_size, args.warmup, args.batches, size,
                                          Path(tmp) / path, storage_key=known)
            except Exception as error:  # one path failing must not lose the others' figures
                rows[path] = {"error": f"{type(error).__name__}: {error}"}
            print(f"[data-paths] {path}: {json.dumps(rows[path])}", file=sys.stderr, flush=True)
    return rows


def cores_needed(rows: dict[str, Any], rate: float = GPU_RATE) -> dict[str, float | None]:
    """CPU cores each measured path needs to deliver ``rate`` views/s (None: not measured)."""
    return {p: (round(rate / r["views_per_core_s"], 1) if r.get("views_per_core_s") else None) for p, r in rows.items()}


# ---------------------------------------------------------------- outputs


def _row_line(name: str, r: dict[str, Any], cores: float | None) -> str:
    if "views_per_s" not in r:
        return f"| {name} | — | — | — | — | — | {r.get('unavailable') or r.get('error')} |"
    cpu = "—" if r["cpu_seconds"] is None else f"{r['cpu_seconds']:.2f}"
    return (f"| {name} | {r['build_s']:.1f} | {r['views_per_s']:.0f} | {cpu} | {r['views_per_core_s']:.0f} | "
            f"{cores:,.0f} | {r['pipeline']}{', ' + r['storage'] if r.get('storage') else ''} |")


def section(report: dict[str, Any], json_rel: str) -> str:
    """The generated page section (markdown between the markers) for ``report``."""
    gen, cores = report["folder"], report["cores_needed"]
    lines = [BEGIN, "## Data paths: views per second per CPU core on image files", "",
             f"_Generated by `python benchmarks/data_paths.py` (`--docs-only` regenerates it from `{json_rel}`)._ "
             f"Command: `{report['command']}`; {report['device_name']}, {report['cpu_count']} CPU core(s) on the "
             f"machine, {report['threads']} torch thread, torch {report['torch']}, {report['date']}.", "",
             f"Folder: {gen['train_images']:,} generated training JPEGs (+ {gen['test_images']} test), shorter side "
             f"{SHORT_SIDE[0]}–{SHORT_SIDE[1]} px, width:height 3:4 to 16:9, smooth random content (mean "
             f"{gen['mean_kib']} KiB a file), views at {report['image_size']} px. Each path is built through "
             "`ecl.data.loading.build_loader` with the run's DataPlan; build = `build_loader` (the pixels path "
             "decodes every file then, into an empty cache); then "
             f"{report['warmup']} warm-up batch(es) and {report['batches']} timed batches of {report['batch_size']} "
             f"images × {report['views_per_image']} views. The timed batches cover {report['timed_share']} of an "
             "epoch (the rate per core does not need every image). Per core = views ÷ CPU-seconds of the process "
             "and its DataLoader workers over the timed batches.", "",
             "| path | build s | views/s | CPU s | views/s per core | cores for the GPU rate | data path |",
             "| --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    lines += [_row_line(name, r, cores.get(name)) for name, r in report["paths"].items()]
    lines += ["", f"Cores for the GPU rate: {report['gpu_rate']:,} views/s ÷ views/s per core. The rate: "
              f"{report['gpu_rate_source']} Each view is one forward/backward of the network, and ECL makes "
              f"{report['views_per_image']} views of every image, so that rate is "
              f"{report['gpu_rate'] / report['views_per_image']:,.0f} images/s of the training set.", "",
              "Reading it: every path here makes its views on the CPU (`train.device=cpu`), so the table compares "
              "the CPU cost of each path's work. On a GPU run the tensor path makes its views on the device (and "
              "`encoded` decodes there, nvJPEG on CUDA), so its host-CPU need is far below its column; the "
              "per-image path does all of it on the host, so its column is what a GPU run needs in DataLoader "
              "workers. `pil-w1` also pays for moving the float32 views from the worker to the main process. "
              "CPU seconds on a shared machine are noisy: repeat the run to see the spread.", "",
              f"Raw results: `{json_rel}`.", END]
    return "\n".join(lines) + "\n"


def place(page: str, text: str) -> str:
    """``page`` with ``text`` between its markers (replaced), else right after the scale-curves
    section (where ``benchmarks/methods.py --docs-only`` puts SPEED.md's tail), else appended."""
    from scale_curves import END as AFTER

    if BEGIN in page and END in page:
        head, rest = page.split(BEGIN, 1)
        return head + text.rstrip("\n") + rest.split(END, 1)[1]
    if AFTER in page:
        head, tail = page.split(AFTER, 1)
        return head + AFTER + "\n\n" + text.rstrip("\n") + tail
    return page.rstrip("\n") + ("\n\n" if page else "") + text


def write_docs(report: dict[str, Any], doc: Path, speed_doc: Path | None, json_path: Path) -> None:
    """The section into ``doc`` (and into ``speed_doc``, the page tail methods.py copies in)."""
    rel = json_path.resolve()
    json_rel = rel.relative_to(ROOT).as_posix() if rel.is_relative_to(ROOT) else json_path.name
    text = section(report, json_rel)
    for path in (doc, speed_doc):
        if path is not None:
            atomic_write_text(path, place(path.read_text(encoding="utf-8") if path.is_file() else "", text))


def _measure(args: argparse.Namespace, argv: list[str] | None) -> dict[str, Any]:
    torch.set_num_threads(1)
    images = SMOKE["images"] if args.smoke else args.images
    if args.smoke:
        args.batch_size, args.warmup, args.batches = SMOKE["batch_size"], SMOKE["warmup"], SMOKE["batches"]
    size = SMOKE["size"] if args.smoke else SIZE
    root = Path(args.root)
    folder = generate_folder(root, images)
    print(f"[data-paths] folder {root}: {json.dumps(folder)}", file=sys.stderr, flush=True)
    rows = run_all(root, args, size)
    views = next((r["views_per_image"] for r in rows.values() if "views_per_image" in r), 3)
    shown = sys.argv[1:] if argv is None else argv
    return dict(command=shlex.join(["python", "benchmarks/data_paths.py", *shown]),
                date=datetime.date.today().isoformat(), smoke=args.smoke, device="cpu",
                device_name=f"CPU ({platform.processor() or platform.machine()})", cpu_count=os.cpu_count(),
                threads=torch.get_num_threads(), torch=torch.__version__.split("+")[0], image_size=size,
                folder=folder, batch_size=args.batch_size, warmup=args.warmup, batches=args.batches,
                views_per_image=views, timed_share=f"{args.batches * args.batch_size:,} of {images:,} images",
                paths=rows, gpu_rate=GPU_RATE, gpu_rate_source=GPU_RATE_SOURCE, cores_needed=cores_needed(rows))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=str(DEFAULT_ROOT), help="the generated JPEG folder (made once, resumable)")
    parser.add_argument("--images", type=int, default=5000, help="training images to generate")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=2, help="batches before the timed ones")
    parser.add_argument("--batches", type=int, default=6, help="timed batches per path")
    parser.add_argument("--smoke", action="store_true", help=f"tiny: {SMOKE} (tests)")
    parser.add_argument("--docs-only", action="store_true", help="only rewrite the docs from --json")
    parser.add_argument("--json", default=str(JSON_OUT), help="raw results (written, or read with --docs-only)")
    parser.add_argument("--doc", default=str(DOC))
    parser.add_argument("--speed-doc", default=str(SPEED_DOC), help="'' to skip")
    args = parser.parse_args(argv)
    json_path = Path(args.json)
    if args.docs_only:
        report = json.loads(json_path.read_text(encoding="utf-8"))
    else:
        report = _measure(args, argv)
        atomic_write_json(json_path, report)
    write_docs(report, Path(args.doc), Path(args.speed_doc) if args.speed_doc else None, json_path)
    print(json.dumps({k: report[k] for k in ("cores_needed",)}), file=sys.stderr)
    return 0 if all("error" not in r for r in report["paths"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
