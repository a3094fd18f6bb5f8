"""Batched geometry: per-sample 3×3 matrices and one `grid_sample` per call.

Convention (PIL's, the one timm's ops are written in): a matrix `M` (B,3,3) maps an OUTPUT point
to the INPUT point it reads, both in continuous pixel-edge coordinates (x right, y down; the
centre of pixel (i, j) is (j + 0.5, i + 0.5)). Building maps this way needs no inverse; for the
forward chain crop → affine → flip the read map is `M_crop @ M_affine @ M_flip` (the last
operation's map acts first on the output point).

`warp` turns such a map into `affine_grid`'s normalised coordinates (align_corners=False, the
same pixel-edge convention) and samples bilinearly with a per-sample constant fill:
`grid_sample(x − fill) + fill` is exactly "pad with fill" because bilinear (and bicubic) weights sum to 1.
We call torch's affine_grid/grid_sample directly rather than kornia.geometry.warp_affine because
kornia's matrix maps input → output (it would invert every matrix) in pixel-centre coordinates.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "identity",
    "rotation",
    "shear",
    "translation",
    "scaling_about_centre",
    "hflip",
    "box_to_output",
    "warp",
]


def identity(batch: int, device=None) -> Tensor:
    """(B,3,3) float32 identity maps."""
    return torch.eye(3, device=device).expand(batch, 3, 3).clone()


def _about(m2: Tensor, cx: float, cy: float) -> Tensor:
    """(B,2,2) linear part → (B,3,3) map that acts about the point (cx, cy)."""
    b = m2.shape[0]
    out = identity(b, m2.device)
    out[:, :2, :2] = m2
    c = torch.tensor([cx, cy], device=m2.device, dtype=m2.dtype)
    out[:, :2, 2] = c - (m2 @ c)
    return out


def rotation(degrees: Tensor, width: int, height: int) -> Tensor:
    """Counter-clockwise rotation by `degrees` (B,) about the image centre, as PIL's `Image.rotate`.

    Output point p reads input point R(−θ)·(p − c) + c in y-down coordinates.
    """
    a = -torch.deg2rad(degrees.float())
    cos, sin = torch.cos(a), torch.sin(a)
    m2 = torch.stack([torch.stack([cos, sin], -1), torch.stack([-sin, cos], -1)], -2)
    return _about(m2, width / 2.0, height / 2.0)


def shear(factor_x: Tensor, factor_y: Tensor) -> Tensor:
    """PIL `AFFINE (1, fx, 0, fy, 1, 0)`: x_in = x + fx·y, y_in = fy·x + y (about the top-left corner)."""
    b = factor_x.shape[0]
    out = identity(b, factor_x.device)
    out[:, 0, 1] = factor_x
    out[:, 1, 0] = factor_y
    return out


def translation(dx: Tensor, dy: Tensor) -> Tensor:
    """PIL `AFFINE (1, 0, dx, 0, 1, dy)`: output (x, y) reads input (x + dx, y + dy) (content moves by −d)."""
    out = identity(dx.shape[0], dx.device)
    out[:, 0, 2] = dx
    out[:, 1, 2] = dy
    return out


def scaling_about_centre(scale: Tensor, width: int, height: int) -> Tensor:
    """Zoom the content by `scale` (B,) about the centre (scale > 1 enlarges): reads p/scale."""
    inv = 1.0 / scale.float()
    zero = torch.zeros_like(inv)
    m2 = torch.stack([torch.stack([inv, zero], -1), torch.stack([zero, inv], -1)], -2)
    return _about(m2, width / 2.0, height / 2.0)


def hflip(flip: Tensor, width: int) -> Tensor:
    """Mirror left-right where `flip` (B,) bool is set: x_in = W − x."""
    out = identity(flip.shape[0], flip.device)
    sign = 1.0 - 2.0 * flip.float()
    out[:, 0, 0] = sign
    out[:, 0, 2] = flip.float() * width
    return out


def box_to_output(top: Tensor, left: Tensor, h: Tensor, w: Tensor, out_h: int, out_w: int) -> Tensor:
    """Map an out_h×out_w output onto the input box (top, left, h, w) (B,) each: crop + resize."""
    out = identity(top.shape[0], top.device)
    out[:, 0, 0] = w.float() / out_w
    out[:, 1, 1] = h.float() / out_h
    out[:, 0, 2] = left.float()
    out[:, 1, 2] = top.float()
    return out


def _normalise(m: Tensor, in_hw: tuple[int, int], out_hw: tuple[int, int]) -> Tensor:
    """Pixel-edge map (B,3,3) → affine_grid theta (B,2,3) with align_corners=False."""
    (hi, wi), (ho, wo) = in_hw, out_hw
    dev = m.device
    to_pix = torch.tensor([[wo / 2.0, 0, wo / 2.0], [0, ho / 2.0, ho / 2.0], [0, 0, 1]], device=dev)
    to_norm = torch.tensor([[2.0 / wi, 0, -1.0], [0, 2.0 / hi, -1.0], [0, 0, 1]], device=dev)
    return (to_norm @ m @ to_pix)[:, :2, :]


def _grid(theta: Tensor, out_hw: tuple[int, int], device) -> Tensor:
    """affine_grid(theta, align_corners=False) by broadcasting: (B,2,3) → (B,H,W,2).

    Same numbers as F.affine_grid, several times faster on the CPU for small images (no (B,H·W,3)
    base grid and batched matmul).
    """
    ho, wo = out_hw
    xs = (torch.arange(wo, device=device, dtype=torch.float32) * 2.0 + 1.0) / wo - 1.0
    ys = (torch.arange(ho, device=device, dtype=torch.float32) * 2.0 + 1.0) / ho - 1.0
    t = theta.view(-1, 2, 3, 1, 1)
    xs, ys = xs.view(1, 1, wo), ys.view(1, ho, 1)
    gx = t[:, 0, 0] * xs + t[:, 0, 1] * ys + t[:, 0, 2]
    gy = t[:, 1, 0] * xs + t[:, 1, 1] * ys + t[:, 1, 2]
    return torch.stack([gx, gy], -1)


def warp(
    images: Tensor,
    matrix: Tensor,
    out_hw: tuple[int, int],
    fill: Tensor | float = 0.0,
    clamp_box: Tensor | None = None,
    mode: str = "bilinear",
) -> Tensor:
    """Resample each image through its own map, bilinear (or `mode="bicubic"`), one grid_sample for the batch.

    images: (B,C,H,W) float; matrix: (B,3,3) output→input pixel-edge map; fill: scalar, (C,)
    or (B,C) constant for points outside the image; clamp_box: optional (B,4) float
    (x_lo, y_lo, x_hi, y_hi) pixel-centre coordinates the reads are clamped to — with it a
    crop + resize equals "cut the box, then resize it" (edge pixels repeat, no neighbours leak in).
    Returns (B,C,out_h,out_w) float.
    """
    b, c, h, w = images.shape
    theta = _normalise(matrix.to(images.device, torch.float32), (h, w), out_hw)
    grid = _grid(theta, out_hw, images.device)
    if clamp_box is not None:
        scale = torch.tensor([2.0 / w, 2.0 / h, 2.0 / w, 2.0 / h], device=images.device)
        lim = ((clamp_box.to(images.device) + 0.5) * scale - 1.0).view(b, 1, 1, 4)
        gx = torch.minimum(torch.maximum(grid[..., 0], lim[..., 0]), lim[..., 2])
        gy = torch.minimum(torch.maximum(grid[..., 1], lim[..., 1]), lim[..., 3])
        grid = torch.stack([gx, gy], -1)
    if isinstance(fill, (int, float)) and fill == 0:
        return F.grid_sample(images, grid, mode=mode, padding_mode="zeros", align_corners=False)
    fill_t = torch.as_tensor(fill, dtype=images.dtype, device=images.device)
    if fill_t.ndim == 1:
        fill_t = fill_t.view(1, c, 1, 1)
    elif fill_t.ndim == 2:
        fill_t = fill_t.view(b, c, 1, 1)
    shifted = images - fill_t
    out = F.grid_sample(shifted, grid, mode=mode, padding_mode="zeros", align_corners=False)
    return out.add_(fill_t)

