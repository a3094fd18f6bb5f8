"""Batched tensor views: per-sample random augmentation of a whole batch, no loop over images.

Modules: geometry (affine maps, one grid_sample), colour (torchvision-style jitter, grey,
erase, normalise), pil_ops (timm/PIL 8-bit ops as look-up tables), params (random draws from a
torch.Generator), randaugment (timm's rand-nN-mM-mstdS), recipes (BatchedViews).
"""
