"""`ecl evaluate | predict | export` through ecl.cli.main on a real 1-epoch run (CPU)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ecl.cli import main
from ecl.data import build_eval_transform, load_rgb
from ecl.engine.training.checkpoint import open_checkpoint


@pytest.fixture()
def run_dir(trained_run: Path) -> Path:
    """The session's shared 1-epoch run (read only; see conftest.py)."""
    return trained_run


@pytest.fixture()
def images(tmp_path) -> list[Path]:
    """Five PNGs (8×8 / 16×16, grey / RGB), one in a nested folder."""
    rng = np.random.default_rng(3)
    folder = tmp_path / "imgs"
    (folder / "nested" / "deeper").mkdir(parents=True)
    specs = [("g8.png", (8, 8)), ("rgb8.png", (8, 8, 3)), ("g16.png", (16, 16)),
             ("rgb16.png", (16, 16, 3)), ("nested/deeper/x.png", (16, 16, 3))]
    paths = []
    for name, shape in specs:
        path = folder / name
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(path)
        paths.append(path)
    return sorted(paths)


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# --- predict ----------------------------------------------------------------------------------------

def test_predict_folder_text_and_json(run_dir, images, capsys):
    folder = images[0].parent
    code, out, err = _run(capsys, "predict", str(run_dir), str(folder), "--top-k", "3")
    assert code == 0, err
    blocks = out.strip().split("\n\n")
    assert [b.splitlines()[0] for b in blocks] == [str(p) for p in images]
    assert all(len(b.splitlines()) == 4 for b in blocks)

    code, out, err = _run(capsys, "predict", str(run_dir), str(folder), "--top-k", "3", "--json")
    assert code == 0, err
    predictions = json.loads(out)
    assert [p["path"] for p in predictions] == [str(p) for p in images]
    for item in predictions:
        probs = [e["probability"] for e in item["top_k"]]
        assert len(probs) == 3
        assert all(probs[i] >= probs[i + 1] for i in range(len(probs) - 1))
        assert all(0.0 <= p <= 1.0 for p in probs)
        assert sum(probs) <= 1.0 + 1e-12
        assert len({e["index"] for e in item["top_k"]}) == 3


def test_predict_missing_file_exit_2(run_dir, images, tmp_path, capsys):
    missing = tmp_path / "nowhere" / "missing.png"
    code, out, err = _run(capsys, "predict", str(run_dir), str(images[0]), str(missing))
    assert code == 2
    assert out == ""
    assert err.startswith("error: ") and str(missing) in err
    assert "Traceback" not in err


def _truncated_jpeg(path: Path) -> Path:
    """A JPEG cut in half: its header reads, its pixels cannot be decoded."""
    rng = np.random.default_rng(5)
    Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(path, quality=95)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _softmax_rows(run_dir: Path, paths: list[Path]) -> list[list[float]]:
    """Softmax of the network's logits, by hand (float64), one row per image."""
    _, logits = _eval_batch(run_dir, paths)
    out = []
    for row in logits.double().tolist():
        exp = [math.exp(v - max(row)) for v in row]
        out.append([e / sum(exp) for e in exp])
    return out


def test_predict_csv_keeps_going_past_an_unreadable_image(run_dir, images, tmp_path, capsys):
    folder = images[0].parent
    bad = _truncated_jpeg(folder / "cut.jpg")
    out_csv = tmp_path / "out.csv"
    code, out, err = _run(capsys, "predict", str(run_dir), str(folder), "--csv", str(out_csv), "--json")
    assert code == 1, err
    assert "1 of 6 images could not be read" in err and "Traceback" not in err
    with out_csv.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    classes = [str(c) for c in open_checkpoint(str(run_dir))[2]["classes"]]
    assert list(rows[0]) == ["path", "class", "probability", *[f"prob_{c}" for c in classes], "error"]
    assert sorted(r["path"] for r in rows) == sorted(str(p) for p in [*images, bad])
    by_path = {r["path"]: r for r in rows}
    broken = by_path[str(bad)]
    assert broken["class"] == "" and broken["probability"] == "" and "truncated" in broken["error"].lower()
    assert all(broken[f"prob_{c}"] == "" for c in classes)
    expected = _softmax_rows(run_dir, images)
    for path, probs in zip(images, expected):
        row = by_path[str(path)]
        best = max(range(len(probs)), key=lambda c: probs[c])
        assert row["error"] == "" and row["class"] == str(classes[best])
        assert abs(float(row["probability"]) - probs[best]) < 1e-5
        assert all(abs(float(row[f"prob_{c}"]) - q) < 1e-5 for c, q in zip(classes, probs))
    entries = {e["path"]: e for e in json.loads(out)}  # --json carries the same fields
    assert entries[str(bad)]["error"] == broken["error"] and entries[str(bad)]["class"] is None
    for path in images:
        entry, row = entries[str(path)], by_path[str(path)]
        assert entry["error"] is None and entry["class"] == row["class"]
        assert [entry["probabilities"][str(c)] for c in classes] == [float(row[f"prob_{c}"]) for c in classes]


