"""Issue 14, "as a user finds it": the same seed gives the same result everywhere, own images get
sensible defaults, progress is honest, failed starts leave nothing behind, clear interruption and
error messages, pretrained/local backbone weights, readable comparison plots, complete ONNX metadata."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from conftest import FAST

ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}


def _ecl(*args: str, timeout: float = 300, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ecl", *args], capture_output=True, text=True,
                          timeout=timeout, env=ENV, cwd=cwd)


def _ecl_in_terminal(*args: str, timeout: float = 300) -> tuple[int, str]:
    """Run `ecl` with stdout and stderr on a pseudo-terminal; (exit code, everything it printed)."""
    master, slave = os.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "ecl", *args], stdin=subprocess.DEVNULL, stdout=slave,
                            stderr=slave, env=ENV, close_fds=True)
    os.close(slave)
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        code = proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
        reader.join(timeout=10)
        os.close(master)
    return code, b"".join(chunks).decode("utf-8", "replace")


# -- 1. same seed → same result with and without a terminal, with 0 and 2 loader workers ------------

@pytest.mark.slow
def test_final_json_is_identical_with_and_without_a_terminal_and_workers(tmp_path: Path) -> None:
    base = ["train", "train.epochs=2", "eval.plots=false", "eval.report=false", "train.threads=1",
            "train.progress=true", "data.pipeline=pil"]  # the per-image path: the one with loader workers
    finals = {}
    for workers in (0, 2):
        plain = tmp_path / f"plain{workers}"
        done = _ecl(*base, f"train.num_workers={workers}", f"out={plain}")
        assert done.returncode == 0, done.stderr
        assert "epoch 1/2 total=" in done.stderr and "epoch 2/2 total=" in done.stderr  # one line per epoch
        finals[("plain", workers)] = json.loads((plain / "final.json").read_text())
        term = tmp_path / f"tty{workers}"
        code, text = _ecl_in_terminal(*base, f"train.num_workers={workers}", f"out={term}")
        assert code == 0, text
        for line in ("epoch 1/2 total=", "epoch 2/2 total=", "time estimate: ~"):
            assert line in text, text  # printed beside the bar (tqdm.write / after it closed), not erased
        finals[("tty", workers)] = json.loads((term / "final.json").read_text())
    reference = finals[("plain", 0)]
    for key, final in finals.items():
        assert final == reference, f"{key} differs from a redirected run with 0 workers"


# -- helpers: a small folder of own images --------------------------------------------------------

def _folder(root: Path, sizes: list[tuple[int, int]], per_class: int = 8, classes=("cat", "dog")) -> Path:
    """train/<class>/ and test/<class>/ images of the given (w, h) sizes (cycled), seeded pixels."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    k = 0
    for split, n in (("train", per_class), ("test", 2)):
        for name in classes:
            (root / split / name).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                w, h = sizes[k % len(sizes)]
                k += 1
                pixels = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / split / name / f"{i}.png")
    return root


def _folder_config(root: Path, out: Path | None = None, *extra: str):
    from ecl.config import load_config

    args = ["data.name=folder", f"data.root={root}", "train.epochs=1", "train.batch_size=8",
            "eval.batch_size=8", *FAST, *extra]
    if out is not None:
        args.append(f"out={out}")
    return load_config(None, args)


def _context(config):
    from ecl.data import build_datasets
    from ecl.engine.training.context import build_run

    return build_run(config, build_datasets(config.data))


# -- 2. own images use their own size; the start-up lines say so --------------------------------------

