"""ecl.engine.commands.evaluate / predict / export: evaluate / predict / export a real (tiny, 1-epoch) run, CPU only."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ecl.config import ConfigError
from ecl.data import DataError, build_eval_transform, load_rgb
from ecl.engine.training.checkpoint import CheckpointError, load_checkpoint, open_checkpoint
from ecl.engine.commands.evaluate import evaluate_checkpoint
from ecl.engine.commands.export import default_export_path, export_checkpoint
from ecl.engine.commands.predict import collect_images, format_predictions, predict_images
from ecl.engine.training.run_folder import RunFolderError


@pytest.fixture()
def run_dir(trained_run: Path) -> Path:
    """The session's shared 1-epoch run (read only; see conftest.py)."""
    return trained_run


def _write_pngs(folder: Path) -> list[Path]:
    """Four small images: 8×8 and 16×16, grey and RGB, one in a subfolder."""
    rng = np.random.default_rng(0)
    (folder / "sub").mkdir(parents=True, exist_ok=True)
    paths = [folder / "a_grey8.png", folder / "b_rgb16.png", folder / "sub" / "c_rgb8.png", folder / "d_grey16.png"]
    Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8), mode="L").save(paths[0])
    Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8), mode="RGB").save(paths[1])
    Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8), mode="RGB").save(paths[2])
    Image.fromarray(rng.integers(0, 256, (16, 16), dtype=np.uint8), mode="L").save(paths[3])
    return paths


def _folder_dataset(root: Path, classes: list[str], per_class: int = 2) -> Path:
    rng = np.random.default_rng(1)
    for split in ("train", "test"):
        for name in classes:
            (root / split / name).mkdir(parents=True)
            for i in range(per_class):
                Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(root / split / name / f"{i}.png")
    return root


# --- evaluate ---------------------------------------------------------------------------------------

def _assert_same_final(result: dict, final: dict) -> None:
    assert result["top1"] == final["top1"]
    assert result["balanced_accuracy"] == final["balanced_accuracy"]
    assert result["per_class_accuracy"] == final["per_class_accuracy"]
    assert result["eval_counts"] == final["eval_counts"]
    assert result["classes"] == final["classes"]
    assert set(result["geometry"]) == set(final["geometry"])
    for key, value in final["geometry"].items():
        assert abs(result["geometry"][key] - value) <= 1e-9, key


def test_evaluate_run_folder_reproduces_final_json(run_dir):
    final = json.loads((run_dir / "final.json").read_text())
    result = json.loads(json.dumps(evaluate_checkpoint(str(run_dir), [])))  # the JSON round trip of final.json
    _assert_same_final(result, final)
    # independent check of top-1 from the per-class numbers: mean over images = Σ acc_c·n_c / Σ n_c
    counts = final["eval_counts"]
    top1 = sum(a * n for a, n in zip(final["per_class_accuracy"], counts)) / sum(counts)
    assert math.isclose(result["top1"], top1, rel_tol=0, abs_tol=1e-12)


def test_evaluate_checkpoint_file_uses_its_own_config(run_dir):
    final = json.loads((run_dir / "final.json").read_text())
    result = evaluate_checkpoint(str(run_dir / "checkpoints" / "last.pt"), [])
    _assert_same_final(json.loads(json.dumps(result)), final)


def test_evaluate_output_written_once(run_dir, tmp_path):
    out = tmp_path / "metrics.json"
    result = evaluate_checkpoint(str(run_dir), [], output=str(out))
    assert json.loads(out.read_text())["top1"] == result["top1"]
    before = out.read_text()
    with pytest.raises(RunFolderError, match="metrics.json"):
        evaluate_checkpoint(str(run_dir), [], output=str(out))
    assert out.read_text() == before


def test_evaluate_refuses_non_data_override(run_dir):
    with pytest.raises(ConfigError, match="train.epochs=3"):
        evaluate_checkpoint(str(run_dir), ["train.epochs=3"])
    with pytest.raises(ConfigError, match="out=x"):
        evaluate_checkpoint(str(run_dir), ["out=x"])


