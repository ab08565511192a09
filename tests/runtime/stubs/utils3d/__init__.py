"""Import stub for ``utils3d`` (tests/runtime only; see test_realtree_runtime.py)."""
