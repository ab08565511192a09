"""Faithful stand-ins for ``pytorch3d.transforms``' rotation conversions (``verify --stand-ins``).

Forks call ``matrix_to_rotation_6d``, ``rotation_6d_to_matrix``, ``quaternion_to_matrix`` and
the like inside the code the smoke checks run; a placeholder would make those checks skip for
want of pytorch3d, which a CPU machine cannot install (GitHub only, compiled kernels). These are
pure tensor math, so the stand-in gives our own implementation of pytorch3d's documented
behaviour and the checks run: quaternions are real part first ``(w, x, y, z)``; matrices act on
column vectors (``R @ v``); ``matrix_to_quaternion`` returns the standardized quaternion
(``w >= 0``); 6D is the first two rows of the matrix (Zhou et al., 2019); Euler angles take a
convention string of three axis letters, applied as ``R = R_a(θ0) @ R_b(θ1) @ R_c(θ2)``.

Every other pytorch3d name stays a placeholder (``vp_stand_ins``). Part of the probe: standard
library + torch, loaded lazily (only when a stand-in name is looked up).
"""
import torch
import torch.nn.functional as F

__all__ = [
    "quaternion_to_matrix", "matrix_to_quaternion", "standardize_quaternion", "quaternion_raw_multiply",
    "quaternion_multiply", "quaternion_invert", "quaternion_apply", "axis_angle_to_quaternion",
    "quaternion_to_axis_angle", "axis_angle_to_matrix", "matrix_to_axis_angle", "rotation_6d_to_matrix",
    "matrix_to_rotation_6d", "euler_angles_to_matrix", "matrix_to_euler_angles",
]
# the pytorch3d modules that export these names
MODULES = ("pytorch3d.transforms", "pytorch3d.transforms.rotation_conversions")
_SMALL_ANGLE = 1e-6


def quaternion_to_matrix(quaternions: torch.Tensor) -> torch.Tensor:
    """(..., 4) quaternions (any norm) -> (..., 3, 3) rotation matrices."""
    w, x, y, z = quaternions.unbind(-1)
    s = 2.0 / (quaternions * quaternions).sum(-1)
    rows = (
        1 - s * (y * y + z * z), s * (x * y - z * w), s * (x * z + y * w),
        s * (x * y + z * w), 1 - s * (x * x + z * z), s * (y * z - x * w),
        s * (x * z - y * w), s * (y * z + x * w), 1 - s * (x * x + y * y),
    )
    return torch.stack(rows, -1).reshape(quaternions.shape[:-1] + (3, 3))


def _positive_sqrt(x: torch.Tensor) -> torch.Tensor:
    """sqrt(max(x, 0)) whose gradient is zero (not inf/nan) where x <= 0."""
    positive = x > 0
    if torch.is_grad_enabled():
        out = torch.zeros_like(x)
        out[positive] = torch.sqrt(x[positive])
        return out
    return torch.where(positive, torch.sqrt(x), torch.zeros_like(x))