def test_own_images_default_to_their_median_size_and_bcl_views(tmp_path: Path) -> None:
    from ecl.data import build_datasets

    root = _folder(tmp_path / "imgs", [(28, 28), (28, 40), (30, 28), (26, 50), (28, 28)])
    bundle = build_datasets(_folder_config(root).data)
    shorter = sorted([28, 28, 28, 26, 28] * 4)  # the cycle over 20 train + 4 test images, train only
    assert bundle.image_size == 28 and shorter[len(shorter) // 2] == 28
    assert bundle.recipe == "bcl"  # ≤ 64 px: the bcl recipe
    assert bundle.size_reason == "median shorter side of the training images"
    big = _folder(tmp_path / "big", [(120, 90)], per_class=2)
    bundle = build_datasets(_folder_config(big).data)
    assert bundle.image_size == 90 and bundle.recipe == "authors"  # > 64 px: the authors' recipe
    fixed = build_datasets(_folder_config(root, None, "data.image_size=40").data)
    assert fixed.image_size == 40 and fixed.size_reason == ""


def test_startup_lines_name_size_recipe_backbone_steps_and_warn(tmp_path: Path) -> None:
    from ecl.engine.training.run_folder import RunFolder
    from ecl.engine.training.announce import startup_lines

    root = _folder(tmp_path / "imgs", [(28, 28)])
    lines = startup_lines(_context(_folder_config(root)), RunFolder(tmp_path / "run"))
    assert lines[1] == ("image size 28 px (median shorter side of the training images), recipe bcl (the dataset's "
                        "default for 28 px images), backbone small_cnn, 2 steps per epoch")  # 16 train images / batch 8
    assert not any(line.startswith("warning") for line in lines)
    lines = startup_lines(_context(_folder_config(root, None, "data.image_size=64", "train.precision=bf16")),
                          RunFolder(tmp_path / "run"))
    assert any("upsamples the images (median shorter side 28 px) 2.3×" in line for line in lines)
    assert any("bf16 on the CPU is about 4× slower than fp32" in line for line in lines)


@pytest.mark.slow
def test_training_prints_startup_estimate_and_one_line_per_epoch(tmp_path: Path) -> None:
    """… and config.yaml holds the values used (a number for the image size, a concrete data path,
    recipe, flip and device), with what was requested beside them."""
    import yaml

    from ecl.engine.commands.train import train

    root = _folder(tmp_path / "imgs", [(28, 28)])
    lines: list[str] = []
    train(_folder_config(root, tmp_path / "run", "train.epochs=2", "train.progress=true"), log=lines.append)
    assert any(line.startswith("image size 28 px (median shorter side of the training images)") for line in lines)
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert saved["data"]["image_size"] == 28 and saved["data"]["pipeline"] in ("tensor", "pil")
    assert (saved["data"]["recipe"], saved["data"]["flip"]) == ("bcl", True) and saved["train"]["device"] != "auto"
    assert saved["requested"]["data.image_size"] is None and saved["requested"]["data.pipeline"] == "auto"
    assert saved["processes"] == {"world_size": 1}
    assert sum(line.startswith("time estimate: ~") for line in lines) == 1
    assert [line.split()[1] for line in lines if line.startswith("epoch ")] == ["1/2", "2/2"]


# -- 3. progress lines inside an epoch when the output is not a terminal --------------------------------

def test_plain_progress_line_every_interval_with_a_fake_clock() -> None:
    import torch

    from ecl.engine.training.progress import EpochProgress

    ticks = iter(float(t) for t in range(0, 1000, 7))  # every clock reading is 7 s later
    loader = [(torch.zeros(4, 3, 2, 2), torch.zeros(4, dtype=torch.long)) for _ in range(12)]
    lines: list[str] = []
    progress = EpochProgress(loader, epoch=0, epochs=3, log=lines.append, interval=30.0,
                             clock=lambda: next(ticks), estimate=True)
    assert len(list(progress)) == 12
    # clock: start 0, step k at 7k s; the estimate after the first 5 s (step 1); a line when ≥ 30 s passed
    assert lines[0] == "time estimate: ~1m24s per epoch, ~4m12s for the 3 epoch(s) to go (from the first 1 steps)"
    steps = [line for line in lines[1:]]
    assert steps == ["epoch 1/3 step 5/12, 1 img/s, eta 49s", "epoch 1/3 step 10/12, 1 img/s, eta 14s"]


# -- 4. a failed start leaves no folder behind --------------------------------------------------------

def _main(capsys, *argv: str) -> tuple[int, str]:
    from ecl.cli import main

    code = main(list(argv))
    return code, capsys.readouterr().err


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.mark.slow
def test_failed_starts_create_no_folder_and_the_fix_then_works(tmp_path: Path, capsys) -> None:
    import torch

    root = _folder(tmp_path / "imgs", [(28, 28)], per_class=4)
    out = tmp_path / "out"
    common = ["data.name=folder", "train.epochs=1", "train.batch_size=4", *FAST, f"out={out}"]
    code, err = _main(capsys, "train", *common, f"data.root={tmp_path / 'nope'}")
    assert code == 2 and "data.root" in _one_error_line(err) and not out.exists()

    (root / "train.csv").write_text("path,label\ntrain/cat/0.png,cat\ntrain/dog/missing.png,dog\n")
    (root / "test.csv").write_text("path,label\ntest/cat/0.png,cat\ntest/dog/0.png,dog\n")
    code, err = _main(capsys, "train", *common[1:], "data.name=csv", f"data.root={root}",
                      "data.train_csv=train.csv", "data.test_csv=test.csv")
    assert code == 2 and not out.exists()  # every problem in one message (the dog class then has no image)
    assert err.startswith("error: 3 problems found in csv:\n") and "train.csv line 3: image file not found" in err
    assert "missing.png" in err and "class 1 (dog) has no training image" in err

    if not torch.cuda.is_available():
        code, err = _main(capsys, "train", *common, f"data.root={root}", "train.device=cuda")
        assert code == 2 and "CUDA is not available" in _one_error_line(err) and not out.exists()

    code, err = _main(capsys, "train", *common, f"data.root={root}")
    assert code == 0, err
    assert (out / "final.json").is_file()


def test_a_failed_start_keeps_a_users_existing_empty_folder(tmp_path: Path, capsys) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    code, err = _main(capsys, "train", "data.name=folder", f"data.root={tmp_path / 'nope'}", *FAST, f"out={out}")
    assert code == 2 and out.is_dir() and list(out.iterdir()) == []


# -- 5. interruption messages; final.json is written last ---------------------------------------------

def test_ctrl_c_in_epoch_1_says_resume_starts_again(tmp_path: Path, capsys, monkeypatch) -> None:
    import signal

    from ecl.engine.training import loop

    original = loop.train_one_epoch

    def interrupted(ctx, loader, epoch, control):
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C: StopFlag's handler sets the flag
        return original(ctx, loader, epoch, control)

    monkeypatch.setattr(loop, "train_one_epoch", interrupted)
    out = tmp_path / "run"
    code, err = _main(capsys, "train", "train.epochs=2", *FAST, f"out={out}")
    assert code == 128 + signal.SIGINT
    assert "before the first checkpoint" in err and f"--resume {out}` starts the run again from epoch 1" in err
    assert "nothing to resume" not in err  # --resume does train it (tests/test_reliability.py checks how)
    assert "holds epoch 0" not in err and not (out / "checkpoints" / "last.pt").exists()


@pytest.mark.slow
def test_ctrl_c_during_the_final_plots_leaves_no_final_json_and_resume_finishes(tmp_path: Path,
                                                                                   monkeypatch) -> None:
    from ecl.config import load_config
    from ecl.engine.training import results
    from ecl.engine.commands.train import train

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    out = tmp_path / "run"
    config = load_config(None, ["train.epochs=1", "train.progress=false", "train.threads=1", f"out={out}"])
    monkeypatch.setattr(results, "_plots", ctrl_c)
    from ecl.engine.training.loop import TrainingInterrupted

    with pytest.raises(TrainingInterrupted, match=r"during the final evaluation, plots or report.*--resume"):
        train(config, log=lambda text: None)
    assert (out / "checkpoints" / "last.pt").is_file()
    assert not (out / "final.json").exists() and not (out / "report.html").exists()
    monkeypatch.undo()
    final = train(resume=out, log=lambda text: None)
    assert json.loads((out / "final.json").read_text()) == final
    assert (out / "plots" / "training_curves.png").is_file() and (out / "report.html").is_file()


def test_ecl_report_warns_when_the_plots_are_missing(run_copy: Path, capsys) -> None:
    assert not (run_copy / "plots").exists()  # the shared run was trained with eval.plots=false
    code, err = _main(capsys, "report", str(run_copy))
    assert code == 0 and "warning:" in err and "holds no plots" in err
    assert (run_copy / "report.html").is_file()


# -- 6. backbone weights: a file the test writes --------------------------------------------------------

def test_timm_backbone_starts_from_the_given_weights_file(tmp_path: Path, capsys) -> None:
    import torch

    from ecl.config import load_config
    from ecl.engine.training.run_folder import RunFolder
    from ecl.engine.training.announce import startup_lines
    from ecl.models.registry import build_backbone

    torch.manual_seed(123)
    source = build_backbone("timm:resnet18")
    weights = tmp_path / "weights.pt"
    torch.save(source.state_dict(), weights)
    args = ["model.backbone=timm:resnet18", f"model.weights={weights}", "train.epochs=1", *FAST]
    ctx = _context(load_config(None, args))
    got = ctx.network.backbone.state_dict()
    for key, value in source.state_dict().items():
        assert torch.equal(got[key], value), key
    lines = startup_lines(ctx, RunFolder(tmp_path / "run"))
    assert any(line.startswith(f"loaded {len(source.state_dict())} backbone tensors from {weights}") for line in lines)
    assert any("starts from pretrained weights (ImageNet statistics)" in line for line in lines)  # digits stats

    from ecl.data import build_datasets
    from ecl.engine.training.context import build_run

    config = load_config(None, args)
    resumed = build_run(config, build_datasets(config.data), pretrained_download=False)  # a resume: no weights read
    conv = next(k for k in source.state_dict() if k.endswith("weight"))
    assert not torch.equal(resumed.network.backbone.state_dict()[conv], source.state_dict()[conv])

    out = tmp_path / "out"
    code, err = _main(capsys, "train", *args[:1], f"model.weights={tmp_path / 'missing.pt'}", *FAST, f"out={out}")
    assert code == 2 and "model.weights" in _one_error_line(err) and not out.exists()


# -- 7. --epochs-style flags ------------------------------------------------------------------------

@pytest.mark.parametrize("argv", [["--epochs", "3"], ["--epochs=3"]])
def test_flag_style_settings_get_a_did_you_mean(argv: list[str], capsys) -> None:
    from ecl.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["train", *argv])
    assert exit_.value.code == 2
    assert "did you mean train.epochs=3?" in capsys.readouterr().err