def test_predict_csv_never_overwrites(run_dir, images, tmp_path, capsys):
    out_csv = tmp_path / "out.csv"
    out_csv.write_text("mine\n")
    code, out, err = _run(capsys, "predict", str(run_dir), str(images[0]), "--csv", str(out_csv))
    assert code == 2 and out == "" and str(out_csv) in err and "overwrite" in err
    assert out_csv.read_text() == "mine\n"


def test_predict_all_readable_exit_0_with_csv(run_dir, images, tmp_path, capsys):
    out_csv = tmp_path / "sub" / "all.csv"
    code, _, err = _run(capsys, "predict", str(run_dir), str(images[0]), "--csv", str(out_csv))
    assert code == 0, err
    rows = list(csv.DictReader(out_csv.open(newline="")))
    assert len(rows) == 1 and rows[0]["error"] == ""
    probs = [float(v) for k, v in rows[0].items() if k.startswith("prob_")]
    assert abs(sum(probs) - 1.0) < 1e-9 and max(probs) == float(rows[0]["probability"])


def test_predict_bad_top_k_exit_2(run_dir, images, capsys):
    code, _, err = _run(capsys, "predict", str(run_dir), str(images[0]), "--top-k", "0")
    assert code == 2 and "--top-k" in err and "Traceback" not in err


# --- export -----------------------------------------------------------------------------------------

def _eval_batch(run_dir: Path, images: list[Path]) -> tuple[torch.Tensor, torch.Tensor]:
    """(eval views (N,3,S,S), PyTorch logits (N,C)) of `images`."""
    network, _, state = open_checkpoint(str(run_dir))[:3]
    data = state["data"]
    transform = build_eval_transform(data["image_size"], data["recipe"], data["mean"], data["std"])
    batch = torch.stack([transform(load_rgb(p)) for p in images])
    with torch.no_grad():
        logits = network(batch).logits
    return batch, logits


def test_export_onnx_matches_pytorch(run_dir, images, tmp_path, capsys):
    import onnx
    import onnxruntime as ort

    target = tmp_path / "model.onnx"
    code, out, err = _run(capsys, "export", str(run_dir), "--format", "onnx", "--output", str(target))
    assert code == 0, err
    assert out.strip() == f"wrote {target}"
    batch, expected = _eval_batch(run_dir, images)
    session = ort.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    (got,) = session.run(["logits"], {"images": batch.numpy()})
    assert got.shape == tuple(expected.shape)
    assert np.abs(got - expected.numpy()).max() < 1e-4
    meta = {p.key: p.value for p in onnx.load(str(target)).metadata_props}
    assert json.loads(meta["class_names"]) == [str(i) for i in range(10)]
    assert json.loads(meta["preprocess"])["image_size"] == batch.shape[-1]


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")
def test_export_torchscript_matches_pytorch(run_dir, images, tmp_path, capsys):
    target = tmp_path / "model.ts.pt"
    code, _, err = _run(capsys, "export", str(run_dir), "--format", "torchscript", "--output", str(target))
    assert code == 0, err
    batch, expected = _eval_batch(run_dir, images)
    files = {"metadata.json": ""}
    module = torch.jit.load(str(target), map_location="cpu", _extra_files=files)
    with torch.no_grad():
        got = module(batch)
    assert (got - expected).abs().max().item() < 1e-4
    assert "preprocess" in json.loads(files["metadata.json"])


