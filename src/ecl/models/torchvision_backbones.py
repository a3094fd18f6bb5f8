"""ImageNet-scale backbones from torchvision.

Randomly initialised by default; ``pretrained=True`` loads torchvision's ImageNet weights
(the architecture's ``DEFAULT`` weights enum), downloading them when they are not cached; no cache
and no network, or a failed download, raises :class:`~ecl.models.weights.WeightsError`. The final ``fc`` is replaced by
``Identity``, so ``forward``: (N,3,H,W) -> (N, out_dim).
"""

from __future__ import annotations

from typing import Callable

from torch import nn
from torchvision import models as tvm

from .weights import WeightsSource, pretrained_download, url_source

__all__ = ["resnet18", "resnet34", "resnet50", "resnext50_32x4d", "torchvision_weights_source"]


def torchvision_weights_source(name: str) -> WeightsSource:
    """Where torchvision's ``DEFAULT`` ImageNet weights of architecture ``name`` come from (torch.hub)."""
    return url_source(tvm.get_model_weights(getattr(tvm, name)).DEFAULT.url)


def _headless(ctor: Callable[..., nn.Module], out_dim: int, pretrained: bool = False, **kwargs: object) -> nn.Module:
    if "weights" in kwargs and kwargs["weights"] is not None:
        raise ValueError("weights: pass pretrained=True (torchvision's DEFAULT weights) instead of weights")
    kwargs["weights"] = None
    if pretrained:
        kwargs["weights"] = tvm.get_model_weights(ctor).DEFAULT
        with pretrained_download(ctor.__name__, url_source(kwargs["weights"].url)):
            net = ctor(**kwargs)
    else:
        net = ctor(**kwargs)
    net.fc = nn.Identity()
    net.out_dim = out_dim
    net.config = {}
    return net


def resnet18(pretrained: bool = False, **kwargs: object) -> nn.Module:
    """torchvision ResNet-18 without classifier, ``out_dim = 512``."""
    return _headless(tvm.resnet18, 512, pretrained, **kwargs)


def resnet34(pretrained: bool = False, **kwargs: object) -> nn.Module:
    """torchvision ResNet-34 without classifier, ``out_dim = 512``."""
    return _headless(tvm.resnet34, 512, pretrained, **kwargs)


def resnet50(pretrained: bool = False, **kwargs: object) -> nn.Module:
    """torchvision ResNet-50 without classifier, ``out_dim = 2048``."""
    return _headless(tvm.resnet50, 2048, pretrained, **kwargs)


def resnext50_32x4d(pretrained: bool = False, **kwargs: object) -> nn.Module:
    """torchvision ResNeXt-50 (32×4d) without classifier, ``out_dim = 2048``."""
    return _headless(tvm.resnext50_32x4d, 2048, pretrained, **kwargs)
