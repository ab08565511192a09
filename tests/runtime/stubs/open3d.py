"""Import stub for ``open3d`` (tests/runtime only; see test_realtree_runtime.py)."""
