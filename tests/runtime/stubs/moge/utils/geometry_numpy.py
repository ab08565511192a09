"""Import stub for ``moge.utils.geometry_numpy`` (tests/runtime only; see test_realtree_runtime.py)."""
from _sam3d_stub import define

define(globals(), 'solve_optimal_focal_shift', 'solve_optimal_shift')
