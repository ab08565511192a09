"""Stand-in for ``moge.utils.geometry_torch``: view-plane uv and focal / z-shift recovery.

The real ``moge`` is GitHub-only (CI reaches only PyPI). This is our own code of the documented
behaviour. ``recover_focal_shift`` takes a (..., H, W, 3) point map that is a pinhole camera's
view up to an unknown z shift, subsamples it (nearest) to ``downsample_size`` and solves, per map,
for the shift (and the focal, unless given) with ``geometry_numpy``'s solvers on the valid points.
The focal is relative to half the image diagonal. It returns ``(focal, shift)``, each of shape
(...); a map with fewer than two valid points gives focal 1 and shift 0.
"""
from typing import Tuple

import torch
import torch.nn.functional as F

from .geometry_numpy import solve_optimal_focal_shift, solve_optimal_shift

__all__ = ["normalized_view_plane_uv", "recover_focal_shift"]


def normalized_view_plane_uv(width: int, height: int, aspect_ratio: float = None, dtype: torch.dtype = None,
                             device: torch.device = None) -> torch.Tensor:
    """(H, W, 2) pixel-centre coordinates on the view plane whose half diagonal is 1 (centre at 0)."""
    if aspect_ratio is None:
        aspect_ratio = width / height
    half_diag = (1 + aspect_ratio ** 2) ** 0.5
    span_u, span_v = aspect_ratio / half_diag, 1 / half_diag
    u = torch.linspace(-span_u * (width - 1) / width, span_u * (width - 1) / width, width, dtype=dtype, device=device)
    v = torch.linspace(-span_v * (height - 1) / height, span_v * (height - 1) / height, height, dtype=dtype, device=device)
    vv, uu = torch.meshgrid(v, u, indexing="ij")
    return torch.stack([uu, vv], dim=-1)


def _nearest(maps: torch.Tensor, size) -> torch.Tensor:
    """(B, H, W, C) -> (B, h, w, C), nearest neighbour."""
    return F.interpolate(maps.permute(0, 3, 1, 2), size, mode="nearest").permute(0, 2, 3, 1)


def recover_focal_shift(points: torch.Tensor, mask: torch.Tensor = None, focal: torch.Tensor = None,
                        downsample_size: Tuple[int, int] = (64, 64)):
    """``(focal, shift)`` of a (..., H, W, 3) point map; ``mask`` (..., H, W) marks valid points."""
    batch_shape = points.shape[:-3]
    height, width = points.shape[-3:-1]
    flat = points.reshape(-1, height, width, 3)
    uv = normalized_view_plane_uv(width, height, dtype=points.dtype, device=points.device)

    points_lr = _nearest(flat, downsample_size).detach().cpu().numpy()
    uv_lr = _nearest(uv[None], downsample_size)[0].cpu().numpy()
    if mask is not None:
        mask_lr = _nearest(mask.reshape(-1, height, width, 1).to(torch.float32), downsample_size)[..., 0] > 0
        mask_lr = mask_lr.cpu().numpy()
    given = None if focal is None else focal.reshape(-1)
    given_np = None if given is None else given.cpu().numpy()

    shifts, focals = [], []
    for i in range(flat.shape[0]):
        if mask is None:
            xyz_i, uv_i = points_lr[i], uv_lr
        else:
            xyz_i, uv_i = points_lr[i][mask_lr[i]], uv_lr[mask_lr[i]]
        if uv_i.shape[0] < 2:
            shifts.append(0.0)
            focals.append(1.0)
            continue
        if given is None:
            shift_i, focal_i = solve_optimal_focal_shift(uv_i, xyz_i)
            focals.append(float(focal_i))
        else:
            shift_i = solve_optimal_shift(uv_i, xyz_i, given_np[i])
        shifts.append(float(shift_i))

    shift = torch.tensor(shifts, dtype=points.dtype, device=points.device).reshape(batch_shape)
    if given is None:
        focal = torch.tensor(focals, dtype=points.dtype, device=points.device).reshape(batch_shape)
    else:
        focal = given.reshape(batch_shape)
    return focal, shift
