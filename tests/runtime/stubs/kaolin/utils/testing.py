"""Import stub for ``kaolin.utils.testing`` (tests/runtime only; see test_realtree_runtime.py)."""
from _sam3d_stub import define

define(globals(), 'check_tensor')
