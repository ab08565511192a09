"""Stand-in for ``utils3d.numpy``: image uv grids and normalized intrinsics on numpy arrays.

The real ``utils3d`` is installed from GitHub only (CI reaches only PyPI). This is our own code of
the documented behaviour of the 0.0.x API, with the conventions of ``utils3d.torch`` (uv in
[0, 1], (0, 0) top-left, pixel centres). Other names (``depth_edge``, ``image_mesh``, ...) are
placeholders that raise ``RuntimeError`` when called.
"""
import numpy as np

from ._placeholder import module_getattr

__all__ = ["image_uv", "intrinsics_from_focal_center", "intrinsics_from_fov_xy"]


def image_uv(height: int, width: int, left: int = None, top: int = None, right: int = None, bottom: int = None,
             dtype=np.float32) -> np.ndarray:
    """(rows, cols, 2) uv of the pixel centres of the window [left, right) x [top, bottom) (default: whole image)."""
    left = 0 if left is None else left
    top = 0 if top is None else top
    right = width if right is None else right
    bottom = height if bottom is None else bottom
    u = np.linspace((left + 0.5) / width, (right - 0.5) / width, right - left, dtype=dtype)
    v = np.linspace((top + 0.5) / height, (bottom - 0.5) / height, bottom - top, dtype=dtype)
    uu, vv = np.meshgrid(u, v, indexing="xy")
    return np.stack([uu, vv], axis=-1)


def intrinsics_from_focal_center(fx, fy, cx, cy, dtype=np.float32) -> np.ndarray:
    """(..., 3, 3) intrinsics from focal lengths and principal point (broadcast).

    The dtype is that of the array inputs combined when there are any, else ``dtype``.
    """
    if any(isinstance(v, np.ndarray) for v in (fx, fy, cx, cy)):
        dtype = np.result_type(fx, fy, cx, cy)
    fx, fy, cx, cy = np.broadcast_arrays(*(np.asarray(v) for v in (fx, fy, cx, cy)))
    out = np.zeros(fx.shape + (3, 3), dtype=dtype)
    out[..., 0, 0], out[..., 1, 1], out[..., 0, 2], out[..., 1, 2], out[..., 2, 2] = fx, fy, cx, cy, 1
    return out


def intrinsics_from_fov_xy(fov_x, fov_y) -> np.ndarray:
    """Normalized intrinsics for horizontal / vertical fields of view (radians), centred principal point."""
    return intrinsics_from_focal_center(0.5 / np.tan(np.asarray(fov_x) / 2), 0.5 / np.tan(np.asarray(fov_y) / 2), 0.5, 0.5)


__getattr__ = module_getattr(globals())