def matrix_to_quaternion(matrix: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) rotation matrices -> (..., 4) quaternions with ``w >= 0``.

    Each of the four ways of reading the quaternion off the matrix divides by one of 2|w|, 2|x|,
    2|y|, 2|z|; the one with the largest divisor is the best conditioned and is the one kept.
    """
    if matrix.shape[-2:] != (3, 3):
        raise ValueError("Invalid rotation matrix shape %s." % (tuple(matrix.shape),))
    batch = matrix.shape[:-2]
    m = matrix.reshape(batch + (9,)).unbind(-1)
    m00, m01, m02, m10, m11, m12, m20, m21, m22 = m
    # |w|, |x|, |y|, |z| times 2
    abs2 = _positive_sqrt(torch.stack([
        1.0 + m00 + m11 + m22,
        1.0 + m00 - m11 - m22,
        1.0 - m00 + m11 - m22,
        1.0 - m00 - m11 + m22,
    ], -1))
    # row k: the quaternion times (2 * component k), as seen from component k
    scaled = torch.stack([
        torch.stack([abs2[..., 0] ** 2, m21 - m12, m02 - m20, m10 - m01], -1),
        torch.stack([m21 - m12, abs2[..., 1] ** 2, m10 + m01, m02 + m20], -1),
        torch.stack([m02 - m20, m10 + m01, abs2[..., 2] ** 2, m12 + m21], -1),
        torch.stack([m10 - m01, m20 + m02, m21 + m12, abs2[..., 3] ** 2], -1),
    ], -2)
    floor = torch.tensor(0.1, dtype=abs2.dtype, device=abs2.device)
    candidates = scaled / (2.0 * abs2[..., None].max(floor))
    pick = F.one_hot(abs2.argmax(-1), num_classes=4) > 0.5
    return standardize_quaternion(candidates[pick, :].reshape(batch + (4,)))


def standardize_quaternion(quaternions: torch.Tensor) -> torch.Tensor:
    """The sign of q chosen so that the real part is non-negative (q and -q are one rotation)."""
    return torch.where(quaternions[..., :1] < 0, -quaternions, quaternions)


def quaternion_raw_multiply(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Hamilton product a * b (broadcast), not normalized or standardized."""
    aw, ax, ay, az = a.unbind(-1)
    bw, bx, by, bz = b.unbind(-1)
    return torch.stack((
        aw * bw - ax * bx - ay * by - az * bz,
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
    ), -1)


