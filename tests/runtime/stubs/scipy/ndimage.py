"""Import stub for ``scipy.ndimage`` (tests/runtime only; see test_realtree_runtime.py)."""
from _sam3d_stub import define

define(globals(), 'binary_dilation', 'binary_erosion', 'binary_fill_holes', 'label', 'minimum_filter')