def test_export_safetensors_default_path_and_predict(run_copy, images, capsys):
    run_dir = run_copy  # the export is written into the run folder
    code, out, err = _run(capsys, "export", str(run_dir), "--format", "safetensors")
    assert code == 0, err
    target = run_dir / "export" / "model.safetensors"
    assert out.strip() == f"wrote {target}" and target.is_file()
    folder = str(images[0].parent)
    _, from_export, _ = _run(capsys, "predict", str(target), folder, "--json", "--top-k", "5")
    _, from_checkpoint, _ = _run(capsys, "predict", str(run_dir), folder, "--json", "--top-k", "5")
    a, b = json.loads(from_export), json.loads(from_checkpoint)
    assert len(a) == len(images)
    for x, y in zip(a, b):
        assert x["path"] == y["path"]
        assert [e["class"] for e in x["top_k"]] == [e["class"] for e in y["top_k"]]
        assert max(abs(e["probability"] - f["probability"]) for e, f in zip(x["top_k"], y["top_k"])) < 1e-6
    # a second export to the same place is refused
    code, _, err = _run(capsys, "export", str(run_dir), "--format", "safetensors")
    assert code == 2 and str(target) in err and "Traceback" not in err


# --- evaluate ---------------------------------------------------------------------------------------

def test_evaluate_json_and_table(run_dir, capsys):
    final = json.loads((run_dir / "final.json").read_text())
    code, out, err = _run(capsys, "evaluate", str(run_dir), "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["top1"] == final["top1"]
    assert result["per_class_accuracy"] == final["per_class_accuracy"]
    code, out, err = _run(capsys, "evaluate", str(run_dir))
    assert code == 0 and "top-1" in out and "balanced accuracy" in out


@pytest.mark.parametrize("kind", ["random", "empty", "truncated", "text"])
def test_evaluate_garbage_checkpoint_exit_2(run_dir, tmp_path, capsys, kind):
    path = tmp_path / f"{kind}.pt"
    if kind == "random":
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        data = (run_dir / "checkpoints" / "last.pt").read_bytes()
        path.write_bytes(data[: len(data) // 2])
    else:
        path.write_text("model: not a checkpoint\n")
    code, out, err = _run(capsys, "evaluate", str(path))
    assert code == 2
    assert out == ""
    assert f"not a valid ecl checkpoint: {path}: " in err
    assert "Traceback" not in err


def test_evaluate_non_data_override_exit_2(run_dir, capsys):
    code, _, err = _run(capsys, "evaluate", str(run_dir), "loss.method=ce")
    assert code == 2 and "loss.method=ce" in err and "Traceback" not in err


def test_evaluate_other_class_count_exit_2(run_dir, tmp_path, capsys):
    rng = np.random.default_rng(5)
    root = tmp_path / "three"
    for split in ("train", "test"):
        for name in ("a", "b", "c"):
            (root / split / name).mkdir(parents=True)
            for i in range(2):
                Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(root / split / name / f"{i}.png")
    code, _, err = _run(capsys, "evaluate", str(run_dir), "data.name=folder", f"data.root={root}",
                        "data.image_size=16")
    assert code == 2
    assert "(10) differ from the data's ['a', 'b', 'c'] (3" in err and "Traceback" not in err


# --- version and presets ----------------------------------------------------------------------------

def test_version_and_presets(capsys):
    import ecl
    from ecl.config import PRESET_DIR

    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0 and capsys.readouterr().out.strip() == f"ecl {ecl.__version__}"
    code, out, err = _run(capsys, "presets")
    assert code == 0, err
    names = [line.split()[0] for line in out.splitlines()]
    assert names == sorted(p.stem for p in PRESET_DIR.glob("*.yaml")) and "digits_lt" in names
    first = (PRESET_DIR / "digits_lt.yaml").read_text().splitlines()[0].lstrip("# ").strip()
    assert any(line.split(None, 1)[1] == first for line in out.splitlines() if line.startswith("digits_lt "))
