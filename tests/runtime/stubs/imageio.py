"""Import stub for ``imageio`` (tests/runtime only; see test_realtree_runtime.py)."""
