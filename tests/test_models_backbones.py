"""timm backbones by name, library pretrained weights (download failures) and local weights files."""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from urllib.error import URLError

import pytest
import torch
from safetensors.torch import save_file

from ecl.config import ConfigError, load_config
from ecl.models import ECLNetwork, WeightsError, build_backbone, load_backbone_weights


def _empty_caches(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[Path, Path]:
    """torch hub's and the Hugging Face hub's caches pointed at empty folders: (torch hub dir, hub cache)."""
    from huggingface_hub import constants

    torch_dir, hub_dir = tmp_path / "torch-hub", tmp_path / "hf-hub"
    monkeypatch.setattr(torch.hub, "_hub_dir", str(torch_dir))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hub_dir))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    return torch_dir, hub_dir


def _probe(monkeypatch: pytest.MonkeyPatch, reason: str | None) -> list[str]:
    """The connectivity probe answers `reason` (None: reachable) without touching the network; the
    hosts it was asked about are listed."""
    import ecl.models.weights as weights_module

    asked: list[str] = []

    def probe(host: str, timeout: float = 0.0, port: int = 443) -> str | None:
        asked.append(host)
        return reason

    monkeypatch.setattr(weights_module, "unreachable", probe)
    return asked


def _no_download(monkeypatch: pytest.MonkeyPatch, tmp_path: Path | None = None) -> None:
    """Any download attempt by torchvision or timm fails as it does offline (the pre-download check,
    given `tmp_path`, sees empty caches and a host that answers, so the download itself is tried)."""
    import timm.models._builder as timm_builder
    import torchvision.models._api as tv_api

    def refuse(*args: object, **kwargs: object) -> None:
        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(tv_api, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(timm_builder, "load_pretrained", refuse)
    if tmp_path is not None:
        _empty_caches(monkeypatch, tmp_path)
        _probe(monkeypatch, None)


def test_timm_resnet18_is_a_512_feature_extractor(monkeypatch: pytest.MonkeyPatch) -> None:
    _no_download(monkeypatch)  # pretrained=False must not try
    torch.manual_seed(0)
    net = build_backbone("timm:resnet18")
    assert net.out_dim == 512 and net.backbone_name == "timm:resnet18" and net.backbone_config == {}
    net.eval()
    with torch.no_grad():
        out = net(torch.randn(3, 3, 32, 32))
    assert out.shape == (3, 512)
    model = ECLNetwork(net, num_classes=4)
    assert model.feature_dim == 512


def test_unknown_timm_name_suggests_close_names() -> None:
    with pytest.raises(ValueError) as info:
        build_backbone("timm:resnet181")
    msg = str(info.value)
    assert "model.backbone" in msg and "'resnet181'" in msg and "resnet18" in msg and "\n" not in msg


def test_config_accepts_timm_names_and_refuses_unknown_ones() -> None:
    config = load_config(None, ["model.backbone=timm:resnet18", "model.weights=w.safetensors"])
    assert config.model.backbone == "timm:resnet18" and config.model.weights == "w.safetensors"
    assert config.model.pretrained is False
    with pytest.raises(ConfigError, match=r"model\.backbone.*close names"):
        load_config(None, ["model.backbone=timm:resnet181"])
    with pytest.raises(ConfigError, match=r"model\.backbone"):
        load_config(None, ["model.backbone=timm:"])
    with pytest.raises(ConfigError, match=r"model\.weights"):
        load_config(None, ["model.pretrained=true", "model.weights=w.pt"])


@pytest.mark.parametrize("name", ["resnet18", "timm:resnet18"])
def test_pretrained_without_network_is_one_line_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                     name: str) -> None:
    _no_download(monkeypatch, tmp_path)
    with pytest.raises(WeightsError) as info:
        build_backbone(name, pretrained=True)
    msg = str(info.value)
    assert isinstance(info.value, ValueError)
    assert "\n" not in msg and "model.weights=PATH" in msg and name in msg and "URLError" in msg


