"""Backbone registry: name -> constructor returning a module with ``out_dim``.

Names: the built-in ones in :data:`BACKBONES`, or ``timm:NAME`` for any timm model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from torch import nn

from .resnet_cifar import resnet32
from .small_cnn import small_cnn
from .timm_backbones import TIMM_PREFIX, is_timm_name, timm_backbone, timm_name_error, timm_weights_source
from .torchvision_backbones import resnet18, resnet34, resnet50, resnext50_32x4d, torchvision_weights_source
from .weights import WeightsError, load_backbone_weights, require_pretrained

__all__ = ["BACKBONES", "PRETRAINED_BACKBONES", "build_backbone", "backbone_name_error", "check_pretrained_weights"]

BACKBONES: dict[str, Callable[..., nn.Module]] = {
    "resnet32": resnet32,
    "resnet18": resnet18,
    "resnet34": resnet34,
    "resnet50": resnet50,
    "resnext50_32x4d": resnext50_32x4d,
    "small_cnn": small_cnn,
    "small_cnn_w16": lambda **kwargs: small_cnn(width=16, **kwargs),  # ~4× cheaper (fashion-mnist-lt study)
}
# built-in backbones with library (torchvision) ImageNet weights; every timm:NAME may have them
PRETRAINED_BACKBONES = ("resnet18", "resnet34", "resnet50", "resnext50_32x4d")


def backbone_name_error(name: str) -> str | None:
    """``None`` when ``name`` is a known backbone (built-in or ``timm:NAME``), else a one-line message."""
    if is_timm_name(name):
        return timm_name_error(name)
    if name in BACKBONES:
        return None
    return (f"model.backbone: unknown backbone {name!r} (known: {', '.join(sorted(BACKBONES))}, "
            f"or timm:NAME for any timm model)")


def check_pretrained_weights(name: str) -> None:
    """Fail fast, before any data is read: ``WeightsError`` when backbone ``name``'s library weights
    are neither in the local cache nor downloadable (a few seconds at most; see
    :func:`~ecl.models.weights.require_pretrained`). Names without library weights are left to
    :func:`build_backbone`."""
    if backbone_name_error(name) is not None:
        return
    if is_timm_name(name):
        require_pretrained(name, timm_weights_source(name[len(TIMM_PREFIX):]))
    elif name in PRETRAINED_BACKBONES:
        require_pretrained(name, torchvision_weights_source(name))


def _construct(name: str, pretrained: bool, kwargs: dict) -> nn.Module:
    if is_timm_name(name):
        return timm_backbone(name, pretrained=pretrained, **kwargs)
    if name not in BACKBONES:
        raise ValueError(backbone_name_error(name))
    if pretrained:
        if name not in PRETRAINED_BACKBONES:
            raise WeightsError(f"model.pretrained: backbone {name!r} has no library ImageNet weights "
                               f"(those with weights: {', '.join(PRETRAINED_BACKBONES)}, timm:NAME); "
                               f"pass model.weights=PATH for your own")
        return BACKBONES[name](pretrained=True, **kwargs)
    return BACKBONES[name](**kwargs)


def build_backbone(name: str, pretrained: bool = False, weights: str | Path | None = None,
                   **kwargs: object) -> nn.Module:
    """Build backbone ``name``: (N,3,H,W) -> (N, out_dim). ``kwargs`` go to its constructor.

    ``pretrained``: start from the library's ImageNet weights (torchvision or timm; downloaded when
    not cached, ``WeightsError`` when that fails). ``weights``: a local weights file loaded with
    :func:`~ecl.models.weights.load_backbone_weights` (its summary is kept as ``weights_summary``).
    The two are exclusive. The module gets ``backbone_name`` and ``backbone_config`` attributes
    (used by export; they never ask for a download again).
    """
    if pretrained and weights is not None:
        raise WeightsError("model.pretrained and model.weights are both set; use one of them")
    net = _construct(name, bool(pretrained), dict(kwargs))
    if not isinstance(getattr(net, "out_dim", None), int):
        raise ValueError(f"backbone {name!r} does not define an integer out_dim")
    if weights is not None:
        net.weights_summary = load_backbone_weights(net, weights)
    net.backbone_name = name
    net.backbone_config = {} if is_timm_name(name) else dict(getattr(net, "config", {}) or {})
    return net
