"""Import stub for ``pytorch3d`` (tests/runtime only; see test_realtree_runtime.py)."""
