"""Import stub for ``pytorch3d.renderer.camera_utils`` (tests/runtime only; see test_realtree_runtime.py)."""
from _sam3d_stub import define

define(globals(), 'camera_to_eye_at_up')
