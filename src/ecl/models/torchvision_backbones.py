"""ImageNet-scale backbones from torchvision, randomly initialised (``weights=None``).

The final ``fc`` is replaced by ``Identity``, so ``forward``: (N,3,H,W) -> (N, out_dim).
Nothing is ever downloaded.
"""

from __future__ import annotations

from typing import Callable

from torch import nn
from torchvision import models as tvm

__all__ = ["resnet18", "resnet34", "resnet50", "resnext50_32x4d"]


def _headless(ctor: Callable[..., nn.Module], out_dim: int, **kwargs: object) -> nn.Module:
    if "weights" in kwargs and kwargs["weights"] is not None:
        raise ValueError("weights: pretrained weights are not supported (weights must be None)")
    kwargs["weights"] = None
    net = ctor(**kwargs)
    net.fc = nn.Identity()
    net.out_dim = out_dim
    net.config = {}
    return net


def resnet18(**kwargs: object) -> nn.Module:
    """torchvision ResNet-18 without classifier, ``out_dim = 512``."""
    return _headless(tvm.resnet18, 512, **kwargs)


def resnet34(**kwargs: object) -> nn.Module:
    """torchvision ResNet-34 without classifier, ``out_dim = 512``."""
    return _headless(tvm.resnet34, 512, **kwargs)


def resnet50(**kwargs: object) -> nn.Module:
    """torchvision ResNet-50 without classifier, ``out_dim = 2048``."""
    return _headless(tvm.resnet50, 2048, **kwargs)


def resnext50_32x4d(**kwargs: object) -> nn.Module:
    """torchvision ResNeXt-50 (32×4d) without classifier, ``out_dim = 2048``."""
    return _headless(tvm.resnext50_32x4d, 2048, **kwargs)
