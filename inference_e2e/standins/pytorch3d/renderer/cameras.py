"""Stand-in for ``pytorch3d.renderer.cameras``: the look-at helpers; camera classes are placeholders.

The real ``pytorch3d`` is GitHub-only and needs compiled CUDA kernels, which CI (PyPI only) cannot
install. This is our own code of the documented behaviour. Conventions (pytorch3d's): world ->
view is ``X_view = X_world @ R + T``; the camera looks along its +Z, +Y is up, +X points left;
``R``'s columns are the camera axes in world coordinates. Inputs broadcast over a batch of N
(size 1 broadcasts); tuples, lists, numpy arrays and tensors are accepted. Any other name
(``PerspectiveCameras``, ``CamerasBase``, ...) is a placeholder that raises when instantiated.
"""
import math

import torch
import torch.nn.functional as F

from .._placeholder import module_getattr
from ..transforms.transform3d import _device

__all__ = ["look_at_view_transform", "look_at_rotation", "camera_position_from_spherical_angles"]


def _batched(*args, dtype=torch.float32, device="cpu"):
    """Each arg as a tensor with a leading batch dim, all expanded to the largest batch."""
    device = _device(device)
    out = []
    for a in args:
        t = a if torch.is_tensor(a) else torch.tensor(a, dtype=dtype, device=device)
        if t.dim() == 0:
            t = t.view(1)
        out.append(t if t.device == device else t.to(device=device))
    sizes = [t.shape[0] for t in out]
    n = max(sizes)
    if any(s not in (1, n) for s in sizes):
        raise ValueError("Got non-broadcastable sizes %r" % sizes)
    return [t.expand((n,) + tuple(t.shape[1:])) for t in out]


def camera_position_from_spherical_angles(distance, elevation, azimuth, degrees: bool = True, device="cpu") -> torch.Tensor:
    """(N, 3) camera centres at ``distance`` from the origin; elevation from the xz-plane, azimuth from +Z."""
    dist, elev, azim = _batched(distance, elevation, azimuth, device=device)
    if degrees:
        elev = elev * (math.pi / 180.0)
        azim = azim * (math.pi / 180.0)
    flat = dist * torch.cos(elev)
    xyz = torch.stack([flat * torch.sin(azim), dist * torch.sin(elev), flat * torch.cos(azim)], dim=1)
    return xyz.view(-1, 3)


def look_at_rotation(camera_position, at=((0, 0, 0),), up=((0, 1, 0),), device="cpu") -> torch.Tensor:
    """(N, 3, 3) world -> view rotations for cameras at ``camera_position`` looking at ``at``."""
    eye, at, up = _batched(camera_position, at, up, device=device)
    for t, name in ((eye, "camera_position"), (at, "at"), (up, "up")):
        if t.shape[-1] != 3:
            raise ValueError("Expected arg %s to have shape (N, 3); got %r" % (name, t.shape))
    z = F.normalize(at - eye, eps=1e-5)
    x = F.normalize(torch.cross(up, z, dim=1), eps=1e-5)
    y = F.normalize(torch.cross(z, x, dim=1), eps=1e-5)
    # up parallel to the view direction: x degenerates; rebuild it from y and z
    degenerate = torch.isclose(x, torch.tensor(0.0), atol=5e-3).all(dim=1, keepdim=True)
    if degenerate.any():
        x = torch.where(degenerate, F.normalize(torch.cross(y, z, dim=1), eps=1e-5), x)
    return torch.stack([x, y, z], dim=2)


def look_at_view_transform(dist=1.0, elev=0.0, azim=0.0, degrees: bool = True, eye=None,
                           at=((0, 0, 0),), up=((0, 1, 0),), device="cpu"):
    """``(R, T)``, (N, 3, 3) and (N, 3), of the world -> view transform of a look-at camera.

    The camera centre is ``eye`` when given, else the spherical position (dist, elev, azim) + at.
    """
    if eye is not None:
        eye, at, up = _batched(eye, at, up, device=device)
        centre = eye
    else:
        dist, elev, azim, at, up = _batched(dist, elev, azim, at, up, device=device)
        centre = camera_position_from_spherical_angles(dist, elev, azim, degrees=degrees, device=device) + at
    R = look_at_rotation(centre, at, up, device=device)
    T = -torch.bmm(R.transpose(1, 2), centre[:, :, None])[:, :, 0]
    return R, T


__getattr__ = module_getattr(globals())