# -- 8. the comparison plot --------------------------------------------------------------------------

def _summary(seeds: int):
    from ecl.evaluation import comparison

    finals = {m: [{"top1": 0.5 + 0.01 * s, "balanced_accuracy": 0.5, "macro_f1": 0.5, "many": 0.95 - 0.01 * s,
                   "medium": 0.6 + 0.02 * i, "few": 0.3 + 0.05 * i, "geometry": {"FC": 1.0, "MS": 0.1, "SD": 0.5}}
                  for s in range(seeds)] for i, m in enumerate(["ce", "la", "bcl", "ecl"])}
    return comparison.summarize(finals)


@pytest.mark.parametrize("seeds", [1, 3])
def test_comparison_legend_is_outside_the_bars(seeds: int) -> None:
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from ecl.evaluation.comparison import shot_group_figure

    fig = shot_group_figure(_summary(seeds))
    try:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        ax = fig.axes[0]
        legend = ax.get_legend().get_window_extent(renderer)
        bars = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_height() > 0]
        assert len(bars) == 4 * 3
        for bar in bars:
            box = bar.get_window_extent(renderer)
            overlap = (min(box.x1, legend.x1) > max(box.x0, legend.x0)
                       and min(box.y1, legend.y1) > max(box.y0, legend.y0))
            assert not overlap, (bar, legend)
        texts = [t.get_text() for t in fig.findobj(lambda o: hasattr(o, "get_text"))]
        if seeds == 1:
            assert not any("±" in t for t in texts) and any("1 seed" in t for t in texts)
        else:
            assert any("± std over 3 seeds" in t for t in texts)
    finally:
        plt.close(fig)


