"""Import stub for ``pytorch3d.renderer.cameras`` (tests/runtime only; see test_realtree_runtime.py)."""
from _sam3d_stub import define

define(globals(), 'CamerasBase', 'PerspectiveCameras')
