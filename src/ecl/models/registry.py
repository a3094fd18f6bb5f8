"""Backbone registry: name -> constructor returning a module with ``out_dim``."""

from __future__ import annotations

from typing import Callable

from torch import nn

from .resnet_cifar import resnet32
from .small_cnn import small_cnn
from .torchvision_backbones import resnet18, resnet34, resnet50, resnext50_32x4d

__all__ = ["BACKBONES", "build_backbone"]

BACKBONES: dict[str, Callable[..., nn.Module]] = {
    "resnet32": resnet32,
    "resnet18": resnet18,
    "resnet34": resnet34,
    "resnet50": resnet50,
    "resnext50_32x4d": resnext50_32x4d,
    "small_cnn": small_cnn,
}


def build_backbone(name: str, **kwargs: object) -> nn.Module:
    """Build backbone ``name``: (N,3,H,W) -> (N, out_dim). ``kwargs`` go to its constructor.

    The module gets ``backbone_name`` and ``backbone_config`` attributes (used by export).
    """
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; known backbones: {', '.join(sorted(BACKBONES))}")
    net = BACKBONES[name](**kwargs)
    if not isinstance(getattr(net, "out_dim", None), int):
        raise ValueError(f"backbone {name!r} does not define an integer out_dim")
    net.backbone_name = name
    net.backbone_config = dict(getattr(net, "config", {}) or {})
    return net
