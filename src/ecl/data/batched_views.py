"""Batched tensor views (docs/METHOD.md "Views"; the tensor data path): the public entry point.

`BatchedViews(recipe, image_size, mean, std, num_contrastive_views=2, fill=None, flip=None)`;
`views = bv(images_uint8 (B,3,h,w), generator)` → [classifier view, contrastive views…], each
(B,3,S,S) float32; `bv.eval_view(images)` → (B,3,S,S). Implementation in `ecl.data.batched`.
"""

from __future__ import annotations

from ecl.data.batched.randaugment import RandAugmentSpec
from ecl.data.batched.recipes import RECIPES, BatchedViews, ViewConfigError, ViewSpec, recipe_specs

__all__ = ["RECIPES", "BatchedViews", "RandAugmentSpec", "ViewConfigError", "ViewSpec", "recipe_specs"]