def test_comparison_table_with_one_seed_shows_means_only() -> None:
    from ecl.evaluation.comparison import format_table

    table = format_table(_summary(1), seeds=[0])
    assert "±" not in table.split("## Paired")[0].split("\n\n", 1)[1] and "1 seed" in table
    assert "50.00 ± 0.00" not in table


# -- 9. ONNX metadata is enough to preprocess an image like `ecl predict` ------------------------------

def _own_preprocessing(path: Path, description: dict):
    """An independent implementation from the metadata alone: PIL shorter side → resize (bilinear),
    centre crop, /255, (x − mean)/std, (1, 3, crop, crop)."""
    import numpy as np
    from PIL import Image

    img = Image.open(path).convert("RGB")
    w, h = img.size
    resize, crop = description["resize"], description["crop"]
    assert description["mode"] == f"resize_shorter_then_center_crop({resize}→{crop})"
    if (w, h) != (crop, crop):
        if w <= h:
            size = (resize, int(resize * h / w))
        else:
            size = (int(resize * w / h), resize)
        img = img.resize(size, Image.BILINEAR)
        w, h = img.size
        top, left = int(round((h - crop) / 2)), int(round((w - crop) / 2))
        img = img.crop((left, top, left + crop, top + crop))
    x = np.asarray(img, dtype=np.float32) / 255.0
    x = (x - np.array(description["mean"], np.float32)) / np.array(description["std"], np.float32)
    return x.transpose(2, 0, 1)[None].astype(np.float32)


