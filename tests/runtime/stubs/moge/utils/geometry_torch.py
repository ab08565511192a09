"""Import stub for ``moge.utils.geometry_torch`` (tests/runtime only; see test_realtree_runtime.py)."""
from _sam3d_stub import define

define(globals(), 'normalized_view_plane_uv', 'recover_focal_shift')
