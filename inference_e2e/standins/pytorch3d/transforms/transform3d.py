"""Stand-in for ``pytorch3d.transforms.Transform3d`` and its ``Translate``/``Scale``/``Rotate`` kinds.

The real ``pytorch3d`` is installed from GitHub and builds compiled CUDA kernels, neither of which
CI (PyPI only) can do. This module is our own implementation of the documented behaviour:
row-vector convention (a point ``p`` maps to ``[p, 1] @ M``, translation in the last row);
``a.compose(b)`` / ``a.translate(...)`` apply ``a`` first, then ``b``, so ``get_matrix()`` is
``M_a @ M_b``; batch sizes of 1 broadcast against N. A transform keeps its own matrix plus the
chain of transforms composed after it, and ``inverse()`` inverts each link in reverse order
(translations, scales and rotations with their closed-form inverses).
"""
import math
import os

import torch

from .rotation_conversions import _axis_angle_rotation

__all__ = ["Transform3d", "Translate", "Scale", "Rotate", "RotateAxisAngle"]


def _device(device):
    """A ``torch.device``; a bare "cuda" names the current CUDA device, as pytorch3d does."""
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    return device


def _device_of(value, device=None):
    if device is not None:
        return _device(device)
    return value.device if torch.is_tensor(value) else torch.device("cpu")


