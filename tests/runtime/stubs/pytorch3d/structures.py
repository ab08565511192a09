"""Import stub for ``pytorch3d.structures`` (tests/runtime only; see test_realtree_runtime.py)."""
from _sam3d_stub import define

define(globals(), 'Meshes', 'Pointclouds', 'join_meshes_as_scene')