def test_evaluate_refuses_other_number_of_classes(run_dir, tmp_path):
    root = _folder_dataset(tmp_path / "three", ["cat", "dog", "fox"])
    with pytest.raises(CheckpointError, match=r"checkpoint classes \['0', .*\] \(10\) differ from the data's "
                                              r"\['cat', 'dog', 'fox'\] \(3, dataset folder\)") as caught:
        evaluate_checkpoint(str(run_dir), ["data.name=folder", f"data.root={root}", "data.image_size=16"])


def test_evaluate_refuses_other_class_names(run_dir, tmp_path):
    root = _folder_dataset(tmp_path / "ten", [f"c{i}" for i in range(10)], per_class=1)
    with pytest.raises(CheckpointError, match=r"checkpoint classes .* differ from the data's .*class 0 is '0' in "
                                              r"the checkpoint, 'c0' in the data") as caught:
        evaluate_checkpoint(str(run_dir), ["data.name=folder", f"data.root={root}", "data.image_size=16"])
    assert "not a valid ecl checkpoint" not in str(caught.value)


def test_evaluate_missing_target(tmp_path):
    with pytest.raises(CheckpointError, match="no such file"):
        evaluate_checkpoint(str(tmp_path / "nope.pt"), [])
    with pytest.raises(CheckpointError, match="without checkpoints/last.pt"):
        evaluate_checkpoint(str(tmp_path), [])


# --- open_checkpoint -----------------------------------------------------------------------------------

def test_open_checkpoint_eval_cpu_with_checkpoint_weights(run_dir):
    network, config, state = open_checkpoint(str(run_dir))[:3]
    assert not network.training
    assert config.loss.method == "ecl"
    assert state["classes"] == [str(i) for i in range(10)]
    for key, value in network.state_dict().items():
        assert value.device.type == "cpu"
        assert torch.equal(value, state["model"][key]), key


# --- predict ----------------------------------------------------------------------------------------

def test_predict_matches_softmax_of_network_logits(run_dir, tmp_path):
    paths = _write_pngs(tmp_path / "imgs")
    predictions = predict_images(str(run_dir), [str(tmp_path / "imgs")], top_k=4)
    assert [p["path"] for p in predictions] == [str(p) for p in sorted(paths)]
    network, _, state = open_checkpoint(str(run_dir))[:3]
    data = state["data"]
    transform = build_eval_transform(data["image_size"], data["recipe"], data["mean"], data["std"])
    for item in predictions:
        with torch.no_grad():
            logits = network(transform(load_rgb(item["path"]))[None]).logits[0].double()
        # softmax by hand, then a brute-force ranking
        exp = [math.exp(v - max(logits.tolist())) for v in logits.tolist()]
        probs = [e / sum(exp) for e in exp]
        ranking = sorted(range(len(probs)), key=lambda c: -probs[c])[:4]
        assert [e["index"] for e in item["top_k"]] == ranking
        for entry in item["top_k"]:
            assert entry["class"] == state["classes"][entry["index"]]
            assert abs(entry["probability"] - probs[entry["index"]]) < 1e-6


def test_predict_top_k_larger_than_classes(run_dir, tmp_path):
    paths = _write_pngs(tmp_path / "imgs")
    predictions = predict_images(str(run_dir), [str(paths[0])], top_k=50)
    assert len(predictions) == 1 and len(predictions[0]["top_k"]) == 10
    assert abs(sum(e["probability"] for e in predictions[0]["top_k"]) - 1.0) < 1e-9
    with pytest.raises(ConfigError, match="top_k"):
        predict_images(str(run_dir), [str(paths[0])], top_k=0)


