"""Import stub for ``utils3d.numpy`` (tests/runtime only; see test_realtree_runtime.py)."""
from _sam3d_stub import define

define(globals(), 'depth_edge', 'image_mesh', 'image_uv', 'normals_edge', 'points_to_normals')