def _bmm(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Batched a @ b where either batch may be 1 (expanded to the other); a may be unbatched."""
    if a.dim() == 2:
        a = a[None]
    na, nb = a.shape[0], b.shape[0]
    if na != nb:
        if na != 1 and nb != 1:
            raise ValueError("Expected batch dim for bmm to be equal or 1; got %r, %r" % (a.shape, b.shape))
        if na == 1:
            a = a.expand(nb, -1, -1)
        else:
            b = b.expand(na, -1, -1)
    return a.bmm(b)


class Transform3d:
    """A batch of 4x4 affine maps in pytorch3d's row-vector convention."""

    def __init__(self, dtype: torch.dtype = torch.float32, device="cpu", matrix: torch.Tensor = None):
        if matrix is None:
            self._matrix = torch.eye(4, dtype=dtype, device=device).view(1, 4, 4)
        else:
            if matrix.ndim not in (2, 3):
                raise ValueError('"matrix" has to be a 2- or a 3-dimensional tensor.')
            if tuple(matrix.shape[-2:]) != (4, 4):
                raise ValueError('"matrix" has to be a tensor of shape (minibatch, 4, 4) or (4, 4).')
            dtype, device = matrix.dtype, matrix.device
            self._matrix = matrix.view(-1, 4, 4)
        self._transforms = []
        self._lu = None
        self.device = _device(device)
        self.dtype = dtype

    def __len__(self) -> int:
        return self.get_matrix().shape[0]

    def __getitem__(self, index) -> "Transform3d":
        if isinstance(index, int):
            index = [index]
        return Transform3d(matrix=self.get_matrix()[index])

    # -- building -------------------------------------------------------------------------
    def compose(self, *others: "Transform3d") -> "Transform3d":
        for other in others:
            if not isinstance(other, Transform3d):
                raise ValueError("Only possible to compose Transform3d objects; got %s" % type(other))
        out = Transform3d(dtype=self.dtype, device=self.device)
        out._matrix = self._matrix.clone()
        out._transforms = list(self._transforms) + list(others)
        return out

    def translate(self, *args, **kwargs) -> "Transform3d":
        return self.compose(Translate(*args, device=self.device, dtype=self.dtype, **kwargs))

    def scale(self, *args, **kwargs) -> "Transform3d":
        return self.compose(Scale(*args, device=self.device, dtype=self.dtype, **kwargs))

    def rotate(self, *args, **kwargs) -> "Transform3d":
        return self.compose(Rotate(*args, device=self.device, dtype=self.dtype, **kwargs))

    def rotate_axis_angle(self, *args, **kwargs) -> "Transform3d":
        return self.compose(RotateAxisAngle(*args, device=self.device, dtype=self.dtype, **kwargs))

    def stack(self, *others: "Transform3d") -> "Transform3d":
        out = Transform3d(dtype=self.dtype, device=self.device)
        out._matrix = torch.cat([t.get_matrix() for t in (self,) + others], dim=0)
        return out

    # -- reading --------------------------------------------------------------------------
    def get_matrix(self) -> torch.Tensor:
        """(N, 4, 4): own matrix times each composed transform's matrix, left to right."""
        result = self._matrix.clone()
        for other in self._transforms:
            result = _bmm(result, other.get_matrix())
        return result

    def _get_matrix_inverse(self) -> torch.Tensor:
        return torch.inverse(self._matrix)

    def inverse(self, invert_composed: bool = False) -> "Transform3d":
        out = Transform3d(dtype=self.dtype, device=self.device)
        if invert_composed:
            out._matrix = torch.inverse(self.get_matrix())
            return out
        own_inverse = self._get_matrix_inverse()
        if not self._transforms:
            out._matrix = own_inverse
            return out
        last = Transform3d(dtype=self.dtype, device=self.device)
        last._matrix = own_inverse
        out._transforms = [t.inverse() for t in self._transforms[::-1]] + [last]
        return out

    def transform_points(self, points: torch.Tensor, eps: float = None) -> torch.Tensor:
        """(P, 3) or (N, P, 3) points -> the same shape (a (P, 3) input with N > 1 gives (N, P, 3))."""
        batch = points.clone()
        if batch.dim() == 2:
            batch = batch[None]
        if batch.dim() != 3:
            raise ValueError("Expected points to have dim = 2 or dim = 3: got shape %r" % repr(points.shape))
        n, p, _ = batch.shape
        homogeneous = torch.cat([batch, torch.ones(n, p, 1, dtype=points.dtype, device=points.device)], dim=2)
        out = _bmm(homogeneous, self.get_matrix())
        w = out[..., 3:]
        if eps is not None:
            sign = w.sign() + (w == 0.0).type_as(w)
            w = sign * torch.clamp(w.abs(), eps)
        out = out[..., :3] / w
        if out.shape[0] == 1 and points.dim() == 2:
            out = out.reshape(points.shape)
        return out

    def transform_normals(self, normals: torch.Tensor) -> torch.Tensor:
        """Normals map by the inverse transpose of the linear part."""
        if normals.dim() not in (2, 3):
            raise ValueError("Expected normals to have dim = 2 or dim = 3: got shape %r" % (normals.shape,))
        linear = self.get_matrix()[:, :3, :3]
        out = _bmm(normals, linear.transpose(1, 2).inverse())
        if out.shape[0] == 1 and normals.dim() == 2:
            out = out.reshape(normals.shape)
        return out

    # -- copying --------------------------------------------------------------------------
    def clone(self) -> "Transform3d":
        out = Transform3d(dtype=self.dtype, device=self.device)
        if self._lu is not None:
            out._lu = [x.clone() for x in self._lu]
        out._matrix = self._matrix.clone()
        out._transforms = [t.clone() for t in self._transforms]
        return out

    def to(self, device, copy: bool = False, dtype: torch.dtype = None) -> "Transform3d":
        device = _device(device)
        dtype = self.dtype if dtype is None else dtype
        same = self.device == device and self.dtype == dtype
        if same and not copy:
            return self
        out = self.clone()
        if same:
            return out
        out.device, out.dtype = device, dtype
        out._matrix = out._matrix.to(device=device, dtype=dtype)
        out._transforms = [t.to(device, copy=copy, dtype=dtype) for t in out._transforms]
        return out

    def cpu(self) -> "Transform3d":
        return self.to("cpu")

    def cuda(self) -> "Transform3d":
        return self.to("cuda")


def _as_1d(value, dtype, device) -> torch.Tensor:
    t = value if torch.is_tensor(value) else torch.tensor(value, dtype=dtype, device=device)
    if t.dim() == 0:
        t = t.view(1)
    return t.to(device=device, dtype=dtype)


def _xyz(x, y, z, dtype, device, name, singleton=False) -> torch.Tensor:
    """(N, 3) from an (N, 3) tensor, or from x, y, z each a scalar / (1,) / (N,)."""
    device = _device_of(x, device)
    if torch.is_tensor(x) and x.dim() == 2:
        if x.shape[1] != 3:
            raise ValueError("Expected tensor of shape (N, 3); got %r (in %s)" % (x.shape, name))
        if y is not None or z is not None:
            raise ValueError("Expected y and z to be None (in %s)" % name)
        return x.to(device=device, dtype=dtype)
    if singleton and y is None and z is None:
        y = z = x
    parts = [_as_1d(c, dtype, device) for c in (x, y, z)]
    n = max(c.shape[0] for c in parts)
    if any(c.shape[0] not in (1, n) for c in parts):
        raise ValueError("Got non-broadcastable sizes %r (in %s)" % ([c.shape[0] for c in parts], name))
    return torch.stack([c.expand(n) for c in parts], dim=1)


def _eye_batch(n, dtype, device) -> torch.Tensor:
    return torch.eye(4, dtype=dtype, device=device).view(1, 4, 4).repeat(n, 1, 1)


class Translate(Transform3d):
    """Translation by (N, 3) ``x`` or by ``x, y, z`` (scalars or (N,) tensors)."""

    def __init__(self, x, y=None, z=None, dtype: torch.dtype = torch.float32, device=None):
        xyz = _xyz(x, y, z, dtype, device, "Translate")
        super().__init__(device=xyz.device, dtype=dtype)
        m = _eye_batch(xyz.shape[0], dtype, self.device)
        m[:, 3, :3] = xyz
        self._matrix = m

    def _get_matrix_inverse(self) -> torch.Tensor:
        flip = self._matrix.new_ones([1, 4, 4])
        flip[0, 3, :3] = -1.0
        return self._matrix * flip

    def __getitem__(self, index) -> "Transform3d":
        if isinstance(index, int):
            index = [index]
        return Translate(self.get_matrix()[index, 3, :3])


class Scale(Transform3d):
    """Scaling by one factor (scalar or (N,)) for all axes, by x, y, z, or by an (N, 3) tensor."""

    def __init__(self, x, y=None, z=None, dtype: torch.dtype = torch.float32, device=None):
        xyz = _xyz(x, y, z, dtype, device, "scale", singleton=True)
        super().__init__(device=xyz.device, dtype=dtype)
        m = _eye_batch(xyz.shape[0], dtype, self.device)
        for i in range(3):
            m[:, i, i] = xyz[:, i]
        self._matrix = m

    def _get_matrix_inverse(self) -> torch.Tensor:
        diagonal = torch.diagonal(self._matrix, dim1=1, dim2=2)
        return torch.diag_embed(1.0 / diagonal, dim1=1, dim2=2)

    def __getitem__(self, index) -> "Transform3d":
        if isinstance(index, int):
            index = [index]
        m = self.get_matrix()[index]
        return Scale(m[:, 0, 0], m[:, 1, 1], m[:, 2, 2])


class Rotate(Transform3d):
    """Rotation by (3, 3) or (N, 3, 3) ``R``; a point maps to ``p @ R``."""

    def __init__(self, R: torch.Tensor, dtype: torch.dtype = torch.float32, device=None, orthogonal_tol: float = 1e-5):
        device = _device_of(R, device)
        super().__init__(device=device, dtype=dtype)
        if R.dim() == 2:
            R = R[None]
        if tuple(R.shape[-2:]) != (3, 3):
            raise ValueError("R must have shape (3, 3) or (N, 3, 3); got %s" % repr(R.shape))
        R = R.to(device=device, dtype=dtype)
        if os.environ.get("PYTORCH3D_CHECK_ROTATION_MATRICES", "0") == "1":
            _warn_if_not_rotation(R, orthogonal_tol)
        m = _eye_batch(R.shape[0], dtype, device)
        m[:, :3, :3] = R
        self._matrix = m

    def _get_matrix_inverse(self) -> torch.Tensor:
        return self._matrix.permute(0, 2, 1).contiguous()

    def __getitem__(self, index) -> "Transform3d":
        if isinstance(index, int):
            index = [index]
        return Rotate(self.get_matrix()[index, :3, :3])


class RotateAxisAngle(Rotate):
    """Rotation about the X, Y or Z axis by ``angle`` (degrees unless ``degrees=False``)."""

    def __init__(self, angle, axis: str = "X", degrees: bool = True, dtype: torch.dtype = torch.float32, device=None):
        axis = axis.upper()
        if axis not in ("X", "Y", "Z"):
            raise ValueError("Expected axis to be one of ['X', 'Y', 'Z']; got %s" % axis)
        if torch.is_tensor(angle) and angle.dim() > 1:
            raise ValueError("Expected tensor of shape (N,); got %r (in RotateAxisAngle)" % (angle.shape,))
        angle = _as_1d(angle, dtype, _device_of(angle, device))
        if degrees:
            angle = angle / 180.0 * math.pi
        super().__init__(device=angle.device, R=_axis_angle_rotation(axis, angle).transpose(1, 2), dtype=dtype)


@torch.no_grad()
def _warn_if_not_rotation(R: torch.Tensor, tol: float) -> None:
    import warnings

    eye = torch.eye(3, dtype=R.dtype, device=R.device).expand_as(R)
    orthogonal = torch.allclose(R.bmm(R.transpose(1, 2)), eye, atol=tol)
    proper = torch.allclose(torch.det(R), torch.ones_like(torch.det(R)))
    if not (orthogonal and proper):
        warnings.warn("R is not a valid rotation matrix", stacklevel=1)
