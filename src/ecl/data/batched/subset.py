"""Apply a batched op to the samples a mask selects, the rest unchanged.

On the CPU the selected samples are gathered, transformed and written back (work ∝ selected,
and a host-side count is free there); `inplace=True` writes into x itself (callers that own x).
On an accelerator the op runs on the whole batch and `torch.where` picks (no device→host sync,
the GPU has the throughput to spare).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["apply_where", "use_subsets"]


def use_subsets(device: torch.device) -> bool:
    """Gather/scatter the selected samples (CPU) or compute all and select (accelerators)."""
    return device.type == "cpu"


def apply_where(x: Tensor, mask: Tensor, fn: Callable[..., Tensor], *args: Tensor, inplace: bool = False) -> Tensor:
    """x (B,…) → x with sample i replaced by fn(x, *args)[i] where mask (B,) bool; args are (B,…) too."""
    mask = mask.to(x.device)
    if not use_subsets(x.device):
        return torch.where(mask.view(-1, *([1] * (x.ndim - 1))), fn(x, *args), x)
    idx = mask.nonzero().squeeze(1)
    if idx.numel() == 0:
        return x
    if idx.numel() == x.shape[0]:
        return fn(x, *args)
    picked = [a.to(x.device).index_select(0, idx) for a in args]
    out = fn(x.index_select(0, idx), *picked)
    return (x if inplace else x.clone()).index_copy_(0, idx, out)
