"""Import stub for ``pytorch3d.vis`` (tests/runtime only; see test_realtree_runtime.py)."""
