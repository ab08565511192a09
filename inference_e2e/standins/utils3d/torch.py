"""Stand-in for ``utils3d.torch``: OpenCV-convention camera helpers on torch tensors.

The real ``utils3d`` is installed from GitHub only (CI reaches only PyPI). This is our own code of
the documented behaviour of the 0.0.x API. Conventions: image uv in [0, 1], (0, 0) the top-left
corner, pixel centres at ((i + 0.5) / width, (j + 0.5) / height); normalized intrinsics
``[[fx, 0, cx], [0, fy, cy], [0, 0, 1]]`` act on uv; extrinsics are world -> camera 4x4 matrices
(OpenCV: +x right, +y down, +z forward). Other names are placeholders that raise when called.
"""
from typing import Optional

import torch
import torch.nn.functional as F

from ._placeholder import module_getattr

__all__ = [
    "image_uv", "intrinsics_from_focal_center", "intrinsics_from_fov_xy", "view_look_at", "extrinsics_look_at",
    "extrinsics_to_view", "view_to_extrinsics", "unproject_cv", "depth_to_points",
]


def image_uv(height: int, width: int, left: int = None, top: int = None, right: int = None, bottom: int = None,
             device: torch.device = None, dtype: torch.dtype = None) -> torch.Tensor:
    """(rows, cols, 2) uv of the pixel centres of the window [left, right) x [top, bottom) (default: whole image)."""
    left = 0 if left is None else left
    top = 0 if top is None else top
    right = width if right is None else right
    bottom = height if bottom is None else bottom
    u = torch.linspace((left + 0.5) / width, (right - 0.5) / width, right - left, device=device, dtype=dtype)
    v = torch.linspace((top + 0.5) / height, (bottom - 0.5) / height, bottom - top, device=device, dtype=dtype)
    vv, uu = torch.meshgrid(v, u, indexing="ij")
    return torch.stack([uu, vv], dim=-1)


def _tensors(*values):
    ref = next((v for v in values if torch.is_tensor(v)), None)
    kwargs = {} if ref is None else {"device": ref.device}
    dtype = torch.float32 if ref is None or not ref.is_floating_point() else ref.dtype
    tensors = [v if torch.is_tensor(v) else torch.tensor(v, dtype=dtype, **kwargs) for v in values]
    return torch.broadcast_tensors(*tensors)


def intrinsics_from_focal_center(fx, fy, cx, cy) -> torch.Tensor:
    """(..., 3, 3) intrinsics from focal lengths and principal point (floats or broadcastable tensors)."""
    fx, fy, cx, cy = _tensors(fx, fy, cx, cy)
    zero, one = torch.zeros_like(fx), torch.ones_like(fx)
    return torch.stack([fx, zero, cx, zero, fy, cy, zero, zero, one], dim=-1).unflatten(-1, (3, 3))


def intrinsics_from_fov_xy(fov_x, fov_y) -> torch.Tensor:
    """Normalized intrinsics for horizontal / vertical fields of view (radians), centred principal point."""
    fov_x, fov_y = _tensors(fov_x, fov_y)
    return intrinsics_from_focal_center(0.5 / torch.tan(fov_x / 2), 0.5 / torch.tan(fov_y / 2), 0.5, 0.5)


def _affine(R: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    top = torch.cat([R, t[..., None]], dim=-1)
    bottom = torch.zeros_like(top[..., :1, :])
    bottom[..., 0, 3] = 1
    return torch.cat([top, bottom], dim=-2)


def view_look_at(eye, look_at, up) -> torch.Tensor:
    """(..., 4, 4) OpenGL view matrix (camera looks along -z, +y up) of a camera at ``eye``."""
    eye, look_at, up = _tensors(eye, look_at, up)
    z = eye - look_at
    x = torch.cross(up, z, dim=-1)
    y = torch.cross(z, x, dim=-1)
    R = F.normalize(torch.stack([x, y, z], dim=-2), dim=-1)
    return _affine(R, -(R @ eye[..., None])[..., 0])


def extrinsics_look_at(eye, look_at, up) -> torch.Tensor:
    """(..., 4, 4) OpenCV extrinsics (camera looks along +z; ``up`` is image -y) of a camera at ``eye``."""
    eye, look_at, up = _tensors(eye, look_at, up)
    z = look_at - eye
    x = torch.cross(-up, z, dim=-1)
    y = torch.cross(z, x, dim=-1)
    R = F.normalize(torch.stack([x, y, z], dim=-2), dim=-1)
    return _affine(R, -(R @ eye[..., None])[..., 0])


def _flip_yz(m: torch.Tensor) -> torch.Tensor:
    return m * m.new_tensor([1, -1, -1, 1])[:, None]


def extrinsics_to_view(extrinsics: torch.Tensor) -> torch.Tensor:
    """OpenCV extrinsics -> OpenGL view matrix (flip the camera's y and z axes)."""
    return _flip_yz(extrinsics)


def view_to_extrinsics(view: torch.Tensor) -> torch.Tensor:
    """OpenGL view matrix -> OpenCV extrinsics."""
    return _flip_yz(view)


def unproject_cv(uv_coord: torch.Tensor, depth: torch.Tensor = None, extrinsics: Optional[torch.Tensor] = None,
                 intrinsics: Optional[torch.Tensor] = None) -> torch.Tensor:
    """[..., N, 2] uv and [..., N] depth -> [..., N, 3] points (camera space, or world with ``extrinsics``)."""
    if intrinsics is None:
        raise ValueError("intrinsics is required")
    rays = torch.cat([uv_coord, torch.ones_like(uv_coord[..., :1])], dim=-1)
    points = (rays * depth[..., None]) @ torch.linalg.inv(intrinsics).transpose(-1, -2)
    if extrinsics is not None:
        points = torch.cat([points, torch.ones_like(points[..., :1])], dim=-1)
        points = (points @ torch.linalg.inv(extrinsics).transpose(-1, -2))[..., :3]
    return points


def depth_to_points(depth: torch.Tensor, intrinsics: torch.Tensor, extrinsics: torch.Tensor = None) -> torch.Tensor:
    """(..., H, W) depth -> (..., H, W, 3) points through each pixel centre; intrinsics (..., 3, 3)."""
    height, width = depth.shape[-2:]
    uv = image_uv(height=height, width=width, dtype=depth.dtype, device=depth.device)
    return unproject_cv(uv, depth, intrinsics=intrinsics[..., None, :, :],
                        extrinsics=None if extrinsics is None else extrinsics[..., None, :, :])


__getattr__ = module_getattr(globals())