def test_onnx_metadata_preprocessing_matches_ecl_predict(run_copy: Path, tmp_path: Path, capsys) -> None:
    import numpy as np
    import onnx
    import onnxruntime
    from PIL import Image

    onnx_file = tmp_path / "model.onnx"
    code, err = _main(capsys, "export", str(run_copy), "--format", "onnx", "--output", str(onnx_file))
    assert code == 0, err
    meta = {p.key: p.value for p in onnx.load(str(onnx_file)).metadata_props}
    description = json.loads(meta["preprocessing"])
    assert {"recipe", "size", "resize", "crop", "mode", "mean", "std"} <= set(description)
    image = tmp_path / "wide.png"
    pixels = np.random.default_rng(1).integers(0, 256, size=(60, 90, 3), dtype=np.uint8)  # 90×60
    Image.fromarray(pixels).save(image)
    session = onnxruntime.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    logits = session.run(None, {session.get_inputs()[0].name: _own_preprocessing(image, description)})[0][0]
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    from ecl.engine.commands.predict import predict_images

    classes = json.loads((run_copy / "data.json").read_text())["classes"]
    top = predict_images(str(run_copy), [str(image)], top_k=len(classes))[0]["top_k"]
    for entry in top:
        assert abs(entry["probability"] - float(probs[entry["index"]])) < 1e-4, entry


# -- 10. smaller ones ------------------------------------------------------------------------------------

def test_semi_transparent_images_are_composited_on_white_with_a_note(tmp_path: Path) -> None:
    import numpy as np
    from PIL import Image

    from ecl.data import build_datasets, decode_image

    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 64  # red 200 at alpha 64/255
    path = tmp_path / "t.png"
    Image.fromarray(rgba, "RGBA").save(path)
    got = np.asarray(decode_image(path))
    a = 64 / 255
    expected = [200 * a + 255 * (1 - a), 255 * (1 - a), 255 * (1 - a)]  # over white
    assert np.abs(got[0, 0].astype(float) - expected).max() <= 1.0

    root = _folder(tmp_path / "imgs", [(28, 28)], per_class=2)
    Image.fromarray(np.dstack([np.zeros((28, 28, 3), np.uint8), np.full((28, 28), 128, np.uint8)]),
                    "RGBA").save(root / "train" / "cat" / "0.png")
    notes = build_datasets(_folder_config(root).data).notes
    assert sum("composited on a white background" in n for n in notes) == 1


def test_readme_library_snippet_runs_to_the_loss() -> None:
    import re

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    code = next(b for b in blocks if "BCECLLoss" in b)
    assert "loss.backward()" in code and "(B, V, d_z)" in code
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["z"].shape == (8, 2, namespace["out"].projections.shape[1])
    assert namespace["loss"].ndim == 0 and bool(namespace["loss"].isfinite())


def test_epoch_line_labels_test_and_validation_accuracy_apart() -> None:
    from ecl.engine.training.loop import epoch_line

    record = {"epoch": 3, "loss/total": 0.25, "eval/top1": 0.75, "eval/balanced_accuracy": 0.7523,
              "val/balanced_accuracy": 0.761, "seconds": 9.4}
    line = epoch_line(record, 3)
    assert line == "epoch 3/3 total=0.2500 top1=0.7500 balanced_accuracy=0.7523 val_balanced_accuracy=0.7610 (9.4s)"
