"""Export of the inference model: TorchScript / ONNX / safetensors agree with PyTorch."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from ecl.models import ECLNetwork, InferenceModel, build_backbone, export_model, load_safetensors_model

SIZES = {"small_cnn": 16, "resnet32": 32}


def _trained_like_network(name: str) -> ECLNetwork:
    """A network whose BN running stats are non-trivial (a few train-mode forwards)."""
    torch.manual_seed(0)
    net = ECLNetwork(name, 5)
    net.train()
    with torch.no_grad():
        for _ in range(3):
            net(torch.randn(12, 3, SIZES[name], SIZES[name]) * 2 + 0.5)
    return net.eval()


def _reference_logits(net: ECLNetwork, x: torch.Tensor) -> torch.Tensor:
    model = InferenceModel(net).eval()
    with torch.no_grad():
        return model(x)


def test_inference_model_equals_network_logits() -> None:
    net = _trained_like_network("small_cnn")
    x = torch.randn(4, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(_reference_logits(net, x), net(x).logits)
    model = InferenceModel(net)
    assert not any("projection" in k or "prototype" in k for k in model.state_dict())
    # a copy: changing the exported model does not touch the network
    with torch.no_grad():
        model.classifier.weight.zero_()
    assert float(net.classifier_weight.detach().abs().sum()) > 0


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")
@pytest.mark.parametrize("name", sorted(SIZES))
def test_torchscript_matches(name: str, tmp_path: Path) -> None:
    net = _trained_like_network(name)
    s = SIZES[name]
    path = export_model(net, tmp_path / "model.pt", "torchscript", s, class_names=list("abcde"))
    assert path == tmp_path / "model.pt" and path.is_file()
    extra = {"metadata.json": ""}
    loaded = torch.jit.load(str(path), _extra_files=extra)
    assert json.loads(json.loads(extra["metadata.json"])["class_names"]) == list("abcde")
    x = torch.randn(3, 3, s, s)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), _reference_logits(net, x), atol=1e-4, rtol=0)
    assert net.training is False  # export left the network as it was


@pytest.mark.parametrize("name", sorted(SIZES))
def test_onnx_matches_with_dynamic_batch(name: str, tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    net = _trained_like_network(name)
    s = SIZES[name]
    path = export_model(net, tmp_path / "model.onnx", "onnx", s)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["images"]
    for batch in (1, 5):
        x = torch.randn(batch, 3, s, s)
        (got,) = sess.run(["logits"], {"images": x.numpy()})
        assert got.shape == (batch, 5)
        torch.testing.assert_close(torch.from_numpy(got), _reference_logits(net, x), atol=1e-4, rtol=0)
    meta = sess.get_modelmeta().custom_metadata_map
    assert meta["backbone"] == name and meta["image_size"] == str(s)


@pytest.mark.parametrize("name", sorted(SIZES))
def test_safetensors_round_trip_exact(name: str, tmp_path: Path) -> None:
    net = _trained_like_network(name)
    s = SIZES[name]
    names = ["cat", "dog", "bird", "fish", "frog"]
    path = export_model(net, tmp_path / "sub" / "model.safetensors", "safetensors", s, class_names=names)
    model, meta = load_safetensors_model(path)
    assert meta["class_names"] == names
    assert meta["backbone"] == name and meta["image_size"] == s
    assert meta["num_classes"] == 5 and meta["feature_dim"] == net.feature_dim and meta["scale"] == 30.0
    assert not model.training
    x = torch.randn(4, 3, s, s)
    with torch.no_grad():
        assert torch.equal(model(x), _reference_logits(net, x))
    ref_state = InferenceModel(net).state_dict()
    for k, v in model.state_dict().items():
        assert torch.equal(v, ref_state[k]), k


def test_safetensors_keeps_backbone_config(tmp_path: Path) -> None:
    net = ECLNetwork(build_backbone("small_cnn", out_dim=40, width=8), 3).eval()
    path = export_model(net, tmp_path / "m.safetensors", "safetensors", 16)
    model, meta = load_safetensors_model(path)
    assert meta["backbone_config"]["out_dim"] == 40 and meta["class_names"] is None
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(model(x), _reference_logits(net, x))


def test_atomic_write_leaves_no_temp_files(tmp_path: Path) -> None:
    net = _trained_like_network("small_cnn")
    target = tmp_path / "model.safetensors"
    target.write_bytes(b"old")
    export_model(net, target, "safetensors", 16)
    export_model(net, tmp_path / "model.pt", "torchscript", 16)
    assert sorted(os.listdir(tmp_path)) == ["model.pt", "model.safetensors"]
    assert target.read_bytes() != b"old"


def test_failed_export_keeps_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import safetensors.torch

    net = _trained_like_network("small_cnn")
    target = tmp_path / "model.safetensors"
    target.write_bytes(b"old")

    def boom(tensors: object, filename: str, metadata: object = None) -> None:
        Path(filename).write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.torch, "save_file", boom)
    with pytest.raises(OSError, match="disk full"):
        export_model(net, target, "safetensors", 16)
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["model.safetensors"]


def test_export_validation(tmp_path: Path) -> None:
    net = ECLNetwork("small_cnn", 3)
    with pytest.raises(ValueError, match="fmt"):
        export_model(net, tmp_path / "m.bin", "pickle", 16)
    with pytest.raises(ValueError, match="image_size"):
        export_model(net, tmp_path / "m.pt", "torchscript", 0)
    with pytest.raises(ValueError, match="class_names"):
        export_model(net, tmp_path / "m.pt", "torchscript", 16, class_names=["a", "b"])
    bad = tmp_path / "bad.safetensors"
    import safetensors.torch

    safetensors.torch.save_file({"x": torch.zeros(1)}, str(bad))
    with pytest.raises(ValueError, match="bad.safetensors"):
        load_safetensors_model(bad)
    with pytest.raises(ValueError, match="missing.safetensors"):
        load_safetensors_model(tmp_path / "missing.safetensors")
