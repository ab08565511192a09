"""Import stub for ``pytorch3d.transforms`` (tests/runtime only; see test_realtree_runtime.py)."""
from _sam3d_stub import define

define(globals(), 'Rotate', 'Scale', 'Transform3d', 'Translate', 'axis_angle_to_quaternion', 'matrix_to_quaternion',
       'matrix_to_rotation_6d', 'quaternion_multiply', 'quaternion_to_matrix', 'rotation_6d_to_matrix')
