"""Stand-in for ``pytorch3d.transforms``: rotation conversions and ``Transform3d``.

The real ``pytorch3d`` is GitHub-only and needs compiled CUDA kernels, which CI (PyPI only) cannot
install. This is our own code of the documented behaviour (see ``rotation_conversions`` and
``transform3d``); any other name (``se3_exp_map``, ``so3_*``, ...) is a placeholder that raises
``RuntimeError`` when called.
"""
from .._placeholder import module_getattr
from .rotation_conversions import (
    axis_angle_to_matrix,
    axis_angle_to_quaternion,
    matrix_to_axis_angle,
    matrix_to_quaternion,
    matrix_to_rotation_6d,
    quaternion_apply,
    quaternion_invert,
    quaternion_multiply,
    quaternion_raw_multiply,
    quaternion_to_axis_angle,
    quaternion_to_matrix,
    rotation_6d_to_matrix,
    standardize_quaternion,
)
from .transform3d import Rotate, RotateAxisAngle, Scale, Transform3d, Translate

__all__ = [
    "axis_angle_to_matrix",
    "axis_angle_to_quaternion",
    "matrix_to_axis_angle",
    "matrix_to_quaternion",
    "matrix_to_rotation_6d",
    "quaternion_apply",
    "quaternion_invert",
    "quaternion_multiply",
    "quaternion_raw_multiply",
    "quaternion_to_axis_angle",
    "quaternion_to_matrix",
    "rotation_6d_to_matrix",
    "standardize_quaternion",
    "Rotate",
    "RotateAxisAngle",
    "Scale",
    "Transform3d",
    "Translate",
]
__getattr__ = module_getattr(globals())
