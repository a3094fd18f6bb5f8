"""A small, fast CNN for tiny images (8×8 digits upsampled, 28–32 px MNIST) on CPU."""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["SmallCNN", "small_cnn"]


def _conv_bn_relu(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class SmallCNN(nn.Module):
    """Four conv-BN-ReLU layers (two 2× max-pools), adaptive average pool.

    ``forward``: (N, in_channels, H, W) -> (N, out_dim); any H, W >= 1 works
    (pools use ``ceil_mode``), the intended range is 8..32 px.
    """

    def __init__(self, out_dim: int = 128, width: int = 32, in_channels: int = 3) -> None:
        super().__init__()
        for name, v in (("out_dim", out_dim), ("width", width), ("in_channels", in_channels)):
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        self.config = {"out_dim": out_dim, "width": width, "in_channels": in_channels}
        self.features = nn.Sequential(
            *_conv_bn_relu(in_channels, width),
            nn.MaxPool2d(2, ceil_mode=True),
            *_conv_bn_relu(width, 2 * width),
            nn.MaxPool2d(2, ceil_mode=True),
            *_conv_bn_relu(2 * width, 4 * width),
            *_conv_bn_relu(4 * width, out_dim),
            nn.AdaptiveAvgPool2d(1),
        )
        self.out_dim: int = out_dim
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: Tensor) -> Tensor:  # (N,C,H,W) -> (N, out_dim)
        return torch.flatten(self.features(x), 1)


def small_cnn(**kwargs: object) -> SmallCNN:
    """Small CNN, ``out_dim = 128`` by default (``out_dim=`` to change)."""
    return SmallCNN(**kwargs)  # type: ignore[arg-type]