def test_collect_images_reports_every_bad_input(tmp_path):
    paths = _write_pngs(tmp_path / "imgs")
    (tmp_path / "imgs" / ".hidden.png").write_bytes(b"junk")  # hidden: ignored
    (tmp_path / "imgs" / "notes.txt").write_text("x")  # not an image extension: ignored in a folder
    assert collect_images([str(tmp_path / "imgs")]) == sorted(paths)
    (tmp_path / "empty").mkdir()
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG not really")
    assert collect_images([str(broken)]) == [broken]  # contents are read later: an error row, not a refusal
    with pytest.raises(DataError) as info:
        collect_images([str(tmp_path / "missing.png"), str(text), str(tmp_path / "empty"), str(broken)])
    message = str(info.value)
    for name in ("missing.png", "notes.txt", "empty"):
        assert name in message
    assert "broken.png" not in message


def test_format_predictions_one_block_per_image():
    predictions = [
        {"path": "x.png", "top_k": [{"class": "cat", "index": 0, "probability": 0.75},
                                    {"class": "dog", "index": 1, "probability": 0.25}]},
        {"path": "y.png", "top_k": [{"class": "dog", "index": 1, "probability": 1.0}]},
    ]
    blocks = format_predictions(predictions).split("\n\n")
    assert len(blocks) == 2
    assert blocks[0].splitlines()[0] == "x.png"
    assert "cat" in blocks[0].splitlines()[1] and "75.00%" in blocks[0].splitlines()[1]
    assert "100.00%" in blocks[1]


# --- export -----------------------------------------------------------------------------------------

def test_default_export_paths(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text("{}")
    assert default_export_path(run / "checkpoints" / "last.pt", run, "onnx") == run / "export" / "model.onnx"
    assert default_export_path(run / "checkpoints" / "best_val.pt", None, "safetensors") == \
        run / "export" / "best_val.safetensors"
    loose = tmp_path / "model.pt"
    assert default_export_path(loose, None, "torchscript") == tmp_path / "model.torchscript.pt"
    assert default_export_path(loose, None, "onnx") == tmp_path / "model.onnx"


def test_export_default_path_refuses_overwrite(run_copy):
    run_dir = run_copy  # the export is written into the run folder
    path = export_checkpoint(str(run_dir), "safetensors")
    assert path == run_dir / "export" / "model.safetensors" and path.is_file()
    stamp = path.stat().st_mtime_ns
    with pytest.raises(RunFolderError, match="model.safetensors"):
        export_checkpoint(str(run_dir), "safetensors")
    assert path.stat().st_mtime_ns == stamp
    assert [p.name for p in path.parent.iterdir()] == ["model.safetensors"]  # no temporary files left


def test_export_safetensors_predicts_like_checkpoint(run_dir, tmp_path):
    _write_pngs(tmp_path / "imgs")
    path = export_checkpoint(str(run_dir), "safetensors", output=str(tmp_path / "m.safetensors"))
    from_export = predict_images(str(path), [str(tmp_path / "imgs")], top_k=3)
    from_checkpoint = predict_images(str(run_dir), [str(tmp_path / "imgs")], top_k=3)
    assert [p["path"] for p in from_export] == [p["path"] for p in from_checkpoint]
    for a, b in zip(from_export, from_checkpoint):
        assert [e["index"] for e in a["top_k"]] == [e["index"] for e in b["top_k"]]
        assert [e["class"] for e in a["top_k"]] == [e["class"] for e in b["top_k"]]
        for x, y in zip(a["top_k"], b["top_k"]):
            assert abs(x["probability"] - y["probability"]) < 1e-6


def test_safetensors_without_preprocessing_is_refused(run_dir, tmp_path):
    from ecl.models import export_model

    network, _, state = open_checkpoint(str(run_dir))[:3]
    path = export_model(network, tmp_path / "bare.safetensors", "safetensors", 28, class_names=state["classes"])
    png = _write_pngs(tmp_path / "imgs")[0]
    with pytest.raises(CheckpointError, match="bare.safetensors.*preprocessing"):
        predict_images(str(path), [str(png)])
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match="junk.safetensors"):
        predict_images(str(junk), [str(png)])


def test_checkpoint_loads_with_weights_only(run_dir):
    state = load_checkpoint(run_dir)
    assert state["data"]["image_size"] >= 1