def test_pretrained_hub_errors_are_caught(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import timm.models._builder as timm_builder
    from huggingface_hub.errors import LocalEntryNotFoundError

    _empty_caches(monkeypatch, tmp_path)
    _probe(monkeypatch, None)

    def refuse(*args: object, **kwargs: object) -> None:
        raise LocalEntryNotFoundError("cannot reach huggingface.co\nsecond line")

    monkeypatch.setattr(timm_builder, "load_pretrained", refuse)
    with pytest.raises(WeightsError, match=r"timm:resnet18.*model\.weights=PATH") as info:
        build_backbone("timm:resnet18", pretrained=True)
    assert "\n" not in str(info.value)


def _refuse_any_download(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A download or network attempt (torch.hub, a name lookup, a socket) fails the test; the
    attempts are listed too, in case a library swallows the failure."""
    import socket

    attempts: list[str] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(repr(args[:2]))
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)  # a cached file is read without it
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    return attempts


@pytest.mark.parametrize("name, host", [("resnet18", "download.pytorch.org"), ("timm:resnet18", "huggingface.co")])
def test_pretrained_offline_fails_before_any_download(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                      name: str, host: str) -> None:
    torch_dir, hub_dir = _empty_caches(monkeypatch, tmp_path)
    asked = _probe(monkeypatch, "gaierror: [Errno -2] Name or service not known")
    _refuse_any_download(monkeypatch)
    with pytest.raises(WeightsError) as info:
        build_backbone(name, pretrained=True)
    msg = str(info.value)
    assert asked == [host]
    assert "\n" not in msg and name in msg and "not in the local cache" in msg and "model.weights=PATH" in msg
    assert f"{host} cannot be reached (gaierror" in msg
    assert str(hub_dir if name.startswith("timm:") else torch_dir / "checkpoints") in msg


def test_hf_hub_offline_is_respected_without_probing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _empty_caches(monkeypatch, tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    asked = _probe(monkeypatch, None)
    _refuse_any_download(monkeypatch)
    with pytest.raises(WeightsError, match=r"timm:resnet18.*not in the local cache.*HF_HUB_OFFLINE is set"):
        build_backbone("timm:resnet18", pretrained=True)
    assert asked == []


def _timm_reference_state(seed: int) -> dict[str, torch.Tensor]:
    import timm

    torch.manual_seed(seed)
    return {k: v.detach().clone().contiguous() for k, v in
            timm.create_model("resnet18", pretrained=False, num_classes=1000).state_dict().items()}


def _assert_loads_offline(monkeypatch: pytest.MonkeyPatch, name: str, tensors: dict[str, torch.Tensor]) -> None:
    """With no network (probe fails, sockets refused), `name` pretrained holds exactly the cached tensors."""
    _probe(monkeypatch, "gaierror: simulated")
    attempts = _refuse_any_download(monkeypatch)
    torch.manual_seed(0)  # another random start
    net = build_backbone(name, pretrained=True)
    assert attempts == []
    for key, value in net.state_dict().items():
        assert torch.equal(value, tensors[key]), key


def test_cached_hub_weights_load_offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Weights in the hub cache load with no network and no retries: exactly the cached tensors."""
    _, hub_dir = _empty_caches(monkeypatch, tmp_path)
    repo = hub_dir / "models--timm--resnet18.a1_in1k"
    snapshot = repo / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    tensors = _timm_reference_state(seed=11)
    save_file(tensors, str(snapshot / "model.safetensors"))
    _assert_loads_offline(monkeypatch, "timm:resnet18", tensors)


def test_cached_torchvision_weights_load_offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import torchvision.models as tvm

    torch_dir, _ = _empty_caches(monkeypatch, tmp_path)
    (torch_dir / "checkpoints").mkdir(parents=True)
    torch.manual_seed(12)
    tensors = {k: v.clone() for k, v in tvm.resnet18().state_dict().items()}
    torch.save(tensors, torch_dir / "checkpoints" / Path(tvm.ResNet18_Weights.DEFAULT.url).name)
    _assert_loads_offline(monkeypatch, "resnet18", tensors)


def test_fail_fast_check_names_the_cache_of_each_library(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from ecl.models import check_pretrained_weights

    torch_dir, hub_dir = _empty_caches(monkeypatch, tmp_path)
    asked = _probe(monkeypatch, "timed out")
    for name, cache in (("resnet50", torch_dir / "checkpoints"), ("timm:resnet18", hub_dir)):
        with pytest.raises(WeightsError, match=rf"{name}.*not in the local cache \({re.escape(str(cache))}\)"):
            check_pretrained_weights(name)
    check_pretrained_weights("small_cnn")  # no library weights: left to build_backbone's own error
    assert asked == ["download.pytorch.org", "huggingface.co"]
    _probe(monkeypatch, None)
    check_pretrained_weights("timm:resnet18")  # online: nothing to say


def test_connectivity_probe_on_a_local_port(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    from ecl.models.weights import unreachable

    for key in ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(key, raising=False)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    try:
        assert unreachable("127.0.0.1", timeout=2.0, port=port) is None
    finally:
        server.close()
    reason = unreachable("127.0.0.1", timeout=2.0, port=port)
    assert reason is not None and "ConnectionRefused" in reason


def test_train_offline_pretrained_is_one_line_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from ecl.cli import main

    import ecl.data

    _empty_caches(monkeypatch, tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _refuse_any_download(monkeypatch)

    def no_data(*args: object, **kwargs: object) -> None:
        raise AssertionError("the data was read before the weights were checked")

    monkeypatch.setattr(ecl.data, "build_datasets", no_data)
    out = tmp_path / "run"
    code = main(["train", "model.backbone=timm:resnet18", "model.pretrained=true", "train.epochs=1",
                 "train.progress=false", f"out={out}"])
    captured = capsys.readouterr()
    assert code == 2 and not out.exists()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: model.pretrained:"), captured.err
    assert "timm:resnet18" in lines[0] and "HF_HUB_OFFLINE" in lines[0] and "model.weights=PATH" in lines[0]
    assert "Retry" not in captured.err + captured.out


def test_pretrained_for_a_backbone_without_library_weights() -> None:
    with pytest.raises(WeightsError, match="small_cnn.*model.weights=PATH"):
        build_backbone("small_cnn", pretrained=True)
    with pytest.raises(WeightsError, match="both"):
        build_backbone("resnet18", pretrained=True, weights="x.pt")


def _reference_file_tensors(seed: int = 7) -> dict[str, torch.Tensor]:
    """A trained-looking state dict: a timm ResNet-18 *with* its 1000-way fc, behind DataParallel's prefix."""
    import timm

    torch.manual_seed(seed)
    full = timm.create_model("resnet18", pretrained=False, num_classes=1000)
    with torch.no_grad():  # make the BN buffers non-default too
        for name, buf in full.named_buffers():
            if buf.is_floating_point():
                buf.copy_(torch.rand_like(buf) + 0.5)
    return {f"module.{k}": v.detach().clone().contiguous() for k, v in full.state_dict().items()}


def _write(tensors: dict[str, torch.Tensor], path: Path) -> Path:
    if path.suffix == ".safetensors":
        save_file(tensors, str(path))
    else:
        torch.save(tensors, path)
    return path


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_weights_file_is_loaded_exactly(tmp_path: Path, suffix: str) -> None:
    tensors = _reference_file_tensors()
    path = _write(tensors, tmp_path / f"w{suffix}")
    torch.manual_seed(123)  # a different random start
    net = build_backbone("timm:resnet18", weights=str(path))
    own = net.state_dict()
    for key, value in own.items():
        assert torch.equal(value, tensors[f"module.{key}"]), key
    assert sorted(net.weights_summary["ignored"]) == ["module.fc.bias", "module.fc.weight"]
    assert net.weights_summary["loaded"] == len(own)
    assert "ignored 2 classifier keys" in net.weights_summary["note"]


def test_torchvision_backbone_takes_prefixed_weights(tmp_path: Path) -> None:
    torch.manual_seed(1)
    src = build_backbone("resnet18")
    tensors = {f"encoder.{k}": v.clone() + 0.25 * v.is_floating_point() for k, v in src.state_dict().items()}
    tensors["classifier.weight"] = torch.zeros(10, 512)
    path = _write(tensors, tmp_path / "enc.pt")
    torch.manual_seed(2)
    dst = build_backbone("resnet18")
    summary = load_backbone_weights(dst, path)
    assert summary["ignored"] == ["classifier.weight"]
    for key, value in dst.state_dict().items():
        assert torch.equal(value, tensors[f"encoder.{key}"]), key


def _one_line_error(path: object, *patterns: str) -> str:
    torch.manual_seed(0)
    net = build_backbone("timm:resnet18")
    with pytest.raises(WeightsError) as info:
        load_backbone_weights(net, path)
    msg = str(info.value)
    assert "\n" not in msg and "model.weights" in msg
    for pattern in patterns:
        assert pattern in msg, (pattern, msg)
    return msg


def test_missing_unexpected_and_misshapen_keys(tmp_path: Path) -> None:
    tensors = _reference_file_tensors()
    missing = dict(tensors)
    del missing["module.layer4.1.bn2.weight"]
    _one_line_error(_write(missing, tmp_path / "missing.safetensors"), "missing.safetensors", "lacks 1",
                    "layer4.1.bn2.weight")
    extra = dict(tensors, **{"module.adapter.weight": torch.ones(3)})
    _one_line_error(_write(extra, tmp_path / "extra.pt"), "extra.pt", "module.adapter.weight")
    wrong = dict(tensors)
    wrong["module.conv1.weight"] = torch.zeros(64, 1, 7, 7)
    _one_line_error(_write(wrong, tmp_path / "wrong.pt"), "'conv1.weight'", "(64, 1, 7, 7)", "(64, 3, 7, 7)")


class _Payload:
    """A pickle that would create a file when unpickled by a full (unsafe) loader."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):  # noqa: D105
        return (Path.touch, (self.target,))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_code_in_a_pickle_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"conv1.weight": _Payload(marker)}, path)
    _one_line_error(path, "evil.pt", "weights_only")
    assert not marker.exists()
    with open(path, "wb") as f:  # a bare pickle, not even a torch zip
        pickle.dump(_Payload(marker), f)
    _one_line_error(path, "evil.pt")
    assert not marker.exists()


def test_not_a_weights_file(tmp_path: Path) -> None:
    _one_line_error(tmp_path / "absent.pt", "absent.pt", "is not a file")
    _one_line_error(tmp_path, "is not a file")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a safetensors file")
    _one_line_error(junk, "junk.safetensors", "could not be read")
    torch.save([1, 2, 3], tmp_path / "list.pt")
    _one_line_error(tmp_path / "list.pt", "list.pt", "state dict")


def test_timm_network_with_local_weights_exports_and_reloads_offline(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from ecl.models import InferenceModel, export_model, load_safetensors_model

    _no_download(monkeypatch)
    path = _write(_reference_file_tensors(), tmp_path / "w.safetensors")
    torch.manual_seed(0)
    network = ECLNetwork(build_backbone("timm:resnet18", weights=path), num_classes=3).eval()
    out = export_model(network, tmp_path / "m.safetensors", "safetensors", 32)
    model, meta = load_safetensors_model(out)
    assert meta["backbone"] == "timm:resnet18" and meta["backbone_config"] == {}
    tensors = _reference_file_tensors()
    for key, value in model.encoder.state_dict().items():
        assert torch.equal(value, tensors[f"module.{key}"]), key
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(model.eval()(x), InferenceModel(network).eval()(x), atol=1e-5)
