"""Stand-in for ``moge.utils.geometry_numpy``: the focal / z-shift least-squares solvers.

The real ``moge`` is GitHub-only (CI reaches only PyPI). This is our own code of the documented
behaviour: a point map ``xyz`` seen by a pinhole camera centred on the image, but shifted along z
by an unknown ``shift``, projects to the normalized view-plane coordinates ``uv`` as
``uv = focal * xy / (z + shift)``. Both solvers minimise the squared reprojection error with
``scipy.optimize.least_squares`` (Levenberg-Marquardt from shift 0, ``ftol=1e-3``); for a given
shift the best focal is closed-form, so only the shift is iterated. Both return the shift as a
float32 scalar array; ``solve_optimal_focal_shift`` returns ``(shift, focal)`` in that order.
"""
from typing import Tuple

import numpy as np

__all__ = ["normalized_view_plane_uv_numpy", "solve_optimal_focal_shift", "solve_optimal_shift"]


def normalized_view_plane_uv_numpy(width: int, height: int, aspect_ratio: float = None, dtype=np.float32) -> np.ndarray:
    """(H, W, 2) pixel-centre coordinates on the view plane whose half diagonal is 1."""
    if aspect_ratio is None:
        aspect_ratio = width / height
    half_diag = (1 + aspect_ratio ** 2) ** 0.5
    span_u, span_v = aspect_ratio / half_diag, 1 / half_diag
    u = np.linspace(-span_u * (width - 1) / width, span_u * (width - 1) / width, width, dtype=dtype)
    v = np.linspace(-span_v * (height - 1) / height, span_v * (height - 1) / height, height, dtype=dtype)
    uu, vv = np.meshgrid(u, v, indexing="xy")
    return np.stack([uu, vv], axis=-1)


def _flatten(uv: np.ndarray, xyz: np.ndarray):
    return uv.reshape(-1, 2), xyz[..., :2].reshape(-1, 2), xyz[..., 2].reshape(-1)


def _best_focal(uv: np.ndarray, projected: np.ndarray):
    return (projected * uv).sum() / np.square(projected).sum()


def _solve_shift(residuals) -> np.ndarray:
    from scipy.optimize import least_squares

    result = least_squares(residuals, x0=0, ftol=1e-3, method="lm")
    return result["x"].squeeze().astype(np.float32)


def solve_optimal_focal_shift(uv: np.ndarray, xyz: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """``(shift, focal)`` minimising ``|focal * xy / (z + shift) - uv|``."""
    uv, xy, z = _flatten(uv, xyz)

    def residuals(shift):
        projected = xy / (z + shift)[:, None]
        return (_best_focal(uv, projected) * projected - uv).ravel()

    shift = _solve_shift(residuals)
    focal = _best_focal(uv, xy / (z + shift)[:, None])
    return shift, focal


def solve_optimal_shift(uv: np.ndarray, xyz: np.ndarray, focal: float) -> np.ndarray:
    """The ``shift`` minimising ``|focal * xy / (z + shift) - uv|`` for a known ``focal``."""
    uv, xy, z = _flatten(uv, xyz)

    def residuals(shift):
        return (focal * (xy / (z + shift)[:, None]) - uv).ravel()

    return _solve_shift(residuals)
