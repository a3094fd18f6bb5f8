"""Inference model (encoder + cosine classifier) and its export to safetensors / ONNX / TorchScript."""

from __future__ import annotations

import copy
import json
import os
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ecl.atomic import atomic_write_path

from .heads import CosineClassifier
from .network import ECLNetwork
from .registry import build_backbone

__all__ = ["InferenceModel", "export_model", "load_safetensors_model", "EXPORT_FORMATS"]

EXPORT_FORMATS = ("safetensors", "onnx", "torchscript")
_FORMAT_TAG = "ecl-inference-v1"


class InferenceModel(nn.Module):
    """Encoder + cosine classifier: (N,3,H,W) -> logits (N,C). No projection head.

    ``InferenceModel(network)`` deep-copies the encoder and classifier of an
    :class:`ECLNetwork`; ``InferenceModel(encoder, classifier)`` uses the given modules.
    """

    def __init__(self, source: nn.Module, classifier: CosineClassifier | None = None) -> None:
        super().__init__()
        if classifier is None:
            if not isinstance(source, ECLNetwork):
                raise ValueError("source must be an ECLNetwork when no classifier is given")
            encoder: nn.Module = copy.deepcopy(source.backbone)
            classifier = copy.deepcopy(source.classifier)
        else:
            encoder = source
        self.encoder = encoder
        self.classifier = classifier
        self.backbone_name: str | None = getattr(encoder, "backbone_name", None)
        self.backbone_config: dict[str, Any] = dict(getattr(encoder, "backbone_config", {}) or {})

    @property
    def num_classes(self) -> int:
        return int(self.classifier.weight.shape[0])

    def forward(self, x: Tensor) -> Tensor:  # (N,3,H,W) -> (N,C)
        return self.classifier(self.encoder(x))


def _metadata(model: InferenceModel, image_size: int, class_names: list[str] | None) -> dict[str, str]:
    return {
        "format": _FORMAT_TAG,
        "backbone": model.backbone_name or "",
        "backbone_config": json.dumps(model.backbone_config, sort_keys=True),
        "image_size": str(image_size),
        "num_classes": str(model.num_classes),
        "feature_dim": str(int(model.classifier.weight.shape[1])),
        "scale": repr(float(model.classifier.scale)),
        "class_names": json.dumps(class_names),
    }


def _export_onnx(model: nn.Module, example: Tensor, tmp: str, meta: dict[str, str]) -> None:
    kwargs: dict[str, Any] = dict(
        input_names=["images"],
        output_names=["logits"],
        dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}},
        opset_version=17,
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (example,), tmp, dynamo=True, external_data=False, **kwargs)
    except Exception:  # dynamo exporter unavailable (e.g. no onnxscript) or failed: legacy exporter
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (example,), tmp, dynamo=False, **kwargs)
    try:
        import onnx
    except ImportError:  # metadata is optional; the graph is already written
        return
    proto = onnx.load(tmp)
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, tmp)


def export_model(
    network: ECLNetwork,
    path: str | os.PathLike[str],
    fmt: str,
    image_size: int,
    *,
    class_names: list[str] | None = None,
    extra_metadata: dict[str, str] | None = None,
    exclusive: bool = False,
) -> Path:
    """Export ``network``'s inference model (eval mode, CPU, float32) to ``path``; returns the path.

    - ``"safetensors"``: state_dict + metadata (backbone, backbone_config, image_size,
      num_classes, feature_dim, scale, class_names as JSON); reload with :func:`load_safetensors_model`;
    - ``"onnx"``: input ``images`` (N,3,S,S), output ``logits`` (N,C), dynamic batch axis;
    - ``"torchscript"``: traced module, metadata in the extra file ``metadata.json``.
    ``extra_metadata`` (string keys and values) is added to the metadata, which is written once.
    The file is written atomically (``ecl.atomic``); ``exclusive`` refuses an existing file
    (FileExistsError).
    """
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"fmt must be one of {', '.join(EXPORT_FORMATS)}; got {fmt!r}")
    if not isinstance(network, ECLNetwork):
        raise ValueError(f"network must be an ECLNetwork, got {type(network).__name__}")
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
        raise ValueError(f"image_size must be a positive int, got {image_size!r}")
    if class_names is not None:
        class_names = [str(c) for c in class_names]
        if len(class_names) != network.num_classes:
            raise ValueError(
                f"class_names has {len(class_names)} names but the network has {network.num_classes} classes"
            )
    path = Path(path)
    model = InferenceModel(network).float().cpu().eval()
    for p in model.parameters():
        p.requires_grad_(False)
    meta = _metadata(model, image_size, class_names)
    meta.update(extra_metadata or {})
    example = torch.randn(2, 3, image_size, image_size, generator=torch.Generator().manual_seed(0))

    if fmt == "safetensors":
        from safetensors.torch import save_file

        tensors = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
        return atomic_write_path(path, lambda tmp: save_file(tensors, tmp, metadata=meta), exclusive=exclusive)
    if fmt == "onnx":
        return atomic_write_path(path, lambda tmp: _export_onnx(model, example, tmp, meta), exclusive=exclusive)

    def _save_ts(tmp: str) -> None:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(model, example)
            traced.save(tmp, _extra_files={"metadata.json": json.dumps(meta)})

    return atomic_write_path(path, _save_ts, exclusive=exclusive)


def load_safetensors_model(path: str | os.PathLike[str]) -> tuple[InferenceModel, dict[str, Any]]:
    """Rebuild an :class:`InferenceModel` (eval mode) from a safetensors export.

    Returns ``(model, metadata)`` with metadata keys ``backbone`` (str), ``backbone_config`` (dict),
    ``image_size`` (int), ``num_classes`` (int), ``feature_dim`` (int), ``scale`` (float),
    ``class_names`` (list[str] | None).
    """
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    with safe_open(str(path), framework="pt") as f:
        raw = f.metadata() or {}
    if raw.get("format") != _FORMAT_TAG:
        raise ValueError(f"{path}: not an ecl inference export (metadata format={raw.get('format')!r})")
    try:
        meta: dict[str, Any] = {
            "backbone": raw["backbone"],
            "backbone_config": json.loads(raw["backbone_config"]),
            "image_size": int(raw["image_size"]),
            "num_classes": int(raw["num_classes"]),
            "feature_dim": int(raw["feature_dim"]),
            "scale": float(raw["scale"]),
            "class_names": json.loads(raw["class_names"]),
        }
    except (KeyError, ValueError) as exc:
        raise ValueError(f"{path}: bad metadata ({exc})") from exc
    if not meta["backbone"]:
        raise ValueError(f"{path}: backbone is not a registered name; cannot rebuild the model")
    encoder = build_backbone(meta["backbone"], **meta["backbone_config"])
    classifier = CosineClassifier(meta["feature_dim"], meta["num_classes"], meta["scale"])
    model = InferenceModel(encoder, classifier)
    state = load_file(str(path))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ValueError(f"{path}: weights do not match backbone {meta['backbone']!r}: {exc}") from exc
    return model.eval(), meta