def quaternion_multiply(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The rotation a after b, as a standardized quaternion."""
    return standardize_quaternion(quaternion_raw_multiply(a, b))


def quaternion_invert(quaternion: torch.Tensor) -> torch.Tensor:
    """The conjugate (the inverse rotation for unit quaternions)."""
    sign = quaternion.new_tensor([1, -1, -1, -1])
    return quaternion * sign


def quaternion_apply(quaternion: torch.Tensor, point: torch.Tensor) -> torch.Tensor:
    """Rotate (..., 3) points by (..., 4) quaternions: q p q^-1."""
    if point.size(-1) != 3:
        raise ValueError("Points are not in 3D, %s." % (tuple(point.shape),))
    p = torch.cat([point.new_zeros(point.shape[:-1] + (1,)), point], -1)
    return quaternion_raw_multiply(quaternion_raw_multiply(quaternion, p), quaternion_invert(quaternion))[..., 1:]


def _sin_half_over_angle(angles: torch.Tensor) -> torch.Tensor:
    """sin(angle / 2) / angle, with its series 1/2 - angle^2/48 near zero."""
    small = angles.abs() < _SMALL_ANGLE
    out = torch.empty_like(angles)
    big = ~small
    out[big] = torch.sin(angles[big] * 0.5) / angles[big]
    out[small] = 0.5 - angles[small] * angles[small] / 48
    return out


def axis_angle_to_quaternion(axis_angle: torch.Tensor) -> torch.Tensor:
    """(..., 3) axis * angle (radians, right-handed) -> (..., 4) quaternions."""
    angles = torch.norm(axis_angle, p=2, dim=-1, keepdim=True)
    return torch.cat([torch.cos(angles * 0.5), axis_angle * _sin_half_over_angle(angles)], -1)


def quaternion_to_axis_angle(quaternions: torch.Tensor) -> torch.Tensor:
    """(..., 4) quaternions -> (..., 3) axis * angle, angle = 2 atan2(|xyz|, w)."""
    vec = quaternions[..., 1:]
    angles = 2 * torch.atan2(torch.norm(vec, p=2, dim=-1, keepdim=True), quaternions[..., :1])
    return vec / _sin_half_over_angle(angles)


def axis_angle_to_matrix(axis_angle: torch.Tensor) -> torch.Tensor:
    """(..., 3) axis * angle -> (..., 3, 3) rotation matrices (through the quaternion)."""
    return quaternion_to_matrix(axis_angle_to_quaternion(axis_angle))


def matrix_to_axis_angle(matrix: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) rotation matrices -> (..., 3) axis * angle (through the quaternion)."""
    return quaternion_to_axis_angle(matrix_to_quaternion(matrix))


def rotation_6d_to_matrix(d6: torch.Tensor) -> torch.Tensor:
    """(..., 6) two 3-vectors -> (..., 3, 3): Gram-Schmidt gives rows 1 and 2, their cross row 3."""
    a1, a2 = d6[..., :3], d6[..., 3:]
    b1 = F.normalize(a1, dim=-1)
    b2 = F.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack((b1, b2, b3), dim=-2)


def matrix_to_rotation_6d(matrix: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 6): the first two rows, flattened."""
    return matrix[..., :2, :].clone().reshape(matrix.shape[:-2] + (6,))


def _axis_angle_rotation(axis: str, angle: torch.Tensor) -> torch.Tensor:
    """Rotation matrices about one coordinate axis ('X', 'Y' or 'Z') by ``angle`` radians."""
    c, s = torch.cos(angle), torch.sin(angle)
    one, zero = torch.ones_like(angle), torch.zeros_like(angle)
    if axis == "X":
        flat = (one, zero, zero, zero, c, -s, zero, s, c)
    elif axis == "Y":
        flat = (c, zero, s, zero, one, zero, -s, zero, c)
    elif axis == "Z":
        flat = (c, -s, zero, s, c, zero, zero, zero, one)
    else:
        raise ValueError("letter must be either X, Y or Z.")
    return torch.stack(flat, -1).reshape(angle.shape + (3, 3))


def euler_angles_to_matrix(euler_angles: torch.Tensor, convention: str) -> torch.Tensor:
    """(..., 3) angles (radians) -> (..., 3, 3): the product of the rotations about the three axes
    of ``convention`` (e.g. ``"XYZ"``), first letter leftmost."""
    if euler_angles.dim() == 0 or euler_angles.shape[-1] != 3:
        raise ValueError("Invalid input euler angles.")
    _check_convention(convention)
    a, b, c = (_axis_angle_rotation(letter, angle) for letter, angle in zip(convention, euler_angles.unbind(-1)))
    return a @ b @ c


def matrix_to_euler_angles(matrix: torch.Tensor, convention: str) -> torch.Tensor:
    """(..., 3, 3) -> (..., 3) angles in ``convention``, the inverse of ``euler_angles_to_matrix``
    (the middle angle in [0, π] for a repeated first and last axis, else in [-π/2, π/2])."""
    _check_convention(convention)
    if matrix.size(-1) != 3 or matrix.size(-2) != 3:
        raise ValueError("Invalid rotation matrix shape %s." % (tuple(matrix.shape),))
    i0, i2 = _index(convention[0]), _index(convention[2])
    tait_bryan = i0 != i2
    if tait_bryan:
        central = torch.asin(matrix[..., i0, i2] * (-1.0 if i0 - i2 in (-1, 2) else 1.0))
    else:
        central = torch.acos(matrix[..., i0, i0])
    first = _angle_from_tan(convention[0], convention[1], matrix[..., i2], False, tait_bryan)
    third = _angle_from_tan(convention[2], convention[1], matrix[..., i0, :], True, tait_bryan)
    return torch.stack((first, central, third), -1)


def _index(letter: str) -> int:
    return "XYZ".index(letter)


def _check_convention(convention: str) -> None:
    if len(convention) != 3:
        raise ValueError("Convention must have 3 letters.")
    if convention[1] in (convention[0], convention[2]):
        raise ValueError("Invalid convention %s." % convention)
    for letter in convention:
        if letter not in "XYZ":
            raise ValueError("Invalid letter %s in convention string." % letter)


def _angle_from_tan(axis: str, other_axis: str, data: torch.Tensor, horizontal: bool, tait_bryan: bool) -> torch.Tensor:
    """One outer Euler angle, read off a row or column of the matrix with atan2."""
    i1, i2 = {"X": (2, 1), "Y": (0, 2), "Z": (1, 0)}[axis]
    if horizontal:
        i2, i1 = i1, i2
    even = (axis + other_axis) in ("XY", "YZ", "ZX")
    if horizontal == even:
        return torch.atan2(data[..., i1], data[..., i2])
    if tait_bryan:
        return torch.atan2(-data[..., i2], data[..., i1])
    return torch.atan2(data[..., i2], -data[..., i1])
